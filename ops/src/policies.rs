//! `gatehouse-ops policies list --table <name>` and
//! `gatehouse-ops policies remove --table <name> --id <policy id>`: the break-glass
//! way to the stored Cedar policies, with AWS credentials and no API. For the day
//! a stored policy leaves no administrator able to manage policies (the API
//! refuses such a change, but two racing changes are checked one by one), or the
//! API itself is unreachable. It uses Gatehouse's own table adapter, so a removal
//! bumps the policy-set version as the API's does and every function sees it.
//! The SDK's usual configuration applies (credentials, region, and
//! `AWS_ENDPOINT_URL` for the local stack's emulator); the caller's IAM needs
//! `dynamodb:Query` and `dynamodb:TransactWriteItems`/`DeleteItem`/`UpdateItem`
//! on the table.

use gatehouse::adapters::{AwsClients, dynamodb::DynamoTable};
use gatehouse::ports::PolicyStore;

#[derive(Debug, PartialEq, Eq)]
pub enum Policies {
    List { table: String },
    Remove { table: String, id: String },
}

pub fn usage() -> &'static str {
    "       gatehouse-ops policies list --table <table name>\n       gatehouse-ops policies remove --table <table name> --id <policy id>"
}

/// `policies list|remove ...`; `None` when the words do not fit.
pub fn parse(args: &[String]) -> Option<Policies> {
    let (command, rest) = args.split_first()?;
    if command != "policies" {
        return None;
    }
    let (verb, rest) = rest.split_first()?;
    let (mut table, mut id) = (None, None);
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let value = it.next()?.clone();
        match flag.as_str() {
            "--table" => table = Some(value),
            "--id" => id = Some(value),
            _ => return None,
        }
    }
    match (verb.as_str(), table, id) {
        ("list", Some(table), None) => Some(Policies::List { table }),
        ("remove", Some(table), Some(id)) => Some(Policies::Remove { table, id }),
        _ => None,
    }
}

/// Runs the command; what it prints.
pub async fn run(command: Policies) -> Result<String, Box<dyn std::error::Error>> {
    let clients = AwsClients::from_env().await;
    match command {
        Policies::List { table } => {
            let (version, policies) = DynamoTable::new(&clients, table).policies().await?;
            let mut out = format!("policy set version {version}, {} stored\n", policies.len());
            for policy in policies {
                out.push_str(&format!(
                    "{}\t{}\n    {}\n",
                    policy.id,
                    policy.description,
                    policy.policy.replace('\n', "\n    ")
                ));
            }
            Ok(out)
        }
        Policies::Remove { table, id } => {
            if DynamoTable::new(&clients, table).delete_policy(&id).await? {
                Ok(format!("removed stored policy {id}\n"))
            } else {
                Err(format!("no stored policy {id}").into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_command_line_names_the_table_and_for_a_removal_the_policy() {
        assert_eq!(
            parse(&args("policies list --table t")),
            Some(Policies::List { table: "t".into() })
        );
        assert_eq!(
            parse(&args("policies remove --table t --id p")),
            Some(Policies::Remove {
                table: "t".into(),
                id: "p".into()
            })
        );
        assert_eq!(parse(&args("policies remove --table t")), None);
        assert_eq!(parse(&args("policies list")), None);
        assert_eq!(parse(&args("policies drop --table t")), None);
    }
}
