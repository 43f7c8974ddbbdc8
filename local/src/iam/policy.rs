//! IAM policies as the template gives them to each function's role: inline
//! statements and the SAM policy templates the stand-in expands the way SAM
//! does. What it cannot evaluate is refused when the stack starts, naming the
//! function and the feature, never silently allowed.

use crate::template::{ACCOUNT_ID, REGION, Refs};
use serde_yaml_ng::{Mapping, Value};

/// One statement, with its intrinsics resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// `dynamodb:LeadingKeys` patterns, when the statement has that condition.
    pub leading_keys: Option<LeadingKeys>,
}

/// A `dynamodb:LeadingKeys` condition with a set operator.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadingKeys {
    /// `ForAllValues:` (every key must match) or `ForAnyValue:` (one must).
    pub for_all: bool,
    /// `StringLike` (wildcards) or `StringEquals`.
    pub like: bool,
    pub patterns: Vec<String>,
}

/// What one request asks for, as IAM evaluates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `service:Operation`.
    pub action: String,
    pub resource: String,
    /// The partition key values a DynamoDB item request touches.
    pub leading_keys: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No statement allows it.
    ImplicitDeny,
    /// A `Deny` statement matches (it wins over any `Allow`).
    ExplicitDeny,
}

/// `*` and `?` wildcards, as IAM matches actions and resources.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    fn go(p: &[u8], v: &[u8]) -> bool {
        match (p.first(), v.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], v) || (!v.is_empty() && go(p, &v[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &v[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &v[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), value.as_bytes())
}

impl LeadingKeys {
    fn holds(&self, keys: Option<&[String]>) -> bool {
        let keys = keys.unwrap_or_default();
        let matches = |key: &String| {
            self.patterns.iter().any(|p| {
                if self.like {
                    wildcard_match(p, key)
                } else {
                    p == key
                }
            })
        };
        if self.for_all {
            // As on AWS, ForAllValues over no keys (a Scan) holds.
            keys.iter().all(matches)
        } else {
            keys.iter().any(matches)
        }
    }
}

impl Statement {
    fn applies(&self, request: &Request) -> bool {
        let action = request.action.to_ascii_lowercase();
        self.actions
            .iter()
            .any(|a| wildcard_match(&a.to_ascii_lowercase(), &action))
            && self
                .resources
                .iter()
                .any(|r| wildcard_match(r, &request.resource))
            && self
                .leading_keys
                .as_ref()
                .is_none_or(|c| c.holds(request.leading_keys.as_deref()))
    }
}

/// IAM's evaluation for one identity policy set: an explicit deny wins, then
/// any allow, else the implicit deny.
pub fn evaluate(statements: &[Statement], request: &Request) -> Decision {
    let applying: Vec<&Statement> = statements.iter().filter(|s| s.applies(request)).collect();
    if applying.iter().any(|s| !s.allow) {
        Decision::ExplicitDeny
    } else if applying.iter().any(|s| s.allow) {
        Decision::Allowed
    } else {
        Decision::ImplicitDeny
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Managed policies that only grant what the local stack does not emulate
/// (CloudWatch Logs, X-Ray): accepted and given no statements.
const LOGS_ONLY_MANAGED_POLICIES: &[&str] = &[
    "AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess",
    "AWSXRayDaemonWriteAccess",
];

/// The statements of a function's `Policies`, resolved against `refs`.
/// `function` names the function in every refusal.
pub fn role_statements(
    function: &str,
    policies: Option<&Value>,
    refs: &Refs,
) -> Result<Vec<Statement>, String> {
    let mut out = Vec::new();
    let policies = match policies {
        None => return Ok(out),
        Some(Value::Sequence(items)) => items.clone(),
        Some(single) => vec![single.clone()],
    };
    for policy in &policies {
        match policy {
            Value::String(name) if LOGS_ONLY_MANAGED_POLICIES.contains(&name.as_str()) => {}
            Value::String(name) => {
                return Err(format!(
                    "{function}: managed policy {name} is not emulated by the local stack; \
                     write its statements inline"
                ));
            }
            Value::Mapping(map) if map.contains_key("Statement") => {
                let resolved = refs
                    .resolve_tree(&Value::Mapping(map.clone()))
                    .map_err(|e| format!("{function}: {e}"))?;
                out.extend(inline_statements(function, &resolved)?);
            }
            Value::Mapping(map) if map.len() == 1 => {
                out.extend(expand_sam_template(function, map, refs)?);
            }
            other => {
                return Err(format!(
                    "{function}: a policy of this shape is not understood locally: {other:?}"
                ));
            }
        }
    }
    Ok(out)
}

fn inline_statements(function: &str, document: &Value) -> Result<Vec<Statement>, String> {
    let statements = match document.get("Statement") {
        Some(Value::Sequence(items)) => items.clone(),
        Some(single @ Value::Mapping(_)) => vec![single.clone()],
        _ => return Err(format!("{function}: a policy has no Statement list")),
    };
    statements.iter().map(|s| statement(function, s)).collect()
}

fn statement(function: &str, s: &Value) -> Result<Statement, String> {
    for unsupported in ["NotAction", "NotResource", "Principal", "NotPrincipal"] {
        if s.get(unsupported).is_some() {
            return Err(format!(
                "{function}: {unsupported} in a policy statement is not emulated by the local stack"
            ));
        }
    }
    let allow = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        other => return Err(format!("{function}: a statement has Effect {other:?}")),
    };
    let actions = strings(s.get("Action"));
    let resources = strings(s.get("Resource"));
    if actions.is_empty() || resources.is_empty() {
        return Err(format!(
            "{function}: every statement needs Action and Resource"
        ));
    }
    let leading_keys = match s.get("Condition") {
        None => None,
        Some(condition) => Some(leading_keys_condition(function, condition)?),
    };
    Ok(Statement {
        allow,
        actions,
        resources,
        leading_keys,
    })
}

/// The one condition the stand-in evaluates: `dynamodb:LeadingKeys` under a set
/// operator. Anything else stops the stack rather than being ignored.
fn leading_keys_condition(function: &str, condition: &Value) -> Result<LeadingKeys, String> {
    let operators = condition
        .as_mapping()
        .ok_or_else(|| format!("{function}: a Condition must be a mapping"))?;
    if operators.len() != 1 {
        return Err(format!(
            "{function}: only one condition operator per statement is emulated locally"
        ));
    }
    let (operator, keys) = operators.iter().next().ok_or("empty Condition")?;
    let operator = operator.as_str().unwrap_or_default();
    let (for_all, like) = match operator {
        "ForAllValues:StringLike" => (true, true),
        "ForAllValues:StringEquals" => (true, false),
        "ForAnyValue:StringLike" => (false, true),
        "ForAnyValue:StringEquals" => (false, false),
        other => {
            return Err(format!(
                "{function}: condition operator {other} is not emulated by the local stack"
            ));
        }
    };
    let keys = keys
        .as_mapping()
        .ok_or_else(|| format!("{function}: {operator} needs a mapping of keys"))?;
    let mut patterns = None;
    for (key, values) in keys {
        match key.as_str() {
            Some("dynamodb:LeadingKeys") => patterns = Some(strings(Some(values))),
            other => {
                return Err(format!(
                    "{function}: condition key {} is not emulated by the local stack",
                    other.unwrap_or("?")
                ));
            }
        }
    }
    Ok(LeadingKeys {
        for_all,
        like,
        patterns: patterns.unwrap_or_default(),
    })
}

fn arn(service: &str, resource: &str) -> String {
    format!("arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{resource}")
}

/// SAM's policy templates (its `policy_templates.json`), for the ones expanded
/// locally.
fn expand_sam_template(
    function: &str,
    map: &Mapping,
    refs: &Refs,
) -> Result<Vec<Statement>, String> {
    let (name, params) = map.iter().next().ok_or("empty policy")?;
    let name = name.as_str().unwrap_or_default();
    let param = |key: &str| -> Result<String, String> {
        let value = params
            .get(key)
            .ok_or_else(|| format!("{function}: {name} needs {key}"))?;
        refs.resolve(value)
            .map_err(|e| format!("{function}: {name}: {e}"))
    };
    let allow = |actions: &[&str], resources: Vec<String>| Statement {
        allow: true,
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        resources,
        leading_keys: None,
    };
    let table = |t: &str| {
        vec![
            arn("dynamodb", &format!("table/{t}")),
            arn("dynamodb", &format!("table/{t}/index/*")),
        ]
    };
    Ok(match name {
        "DynamoDBCrudPolicy" => vec![allow(
            &[
                "dynamodb:GetItem",
                "dynamodb:DeleteItem",
                "dynamodb:PutItem",
                "dynamodb:Scan",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
                "dynamodb:BatchWriteItem",
                "dynamodb:BatchGetItem",
                "dynamodb:DescribeTable",
                "dynamodb:ConditionCheckItem",
            ],
            table(&param("TableName")?),
        )],
        "DynamoDBReadPolicy" => vec![allow(
            &[
                "dynamodb:GetItem",
                "dynamodb:Scan",
                "dynamodb:Query",
                "dynamodb:BatchGetItem",
                "dynamodb:DescribeTable",
            ],
            table(&param("TableName")?),
        )],
        "DynamoDBWritePolicy" => vec![allow(
            &[
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:BatchWriteItem",
            ],
            table(&param("TableName")?),
        )],
        "SQSSendMessagePolicy" => vec![allow(
            &["sqs:SendMessage*"],
            vec![arn("sqs", &param("QueueName")?)],
        )],
        "SQSPollerPolicy" => vec![allow(
            &[
                "sqs:ChangeMessageVisibility",
                "sqs:ChangeMessageVisibilityBatch",
                "sqs:DeleteMessage",
                "sqs:DeleteMessageBatch",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
            ],
            vec![arn("sqs", &param("QueueName")?)],
        )],
        "SNSPublishMessagePolicy" => vec![allow(
            &["sns:Publish"],
            vec![arn("sns", &param("TopicName")?)],
        )],
        other => {
            return Err(format!(
                "{function}: SAM policy template {other} is not expanded by the local stack \
                 (local/src/iam/policy.rs); write its statements inline or add it there"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(yaml: &str) -> Result<Vec<Statement>, String> {
        let policies: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let mut refs = Refs::with_pseudo_parameters(Default::default());
        refs.set_ref("Table", "gatehouse-dev");
        refs.set_attribute(
            "Table",
            "Arn",
            "arn:aws:dynamodb:us-east-1:123456789012:table/gatehouse-dev",
        );
        role_statements("LoginFunction", Some(&policies), &refs)
    }

    fn put(pk: &str) -> Request {
        Request {
            action: "dynamodb:PutItem".into(),
            resource: "arn:aws:dynamodb:us-east-1:123456789012:table/gatehouse-dev".into(),
            leading_keys: Some(vec![pk.into()]),
        }
    }

    const LOGIN: &str = r#"
- Version: "2012-10-17"
  Statement:
    - Effect: Allow
      Action: [dynamodb:GetItem, dynamodb:PutItem]
      Resource: !GetAtt Table.Arn
      Condition:
        ForAllValues:StringLike:
          dynamodb:LeadingKeys: ["THROTTLE#LOGIN#*"]
"#;

    #[test]
    fn an_action_resource_and_leading_key_must_all_match() {
        let role = statements(LOGIN).unwrap();
        assert_eq!(
            evaluate(&role, &put("THROTTLE#LOGIN#abc")),
            Decision::Allowed
        );
        assert_eq!(
            evaluate(&role, &put("USER#abc")),
            Decision::ImplicitDeny,
            "another partition"
        );
        let mut delete = put("THROTTLE#LOGIN#abc");
        delete.action = "dynamodb:DeleteItem".into();
        assert_eq!(
            evaluate(&role, &delete),
            Decision::ImplicitDeny,
            "another action"
        );
        let mut other_table = put("THROTTLE#LOGIN#abc");
        other_table.resource = other_table.resource.replace("gatehouse-dev", "other");
        assert_eq!(
            evaluate(&role, &other_table),
            Decision::ImplicitDeny,
            "another table"
        );
    }

    #[test]
    fn an_explicit_deny_wins() {
        let mut role = statements(LOGIN).unwrap();
        role.push(Statement {
            allow: false,
            actions: vec!["dynamodb:*".into()],
            resources: vec!["*".into()],
            leading_keys: None,
        });
        assert_eq!(
            evaluate(&role, &put("THROTTLE#LOGIN#abc")),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn sam_policy_templates_expand_as_sam_does() {
        let role = statements("- DynamoDBReadPolicy: {TableName: !Ref Table}").unwrap();
        let mut query = put("anything");
        query.action = "dynamodb:Query".into();
        assert_eq!(evaluate(&role, &query), Decision::Allowed);
        assert_eq!(evaluate(&role, &put("anything")), Decision::ImplicitDeny);
    }

    #[test]
    fn what_cannot_be_evaluated_is_refused_by_name() {
        let err =
            statements("- DynamoDBStreamReadPolicy: {TableName: t, StreamName: s}").unwrap_err();
        assert!(
            err.contains("LoginFunction") && err.contains("DynamoDBStreamReadPolicy"),
            "{err}"
        );
        let err = statements(
            r#"
- Statement:
    - Effect: Allow
      Action: dynamodb:GetItem
      Resource: "*"
      Condition: {StringEquals: {aws:SourceVpc: vpc-1}}
"#,
        )
        .unwrap_err();
        assert!(err.contains("StringEquals"), "{err}");
        let err = statements("- AmazonDynamoDBFullAccess").unwrap_err();
        assert!(err.contains("AmazonDynamoDBFullAccess"), "{err}");
    }

    #[test]
    fn wildcards_match_like_iam() {
        assert!(wildcard_match("THROTTLE#LOGIN#*", "THROTTLE#LOGIN#x"));
        assert!(wildcard_match("sqs:SendMessage*", "sqs:SendMessageBatch"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("USER#*", "THROTTLE#USER#x"));
    }
}
