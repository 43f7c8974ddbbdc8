//! Creates in moto what `template.yaml` declares: tables (keys, indexes, TTL), user
//! pools and their app clients. CloudFormation's property names for these resources
//! are the API's, so properties are passed through after intrinsics are resolved.

use crate::iam::request::TableKeys;
use crate::moto::{AwsJson, MotoError, Service};
use crate::template::{ACCOUNT_ID, REGION, Refs, Template, TemplateError, Triggers};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Moto(#[from] MotoError),
    #[error("{0}")]
    Invalid(String),
}

/// A user pool as the Cognito proxy needs it.
#[derive(Debug, Clone)]
pub struct Pool {
    pub id: String,
    pub triggers: Triggers,
    pub auto_verify_email: bool,
    /// `UsernameAttributes: [email]`: Cognito then names each user by a generated
    /// id (its `sub`), and triggers see that as `userName`.
    pub email_as_username: bool,
    /// `AttributesRequireVerificationBeforeUpdate: [email]`: a new email waits
    /// for its code; until then the old one stays.
    pub verify_email_before_update: bool,
    /// `MfaConfiguration: OPTIONAL` with `SOFTWARE_TOKEN_MFA` in `EnabledMfas`:
    /// users may turn on TOTP (the stand-in's `software_token`).
    pub software_token_mfa: bool,
}

#[derive(Debug, Default)]
pub struct Provisioned {
    pub refs: Refs,
    /// Pool by app client id.
    pub pools_by_client: BTreeMap<String, Pool>,
    /// Secret by app client id, for the clients that have one.
    pub client_secrets: BTreeMap<String, String>,
    /// Writable attributes by app client id, for the clients that list them
    /// (the others may write every standard attribute).
    pub client_write_attributes: BTreeMap<String, Vec<String>>,
    /// Partition keys by table name, for IAM's `dynamodb:LeadingKeys`.
    pub tables: HashMap<String, TableKeys>,
    /// The clients allowed the OAuth2 client-credentials grant, by client id.
    pub service_clients: BTreeMap<String, ServiceClient>,
    /// The queues, by ARN.
    pub queues: BTreeMap<String, Queue>,
    /// The SES identities made (addresses and domains), for IAM's choice of
    /// the identity a send is authorised against.
    pub ses_identities: std::collections::BTreeSet<String>,
}

/// A queue as the event source mapping and `/_local/queues` need it.
#[derive(Debug, Clone)]
pub struct Queue {
    pub logical_id: String,
    pub name: String,
    /// The URL the functions are given (`Ref`), as on AWS.
    pub url: String,
    pub arn: String,
    pub visibility_timeout_secs: u64,
    /// Where messages go after `max_receive_count` receives.
    pub dead_letter_arn: Option<String>,
    pub max_receive_count: Option<u64>,
}

mod json;
mod keys;
mod monitoring;
mod queues;

use json::*;
use keys::*;
use monitoring::*;
use queues::*;

/// A confidential client that may get client-credentials tokens.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    pub pool_id: String,
    pub secret: String,
    /// `AllowedOAuthScopes`: the scopes a token may carry.
    pub scopes: Vec<String>,
}

pub async fn provision(template: &Template, aws: &AwsJson) -> Result<Provisioned, ProvisionError> {
    let mut out = Provisioned {
        refs: Refs::with_pseudo_parameters(template.parameter_defaults()),
        ..Provisioned::default()
    };

    for (id, props) in template.resources_of_type("AWS::DynamoDB::Table") {
        let props = to_api_json(
            &out.refs
                .resolve_tree(&serde_yaml_ng::Value::Mapping(props))?,
            None,
        );
        let name = props["TableName"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}-{id}", crate::template::STACK_NAME));
        let mut request = pick(
            &props,
            &[
                "AttributeDefinitions",
                "KeySchema",
                "GlobalSecondaryIndexes",
                "LocalSecondaryIndexes",
                "BillingMode",
                "ProvisionedThroughput",
            ],
        );
        request.insert("TableName".into(), json!(name));
        aws.call(Service::DynamoDb, "CreateTable", &Value::Object(request))
            .await?;
        if let Some(ttl) = props.get("TimeToLiveSpecification") {
            aws.call(
                Service::DynamoDb,
                "UpdateTimeToLive",
                &json!({"TableName": name, "TimeToLiveSpecification": ttl}),
            )
            .await?;
        }
        out.tables.insert(
            name.clone(),
            TableKeys {
                hash_key: hash_key(&props["KeySchema"]).unwrap_or_default(),
                index_hash_keys: props["GlobalSecondaryIndexes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(
                        props["LocalSecondaryIndexes"]
                            .as_array()
                            .into_iter()
                            .flatten(),
                    )
                    .filter_map(|i| {
                        Some((
                            i["IndexName"].as_str()?.to_owned(),
                            hash_key(&i["KeySchema"])?,
                        ))
                    })
                    .collect(),
            },
        );
        out.refs.set_ref(&id, &name);
        out.refs.set_attribute(
            &id,
            "Arn",
            format!("arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"),
        );
    }

    // Log groups: a function's lines go to the stack's log, under the group's
    // name (AWS_LAMBDA_LOG_GROUP_NAME).
    for (id, raw) in template.resources_of_type("AWS::Logs::LogGroup") {
        let props = to_api_json(
            &out.refs.resolve_tree(&serde_yaml_ng::Value::Mapping(raw))?,
            None,
        );
        let name = props["LogGroupName"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}-{id}", crate::template::STACK_NAME));
        out.refs.set_attribute(
            &id,
            "Arn",
            format!("arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*"),
        );
        out.refs.set_ref(&id, name);
    }
    // The HTTP API is the gateway itself; its id is what alarms name.
    for (id, _) in template.resources_of_type("AWS::Serverless::HttpApi") {
        out.refs.set_ref(&id, format!("local-{id}"));
    }

    for function in template.functions()? {
        // Lambda names functions <stack>-<logical id>-<suffix>; keep it readable.
        let name = format!("{}-{}", crate::template::STACK_NAME, function.logical_id);
        out.refs.set_attribute(
            &function.logical_id,
            "Arn",
            format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"),
        );
        out.refs.set_ref(&function.logical_id, name);
    }

    provision_keys(template, aws, &mut out).await?;
    provision_queues(template, aws, &mut out).await?;

    for (id, raw) in template.resources_of_type("AWS::SES::EmailIdentity") {
        let props = to_api_json(
            &out.refs.resolve_tree(&serde_yaml_ng::Value::Mapping(raw))?,
            None,
        );
        let identity = props["EmailIdentity"]
            .as_str()
            .ok_or_else(|| ProvisionError::Invalid(format!("{id} has no EmailIdentity")))?
            .to_owned();
        aws.rest(
            Service::Ses,
            "POST",
            "/v2/email/identities",
            &json!({"EmailIdentity": identity}),
        )
        .await?;
        out.ses_identities.insert(identity.clone());
        out.refs.set_ref(&id, identity);
    }

    // Roles AWS services assume (Cognito's, to send SMS through SNS): locally
    // SMS go to the outbox, so a role only needs its name and ARN.
    for (id, _) in template.resources_of_type("AWS::IAM::Role") {
        let name = format!("gatehouse-local-{id}");
        out.refs
            .set_attribute(&id, "Arn", format!("arn:aws:iam::{ACCOUNT_ID}:role/{name}"));
        out.refs.set_ref(&id, name);
    }

    // The identity a pool sends from is verified by the deployer before the
    // stack exists (Cognito refuses an unverified one): locally that step is
    // this one.
    for (_, raw) in template.resources_of_type("AWS::Cognito::UserPool") {
        let Some(source) = raw
            .get("EmailConfiguration")
            .and_then(|c| c.get("SourceArn"))
        else {
            continue;
        };
        let arn = out.refs.resolve(source)?;
        if let Some((_, identity)) = arn.rsplit_once(":identity/")
            && out.ses_identities.insert(identity.to_owned())
        {
            aws.rest(
                Service::Ses,
                "POST",
                "/v2/email/identities",
                &json!({"EmailIdentity": identity}),
            )
            .await?;
        }
    }

    let mut pools = BTreeMap::new();
    for (id, raw) in template.resources_of_type("AWS::Cognito::UserPool") {
        let triggers = Template::triggers(&raw);
        let mut raw = raw;
        // Triggers are invoked by the local Cognito proxy, not by moto.
        raw.remove("LambdaConfig");
        let props = to_api_json(
            &out.refs.resolve_tree(&serde_yaml_ng::Value::Mapping(raw))?,
            None,
        );
        let mut request = pick(
            &props,
            &[
                "Policies",
                "UsernameAttributes",
                "AliasAttributes",
                "UsernameConfiguration",
                "AutoVerifiedAttributes",
                "Schema",
                "AccountRecoverySetting",
                "MfaConfiguration",
                "AdminCreateUserConfig",
            ],
        );
        let name = props["UserPoolName"].as_str().unwrap_or(&id).to_owned();
        request.insert("PoolName".into(), json!(name));
        let created = aws
            .call(Service::Cognito, "CreateUserPool", &Value::Object(request))
            .await?;
        let pool_id = created["UserPool"]["Id"]
            .as_str()
            .ok_or_else(|| ProvisionError::Invalid("CreateUserPool returned no Id".into()))?
            .to_owned();
        out.refs.set_attribute(
            &id,
            "Arn",
            format!("arn:aws:cognito-idp:{REGION}:{ACCOUNT_ID}:userpool/{pool_id}"),
        );
        out.refs.set_attribute(
            &id,
            "ProviderName",
            format!("cognito-idp.{REGION}.amazonaws.com/{pool_id}"),
        );
        out.refs.set_ref(&id, &pool_id);
        let auto_verify_email = props["AutoVerifiedAttributes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "email"));
        let verify_email_before_update =
            props["UserAttributeUpdateSettings"]["AttributesRequireVerificationBeforeUpdate"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "email"));
        let email_as_username = props["UsernameAttributes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "email"));
        let software_token_mfa = props["MfaConfiguration"] == "OPTIONAL"
            && props["EnabledMfas"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "SOFTWARE_TOKEN_MFA"));
        pools.insert(
            id,
            Pool {
                id: pool_id,
                triggers,
                auto_verify_email,
                email_as_username,
                verify_email_before_update,
                software_token_mfa,
            },
        );
    }

    // Resource servers before the clients whose scopes name them.
    for (id, raw) in template.resources_of_type("AWS::Cognito::UserPoolResourceServer") {
        let props = to_api_json(
            &out.refs
                .resolve_tree(&serde_yaml_ng::Value::Mapping(raw.clone()))?,
            None,
        );
        let request = pick(&props, &["UserPoolId", "Identifier", "Name", "Scopes"]);
        aws.call(
            Service::Cognito,
            "CreateResourceServer",
            &Value::Object(request),
        )
        .await?;
        out.refs
            .set_ref(&id, props["Identifier"].as_str().unwrap_or(&id).to_owned());
    }
    // A domain only names the token endpoint, which the gateway serves.
    for (id, raw) in template.resources_of_type("AWS::Cognito::UserPoolDomain") {
        let props = to_api_json(
            &out.refs
                .resolve_tree(&serde_yaml_ng::Value::Mapping(raw.clone()))?,
            None,
        );
        out.refs
            .set_ref(&id, props["Domain"].as_str().unwrap_or(&id).to_owned());
    }

    for (id, raw) in template.resources_of_type("AWS::Cognito::UserPoolClient") {
        let props = to_api_json(
            &out.refs
                .resolve_tree(&serde_yaml_ng::Value::Mapping(raw.clone()))?,
            None,
        );
        let request = pick(
            &props,
            &[
                "UserPoolId",
                "ClientName",
                "GenerateSecret",
                "ExplicitAuthFlows",
                "PreventUserExistenceErrors",
                "EnableTokenRevocation",
                "AccessTokenValidity",
                "IdTokenValidity",
                "RefreshTokenValidity",
                "TokenValidityUnits",
                "ReadAttributes",
                "WriteAttributes",
                "AuthSessionValidity",
                "AllowedOAuthFlowsUserPoolClient",
                "AllowedOAuthFlows",
                "AllowedOAuthScopes",
                "SupportedIdentityProviders",
            ],
        );
        let created = aws
            .call(
                Service::Cognito,
                "CreateUserPoolClient",
                &Value::Object(request),
            )
            .await?;
        let client_id = created["UserPoolClient"]["ClientId"]
            .as_str()
            .ok_or_else(|| {
                ProvisionError::Invalid("CreateUserPoolClient returned no ClientId".into())
            })?
            .to_owned();
        if let Some(listed) = props["WriteAttributes"].as_array() {
            out.client_write_attributes.insert(
                client_id.clone(),
                listed
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect(),
            );
        }
        let pool_id = props["UserPoolId"].as_str().unwrap_or_default();
        if let Some(secret) = created["UserPoolClient"]["ClientSecret"].as_str() {
            out.client_secrets
                .insert(client_id.clone(), secret.to_owned());
            let flows = props["AllowedOAuthFlows"].as_array();
            if flows.is_some_and(|f| f.iter().any(|v| v == "client_credentials")) {
                out.service_clients.insert(
                    client_id.clone(),
                    ServiceClient {
                        pool_id: pool_id.to_owned(),
                        secret: secret.to_owned(),
                        scopes: props["AllowedOAuthScopes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s.as_str().map(str::to_owned))
                            .collect(),
                    },
                );
            }
        }
        if let Some(pool) = pools.values().find(|p| p.id == pool_id) {
            out.pools_by_client.insert(client_id.clone(), pool.clone());
        }
        out.refs.set_ref(&id, client_id);
    }
    monitoring(template, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudformation_strings_become_api_types() {
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            "PasswordPolicy: {MinimumLength: '10', RequireNumbers: 'true'}\nName: x",
        )
        .unwrap();
        let json = to_api_json(&yaml, None);
        assert_eq!(json["PasswordPolicy"]["MinimumLength"], 10);
        assert_eq!(json["PasswordPolicy"]["RequireNumbers"], true);
        assert_eq!(json["Name"], "x");
    }
}
