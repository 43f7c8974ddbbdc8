//! What an AWS request asks IAM for: its action(s), resource and, for DynamoDB,
//! the partition keys it touches. A request the stand-in cannot read is refused,
//! never waved through.

use super::policy::Request;
use crate::template::{ACCOUNT_ID, REGION};
use serde_json::Value;
use std::collections::HashMap;

/// A table's partition key attribute, and each index's.
#[derive(Debug, Clone, Default)]
pub struct TableKeys {
    pub hash_key: String,
    pub index_hash_keys: HashMap<String, String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Classified {
    /// An operation AWS does not authorise with IAM (Cognito's public APIs).
    Public,
    /// Each of these must be allowed.
    Checked(Vec<Request>),
    /// The stand-in cannot tell what this asks for.
    Unreadable(String),
}

/// Cognito operations authorised by a client id, a code or the user's own token,
/// not by IAM.
const COGNITO_PUBLIC: &[&str] = &[
    "SignUp",
    "ConfirmSignUp",
    "ResendConfirmationCode",
    "InitiateAuth",
    "RespondToAuthChallenge",
    "ForgotPassword",
    "ConfirmForgotPassword",
    "GetUser",
    "GlobalSignOut",
    "ChangePassword",
    "UpdateUserAttributes",
    "VerifyUserAttribute",
    "GetUserAttributeVerificationCode",
    "DeleteUser",
    "DeleteUserAttributes",
    "RevokeToken",
    "AssociateSoftwareToken",
    "VerifySoftwareToken",
    "SetUserMFAPreference",
    "GetUserAuthFactors",
];

fn arn(service: &str, resource: &str) -> String {
    format!("arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{resource}")
}

/// Classifies a JSON-protocol request: `service` from the credential scope,
/// `operation` from `X-Amz-Target`.
pub fn classify(
    service: &str,
    operation: &str,
    body: &Value,
    tables: &HashMap<String, TableKeys>,
) -> Classified {
    match service {
        "dynamodb" => dynamodb(operation, body, tables),
        "cognito-idp" if COGNITO_PUBLIC.contains(&operation) => Classified::Public,
        "cognito-idp" => {
            let resource = body["UserPoolId"]
                .as_str()
                .map(|pool| arn("cognito-idp", &format!("userpool/{pool}")))
                .unwrap_or_else(|| "*".into());
            Classified::Checked(vec![Request {
                action: format!("cognito-idp:{operation}"),
                resource,
                leading_keys: None,
            }])
        }
        "sqs" => {
            let queue = body["QueueUrl"]
                .as_str()
                .and_then(|url| url.rsplit('/').next())
                .or(body["QueueName"].as_str());
            // A batch call is authorised by its single action (SendMessageBatch
            // by sqs:SendMessage, and so on), as SQS does.
            let action = operation.strip_suffix("Batch").unwrap_or(operation);
            Classified::Checked(vec![Request {
                action: format!("sqs:{action}"),
                resource: queue.map(|q| arn("sqs", q)).unwrap_or_else(|| "*".into()),
                leading_keys: None,
            }])
        }
        // SES v2 sending: the From address's identity, and the configuration
        // set when one is named.
        "ses" if operation == "SendEmail" => {
            let Some(from) = body["FromEmailAddress"].as_str().map(address_of) else {
                return Classified::Unreadable("SendEmail without FromEmailAddress".into());
            };
            let mut requests = vec![Request {
                action: "ses:SendEmail".into(),
                resource: arn("ses", &format!("identity/{from}")),
                leading_keys: None,
            }];
            if let Some(set) = body["ConfigurationSetName"].as_str() {
                requests.push(Request {
                    action: "ses:SendEmail".into(),
                    resource: arn("ses", &format!("configuration-set/{set}")),
                    leading_keys: None,
                });
            }
            Classified::Checked(requests)
        }
        // A publish to a phone number has no resource: IAM sees "*".
        "sns" if operation == "Publish" => Classified::Checked(vec![Request {
            action: "sns:Publish".into(),
            resource: body["TopicArn"]
                .as_str()
                .or(body["TargetArn"].as_str())
                .unwrap_or("*")
                .to_owned(),
            leading_keys: None,
        }]),
        // A key by id or ARN; an alias would need resolving, and a Decrypt
        // without KeyId is authorised against the key in the ciphertext, which
        // the stand-in cannot read: both are refused.
        "kms" => match body["KeyId"].as_str() {
            Some(key) if key.starts_with("arn:aws:kms:") => Classified::Checked(vec![Request {
                action: format!("kms:{operation}"),
                resource: key.to_owned(),
                leading_keys: None,
            }]),
            Some(key) if !key.starts_with("alias/") && !key.is_empty() => {
                Classified::Checked(vec![Request {
                    action: format!("kms:{operation}"),
                    resource: arn("kms", &format!("key/{key}")),
                    leading_keys: None,
                }])
            }
            _ => Classified::Unreadable(format!(
                "kms:{operation} must name its key by id or ARN (KeyId) locally"
            )),
        },
        other => Classified::Unreadable(format!(
            "{other}:{operation} is not checked by the local IAM stand-in yet"
        )),
    }
}

/// `Name <address>` or `address`: the address.
fn address_of(from: &str) -> String {
    match (from.rfind('<'), from.rfind('>')) {
        (Some(start), Some(end)) if start < end => from[start + 1..end].trim().to_owned(),
        _ => from.trim().to_owned(),
    }
}

fn scalar(attribute: &Value) -> Option<String> {
    attribute
        .as_object()?
        .values()
        .next()?
        .as_str()
        .map(str::to_owned)
}

fn table_arn(table: &str, index: Option<&str>) -> String {
    match index {
        Some(index) => arn("dynamodb", &format!("table/{table}/index/{index}")),
        None => arn("dynamodb", &format!("table/{table}")),
    }
}

/// The partition key value of an item or key map.
fn item_key(
    table: &str,
    item: &Value,
    tables: &HashMap<String, TableKeys>,
) -> Result<Vec<String>, String> {
    let keys = tables
        .get(table)
        .ok_or_else(|| format!("table {table} is not in the template"))?;
    scalar(&item[&keys.hash_key])
        .map(|k| vec![k])
        .ok_or_else(|| format!("no partition key {} in the request", keys.hash_key))
}

/// The partition key value a Query names in `<key> = :value`.
fn query_key(body: &Value, hash_key: &str) -> Option<String> {
    let expression = body["KeyConditionExpression"].as_str()?;
    let spaced = expression
        .replace('=', " = ")
        .replace('(', " ( ")
        .replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let names = body["ExpressionAttributeNames"].as_object();
    tokens.windows(3).find_map(|window| {
        let [left, "=", right] = window else {
            return None;
        };
        let name = names
            .and_then(|n| n.get(*left))
            .and_then(Value::as_str)
            .unwrap_or(left);
        (name == hash_key)
            .then(|| scalar(&body["ExpressionAttributeValues"][*right]))
            .flatten()
    })
}

fn dynamodb(operation: &str, body: &Value, tables: &HashMap<String, TableKeys>) -> Classified {
    let request =
        |action: &str, table: &str, index: Option<&str>, keys: Option<Vec<String>>| Request {
            action: format!("dynamodb:{action}"),
            resource: table_arn(table, index),
            leading_keys: keys,
        };
    let checked = |requests: Result<Vec<Request>, String>| match requests {
        Ok(requests) => Classified::Checked(requests),
        Err(why) => Classified::Unreadable(format!("dynamodb:{operation}: {why}")),
    };
    let table = body["TableName"].as_str().unwrap_or_default();
    match operation {
        "GetItem" | "UpdateItem" | "DeleteItem" => checked(
            item_key(table, &body["Key"], tables)
                .map(|k| vec![request(operation, table, None, Some(k))]),
        ),
        "PutItem" => checked(
            item_key(table, &body["Item"], tables)
                .map(|k| vec![request(operation, table, None, Some(k))]),
        ),
        "Query" => {
            let index = body["IndexName"].as_str();
            let hash_key = tables.get(table).map(|t| match index {
                Some(index) => t.index_hash_keys.get(index).cloned().unwrap_or_default(),
                None => t.hash_key.clone(),
            });
            checked(
                hash_key
                    .and_then(|h| query_key(body, &h))
                    .map(|k| vec![request("Query", table, index, Some(vec![k]))])
                    .ok_or_else(|| "cannot read the partition key of this Query".to_owned()),
            )
        }
        // A Scan names no partition key: like AWS, a ForAllValues condition holds.
        "Scan" => checked(Ok(vec![request(
            "Scan",
            table,
            body["IndexName"].as_str(),
            Some(vec![]),
        )])),
        "TransactWriteItems" | "TransactGetItems" => {
            let mut requests = Vec::new();
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                let (kind, inner) = match item.as_object().and_then(|o| o.iter().next()) {
                    Some(pair) => pair,
                    None => return Classified::Unreadable("an empty transaction item".into()),
                };
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    "Get" => "GetItem",
                    other => return Classified::Unreadable(format!("transaction item {other}")),
                };
                let table = inner["TableName"].as_str().unwrap_or_default();
                let key = if kind == "Put" {
                    &inner["Item"]
                } else {
                    &inner["Key"]
                };
                match item_key(table, key, tables) {
                    Ok(k) => requests.push(request(action, table, None, Some(k))),
                    Err(why) => {
                        return Classified::Unreadable(format!("dynamodb:{operation}: {why}"));
                    }
                }
            }
            Classified::Checked(requests)
        }
        "BatchGetItem" | "BatchWriteItem" => {
            let mut requests = Vec::new();
            for (table, entries) in body["RequestItems"].as_object().into_iter().flatten() {
                let items: Vec<&Value> = match operation {
                    "BatchGetItem" => entries["Keys"].as_array().into_iter().flatten().collect(),
                    _ => entries
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|w| {
                            if w["PutRequest"].is_object() {
                                &w["PutRequest"]["Item"]
                            } else {
                                &w["DeleteRequest"]["Key"]
                            }
                        })
                        .collect(),
                };
                let mut keys = Vec::new();
                for item in items {
                    match item_key(table, item, tables) {
                        Ok(k) => keys.extend(k),
                        Err(why) => {
                            return Classified::Unreadable(format!("dynamodb:{operation}: {why}"));
                        }
                    }
                }
                requests.push(request(operation, table, None, Some(keys)));
            }
            Classified::Checked(requests)
        }
        _ if !table.is_empty() => checked(Ok(vec![request(operation, table, None, None)])),
        _ => checked(Ok(vec![Request {
            action: format!("dynamodb:{operation}"),
            resource: "*".into(),
            leading_keys: None,
        }])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tables() -> HashMap<String, TableKeys> {
        HashMap::from([(
            "t".to_owned(),
            TableKeys {
                hash_key: "pk".into(),
                index_hash_keys: HashMap::from([("gsi1".to_owned(), "gsi1pk".to_owned())]),
            },
        )])
    }

    fn only(classified: Classified) -> Request {
        match classified {
            Classified::Checked(mut requests) if requests.len() == 1 => requests.remove(0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sqs_batches_ses_sends_and_sms_publishes_ask_for_what_aws_checks() {
        let batch = only(classify(
            "sqs",
            "DeleteMessageBatch",
            &json!({"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q"}),
            &tables(),
        ));
        assert_eq!(batch.action, "sqs:DeleteMessage");
        assert_eq!(batch.resource, "arn:aws:sqs:us-east-1:123456789012:q");
        let Classified::Checked(send) = classify(
            "ses",
            "SendEmail",
            &json!({"FromEmailAddress": "Gatehouse <no-reply@example.com>", "ConfigurationSetName": "cs"}),
            &tables(),
        ) else {
            panic!("readable");
        };
        let resources: Vec<&str> = send.iter().map(|r| r.resource.as_str()).collect();
        assert_eq!(
            resources,
            [
                "arn:aws:ses:us-east-1:123456789012:identity/no-reply@example.com",
                "arn:aws:ses:us-east-1:123456789012:configuration-set/cs"
            ]
        );
        let sms = only(classify(
            "sns",
            "Publish",
            &json!({"PhoneNumber": "+15550100"}),
            &tables(),
        ));
        assert_eq!(
            (sms.action.as_str(), sms.resource.as_str()),
            ("sns:Publish", "*")
        );
        assert!(matches!(
            classify("sns", "CreateTopic", &json!({}), &tables()),
            Classified::Unreadable(_)
        ));
    }

    #[test]
    fn a_kms_call_is_checked_against_the_key_it_names_and_refused_without_one() {
        let decrypt = only(classify(
            "kms",
            "Decrypt",
            &json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
            &tables(),
        ));
        assert_eq!(decrypt.action, "kms:Decrypt");
        assert!(
            decrypt
                .resource
                .ends_with(":key/1234abcd-12ab-34cd-56ef-1234567890ab")
        );
        assert!(matches!(
            classify("kms", "Decrypt", &json!({"CiphertextBlob": "x"}), &tables()),
            Classified::Unreadable(_)
        ));
    }

    #[test]
    fn item_requests_carry_their_partition_key() {
        let put = only(classify(
            "dynamodb",
            "PutItem",
            &json!({"TableName": "t", "Item": {"pk": {"S": "USER#1"}, "sk": {"S": "X"}}}),
            &tables(),
        ));
        assert_eq!(put.action, "dynamodb:PutItem");
        assert_eq!(
            put.resource,
            "arn:aws:dynamodb:us-east-1:123456789012:table/t"
        );
        assert_eq!(put.leading_keys, Some(vec!["USER#1".to_owned()]));
    }

    #[test]
    fn a_query_names_its_key_in_the_condition_expression() {
        let query = only(classify(
            "dynamodb",
            "Query",
            &json!({"TableName": "t", "KeyConditionExpression": "#p = :pk AND begins_with(sk, :s)",
                    "ExpressionAttributeNames": {"#p": "pk"},
                    "ExpressionAttributeValues": {":pk": {"S": "USER#2"}, ":s": {"S": "R"}}}),
            &tables(),
        ));
        assert_eq!(query.leading_keys, Some(vec!["USER#2".to_owned()]));
        let unreadable = classify(
            "dynamodb",
            "Query",
            &json!({"TableName": "t", "KeyConditionExpression": "sk = :s"}),
            &tables(),
        );
        assert!(matches!(unreadable, Classified::Unreadable(_)));
    }

    #[test]
    fn each_transaction_item_is_checked_as_its_own_action() {
        let Classified::Checked(requests) = classify(
            "dynamodb",
            "TransactWriteItems",
            &json!({"TransactItems": [
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "USER#1"}}}},
                {"Delete": {"TableName": "t", "Key": {"pk": {"S": "USER#1"}}}}
            ]}),
            &tables(),
        ) else {
            panic!("not checked")
        };
        let actions: Vec<&str> = requests.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(actions, ["dynamodb:PutItem", "dynamodb:DeleteItem"]);
    }

    #[test]
    fn cognitos_public_apis_need_no_iam_but_its_admin_apis_do() {
        assert_eq!(
            classify("cognito-idp", "InitiateAuth", &json!({}), &tables()),
            Classified::Public
        );
        let admin = only(classify(
            "cognito-idp",
            "AdminGetUser",
            &json!({"UserPoolId": "us-east-1_x"}),
            &tables(),
        ));
        assert_eq!(
            admin.resource,
            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x"
        );
        assert!(matches!(
            classify("kinesis", "PutRecord", &json!({}), &tables()),
            Classified::Unreadable(_)
        ));
    }
}
