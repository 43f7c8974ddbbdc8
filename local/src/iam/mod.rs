//! IAM, enforced locally: each function calls AWS with credentials of its own
//! role, built from its template `Policies`, and every call passes this front
//! door, which evaluates the role's statements (actions, resources and
//! `dynamodb:LeadingKeys` conditions) before the call reaches the emulators.
//! A refusal is AWS's `AccessDeniedException`, with AWS's message.
//!
//! moto can check IAM actions itself, but not resources or conditions, and its
//! refusals are XML even for JSON services; so the stand-in checks, and moto runs
//! without its own IAM checks.

pub mod policy;
pub mod request;

use crate::cognito::CognitoProxy;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use policy::{Decision, Statement, evaluate};
use request::{Classified, TableKeys, classify};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// One function's execution role.
#[derive(Debug, Clone)]
pub struct Role {
    /// The role's name, as SAM names a function's role: `<Function>Role`.
    pub name: String,
    /// The session Lambda assumes it with: the function name.
    pub session: String,
    pub statements: Vec<Statement>,
}

impl Role {
    fn principal(&self) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            crate::template::ACCOUNT_ID,
            self.name,
            self.session
        )
    }
}

/// The access key a function is given; the front door knows its role by it.
pub fn access_key_for(logical_id: &str) -> String {
    format!(
        "LOCAL{}",
        logical_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_uppercase()
    )
}

pub struct FrontDoor {
    /// Where SES and SNS sends are shown (`GET /_local/outbox`).
    pub outbox: crate::outbox::Outbox,
    /// Services switched to failing (`POST /_local/aws/outage`).
    pub outage: Arc<crate::outage::Outage>,
    pub roles: HashMap<String, Role>,
    pub tables: HashMap<String, TableKeys>,
    /// The SES identities that exist (addresses and domains).
    pub ses_identities: std::collections::BTreeSet<String>,
    pub cognito: Arc<CognitoProxy>,
    pub moto_endpoint: String,
    pub http: reqwest::Client,
}

const COGNITO_TARGET: &str = "AWSCognitoIdentityProviderService.";

/// SES authorises a send against the identity it sends under: the From
/// address's own when that is verified, else its domain's (`resource` is the
/// address identity's ARN; anything else passes unchanged).
fn sending_identity(resource: &str, identities: &std::collections::BTreeSet<String>) -> String {
    let Some((prefix, address)) = resource.split_once(":identity/") else {
        return resource.to_owned();
    };
    let Some((_, domain)) = address.rsplit_once('@') else {
        return resource.to_owned();
    };
    if !identities.contains(address) && identities.contains(domain) {
        format!("{prefix}:identity/{domain}")
    } else {
        resource.to_owned()
    }
}

/// Every request the call makes must be allowed by the role; the refusal if not.
fn refusal(
    role: &Role,
    service: &str,
    operation: &str,
    body: &Value,
    door: &FrontDoor,
) -> Option<Response> {
    let requests = match classify(service, operation, body, &door.tables) {
        Classified::Public => return None,
        Classified::Checked(requests) => requests,
        Classified::Unreadable(why) => {
            tracing::error!(role = %role.name, %why, "IAM stand-in refused a call it cannot check");
            return Some(json_error(
                StatusCode::BAD_REQUEST,
                "AccessDeniedException",
                &format!("the local IAM stand-in refuses what it cannot check: {why}"),
            ));
        }
    };
    for mut request in requests {
        request.resource = sending_identity(&request.resource, &door.ses_identities);
        let why = match evaluate(&role.statements, &request) {
            Decision::Allowed => continue,
            Decision::ExplicitDeny => "with an explicit deny in an identity-based policy",
            Decision::ImplicitDeny => "because no identity-based policy allows the action",
        };
        let message = format!(
            "User: {} is not authorized to perform: {} on resource: {} {why}",
            role.principal(),
            request.action,
            request.resource
        );
        tracing::warn!(role = %role.name, action = %request.action, resource = %request.resource, "IAM denied the call");
        return Some(json_error(
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            &message,
        ));
    }
    None
}

fn json_error(status: StatusCode, kind: &str, message: &str) -> Response {
    crate::moto::aws_json_error(status, kind, message)
}

/// `Credential=<key>/<date>/<region>/<service>/aws4_request` of a SigV4 header.
fn credential_scope(headers: &HeaderMap) -> Option<(String, String)> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    let mut parts = scope.split('/');
    let key = parts.next()?.to_owned();
    let service = parts.nth(2)?.to_owned();
    Some((key, service))
}

/// SES v2 operations the functions call, from method and path.
fn ses_operation(method: &Method, path: &str) -> String {
    match (method.as_str(), path.trim_end_matches('/')) {
        ("POST", "/v2/email/outbound-emails") => "SendEmail".into(),
        (method, path) => format!("{method} {path}"),
    }
}

/// A form-encoded (query protocol) body as a JSON object of its fields.
fn form(body: &[u8]) -> Value {
    Value::Object(
        crate::form::parse(body)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

impl FrontDoor {
    /// What SES and SNS accepted, shown in the local outbox as delivered.
    fn show_in_outbox(&self, service: &str, operation: &str, body: &Value) {
        match (service, operation) {
            ("ses", "SendEmail") => {
                let to: Vec<String> = body["Destination"]["ToAddresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect();
                let raw = body["Content"]["Raw"]["Data"]
                    .as_str()
                    .and_then(|d| {
                        use base64::Engine;
                        base64::engine::general_purpose::STANDARD.decode(d).ok()
                    })
                    .and_then(|b| String::from_utf8(b).ok());
                match raw {
                    Some(raw) => self.outbox.send_raw_email(&to, &raw),
                    None => {
                        let simple = &body["Content"]["Simple"];
                        for recipient in &to {
                            self.outbox.send_email(
                                recipient,
                                simple["Subject"]["Data"].as_str().unwrap_or_default(),
                                simple["Body"]["Text"]["Data"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .to_owned(),
                                simple["Body"]["Html"]["Data"].as_str().map(str::to_owned),
                            );
                        }
                    }
                }
            }
            ("sns", "Publish") => {
                if let Some(number) = body["PhoneNumber"].as_str() {
                    self.outbox.send_sms(
                        number,
                        body["Message"].as_str().unwrap_or_default().to_owned(),
                    );
                }
            }
            _ => {}
        }
    }
}

pub fn router(door: Arc<FrontDoor>) -> Router {
    Router::new().fallback(handle).with_state(door)
}

async fn handle(
    State(door): State<Arc<FrontDoor>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let scope = credential_scope(&headers);
    // The JSON protocols name the operation in X-Amz-Target; SES v2 (REST)
    // in its method and path; SNS (query) in the form's Action.
    let (operation, parsed) = match scope.as_ref().map(|(_, s)| s.as_str()) {
        Some("ses") => (
            ses_operation(&method, uri.path()),
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        ),
        Some("sns") => {
            let form = form(&body);
            (form["Action"].as_str().unwrap_or_default().to_owned(), form)
        }
        _ => (
            target.rsplit('.').next().unwrap_or_default().to_owned(),
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        ),
    };
    let service = match scope {
        Some((key, service)) => {
            let Some(role) = door.roles.get(&key) else {
                return json_error(
                    StatusCode::FORBIDDEN,
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                );
            };
            if let Some(refused) = refusal(role, &service, &operation, &parsed, &door) {
                return refused;
            }
            service
        }
        // The SDK signs nothing for Cognito's public APIs: AWS authorises those by
        // client id, code or the user's token, not IAM.
        None if target.starts_with(COGNITO_TARGET)
            && classify("cognito-idp", &operation, &parsed, &door.tables) == Classified::Public =>
        {
            "cognito-idp".to_owned()
        }
        None => {
            return json_error(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            );
        }
    };
    if door.outage.is_failing(&service) {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Service is unavailable (an emulated failure).",
        );
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if service == "cognito-idp" {
        return door.cognito.serve(path, &headers, body).await;
    }
    match crate::moto::forward(
        &door.http,
        &door.moto_endpoint,
        &method,
        path,
        &headers,
        body,
    )
    .await
    {
        Ok(answer) => {
            if answer.0.is_success() {
                door.show_in_outbox(&service, &operation, &parsed);
            }
            answer.into_response()
        }
        Err(err) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            &err.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_send_is_authorised_against_the_address_or_else_the_domain_identity() {
        let arn = "arn:aws:ses:us-east-1:123456789012:identity/no-reply@example.com";
        let domain_only = std::collections::BTreeSet::from(["example.com".to_owned()]);
        assert_eq!(
            sending_identity(arn, &domain_only),
            "arn:aws:ses:us-east-1:123456789012:identity/example.com"
        );
        let both = std::collections::BTreeSet::from([
            "example.com".to_owned(),
            "no-reply@example.com".to_owned(),
        ]);
        assert_eq!(sending_identity(arn, &both), arn, "the address's own first");
        let set = "arn:aws:ses:us-east-1:123456789012:configuration-set/notifications";
        assert_eq!(sending_identity(set, &domain_only), set);
    }

    #[test]
    fn a_sigv4_header_names_the_key_and_service() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=LOCALLOGIN/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x",
            ),
        );
        assert_eq!(
            credential_scope(&headers),
            Some(("LOCALLOGIN".into(), "dynamodb".into()))
        );
    }

    #[test]
    fn access_keys_are_derived_from_the_logical_id() {
        assert_eq!(access_key_for("LoginFunction"), "LOCALLOGINFUNCTION");
    }
}
