//! A proxy in front of moto's Cognito that does what moto does not: it invokes the
//! triggers the template wires (pre sign-up, custom message, post confirmation)
//! around the calls that fire them on AWS, sends real sign-up and reset codes to the
//! local outbox, and refuses any sign-up code but the one it sent.
//!
//! The functions reach it through `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`, so
//! they run the real SDK calls unchanged.

use crate::moto::{AwsJson, MotoError, Service};
use crate::outbox::Outbox;
use crate::provision::Pool;
use crate::runtime::Functions;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cognito's sign-up codes are valid for 24 hours, its reset codes for one.
const SIGN_UP_CODE_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
const RESET_CODE_LIFETIME: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Purpose {
    SignUp,
    Reset,
}

impl Purpose {
    fn lifetime(self) -> Duration {
        match self {
            Self::SignUp => SIGN_UP_CODE_LIFETIME,
            Self::Reset => RESET_CODE_LIFETIME,
        }
    }
}

/// What a code check found.
enum CodeCheck {
    Valid,
    Wrong,
    Expired,
    NoneIssued,
}
const CODE_PLACEHOLDER: &str = "{####}";
const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";

struct PendingCode {
    code: String,
    issued: Instant,
}

pub struct CognitoProxy {
    moto_endpoint: String,
    http: reqwest::Client,
    aws: AwsJson,
    pools_by_client: BTreeMap<String, Pool>,
    functions: Functions,
    outbox: Outbox,
    pending: Mutex<HashMap<(String, String, Purpose), PendingCode>>,
}

/// A Cognito-style error answer, as the SDK parses it.
fn cognito_error(kind: &str, message: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(value) = HeaderValue::from_str(kind) {
        headers.insert("x-amzn-errortype", value);
    }
    (
        StatusCode::BAD_REQUEST,
        headers,
        json!({"__type": kind, "message": message}).to_string(),
    )
        .into_response()
}

fn expired_code() -> Response {
    cognito_error(
        "ExpiredCodeException",
        "Invalid code provided, please request a code again.",
    )
}

fn code_mismatch() -> Response {
    cognito_error(
        "CodeMismatchException",
        "Invalid verification code provided, please try again.",
    )
}

fn json_ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

fn attributes_to_map(list: &Value) -> Map<String, Value> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|a| Some((a["Name"].as_str()?.to_owned(), a["Value"].clone())))
                .collect()
        })
        .unwrap_or_default()
}

fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!(
            "{}***@{}***",
            local.chars().next().unwrap_or('*'),
            domain.chars().next().unwrap_or('*')
        ),
        None => "***".into(),
    }
}

/// Cognito sends a custom message as HTML; the text part is the same without tags,
/// one line per block.
fn strip_tags(html: &str) -> String {
    let mut with_breaks = html.to_owned();
    for block_end in [
        "<br>", "<br/>", "<br />", "</p>", "</h1>", "</h2>", "</h3>", "</div>", "</li>",
    ] {
        with_breaks = with_breaks.replace(block_end, "\n");
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in with_breaks.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

impl CognitoProxy {
    pub fn new(
        moto_endpoint: String,
        pools_by_client: BTreeMap<String, Pool>,
        functions: Functions,
        outbox: Outbox,
    ) -> Arc<Self> {
        Arc::new(Self {
            aws: AwsJson::new(&moto_endpoint),
            moto_endpoint,
            http: reqwest::Client::new(),
            pools_by_client,
            functions,
            outbox,
            pending: Mutex::new(HashMap::new()),
        })
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self)
    }

    fn pool_for(&self, body: &Value) -> Option<&Pool> {
        body["ClientId"]
            .as_str()
            .and_then(|id| self.pools_by_client.get(id))
    }

    async fn forward(
        &self,
        uri: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), reqwest::Error> {
        let mut request = self.http.post(format!("{}{}", self.moto_endpoint, uri));
        for (name, value) in headers {
            if !matches!(name.as_str(), "host" | "content-length" | "connection") {
                request = request.header(name, value);
            }
        }
        let response = request.body(body).send().await?;
        let status =
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut out = HeaderMap::new();
        for (name, value) in response.headers() {
            if !matches!(
                name.as_str(),
                "content-length" | "connection" | "transfer-encoding"
            ) {
                out.append(name.clone(), value.clone());
            }
        }
        Ok((status, out, response.bytes().await?))
    }

    async fn admin_get_user(
        &self,
        pool: &Pool,
        username: &str,
    ) -> Result<Option<Value>, MotoError> {
        match self
            .aws
            .call(
                Service::Cognito,
                "AdminGetUser",
                &json!({"UserPoolId": pool.id, "Username": username}),
            )
            .await
        {
            Ok(user) => Ok(Some(user)),
            Err(MotoError::Api { kind, .. }) if kind == "UserNotFoundException" => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn header_fields(
        pool: &Pool,
        trigger_source: &str,
        username: &str,
        client_id: &str,
    ) -> Map<String, Value> {
        let mut event = Map::new();
        event.insert("version".into(), json!("1"));
        event.insert("triggerSource".into(), json!(trigger_source));
        event.insert("region".into(), json!(crate::template::REGION));
        event.insert("userPoolId".into(), json!(pool.id));
        event.insert("userName".into(), json!(username));
        event.insert(
            "callerContext".into(),
            json!({"awsSdkVersion": "aws-sdk-rust", "clientId": client_id}),
        );
        event
    }

    /// Invokes a trigger if the pool wires it. `Ok(None)` when it does not.
    async fn trigger(
        &self,
        pool: &Pool,
        trigger: &str,
        event: Map<String, Value>,
    ) -> Result<Option<Value>, String> {
        let Some(function) = pool.triggers.get(trigger) else {
            return Ok(None);
        };
        self.functions
            .invoke(function, Value::Object(event))
            .await
            .map(Some)
            .map_err(|err| match err {
                crate::runtime::InvokeError::Function { message, .. } => message,
                other => other.to_string(),
            })
    }

    /// Sends a code by email, through the custom message trigger when one is wired.
    async fn deliver_code(
        &self,
        pool: &Pool,
        client_id: &str,
        username: &str,
        attributes: &Map<String, Value>,
        source: &str,
        code: &str,
    ) -> Result<(), String> {
        let Some(email) = attributes.get("email").and_then(Value::as_str) else {
            return Ok(());
        };
        let mut event = Self::header_fields(pool, source, username, client_id);
        event.insert(
            "request".into(),
            json!({"userAttributes": attributes, "codeParameter": CODE_PLACEHOLDER, "usernameParameter": null, "clientMetadata": {}}),
        );
        event.insert(
            "response".into(),
            json!({"smsMessage": null, "emailMessage": null, "emailSubject": null}),
        );
        let custom = self.trigger(pool, "CustomMessage", event).await?;
        let response = custom.as_ref().map(|e| &e["response"]);
        let subject = response
            .and_then(|r| r["emailSubject"].as_str())
            .unwrap_or("Your verification code");
        match response.and_then(|r| r["emailMessage"].as_str()) {
            Some(html) => {
                let html = html.replace(CODE_PLACEHOLDER, code);
                self.outbox
                    .send_email(email, subject, strip_tags(&html), Some(html));
            }
            None => self.outbox.send_email(
                email,
                subject,
                format!("Your verification code is {code}."),
                None,
            ),
        }
        Ok(())
    }

    fn new_code(&self, pool: &Pool, username: &str, purpose: Purpose) -> String {
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000));
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                (pool.id.clone(), username.to_lowercase(), purpose),
                PendingCode {
                    code: code.clone(),
                    issued: Instant::now(),
                },
            );
        code
    }

    /// Issues a code and delivers it; returns Cognito's `CodeDeliveryDetails`.
    async fn send_code(
        &self,
        pool: &Pool,
        client_id: &str,
        username: &str,
        attributes: &Map<String, Value>,
        purpose: Purpose,
        trigger_source: &str,
    ) -> Result<Value, Response> {
        let code = self.new_code(pool, username, purpose);
        self.deliver_code(pool, client_id, username, attributes, trigger_source, &code)
            .await
            .map_err(|msg| {
                cognito_error(
                    "UserLambdaValidationException",
                    &format!("CustomMessage failed with error {msg}."),
                )
            })?;
        let email = attributes
            .get("email")
            .and_then(Value::as_str)
            .unwrap_or(username);
        Ok(json!({"Destination": mask(email), "DeliveryMedium": "EMAIL", "AttributeName": "email"}))
    }

    fn check_code(
        &self,
        pool: &Pool,
        username: &str,
        purpose: Purpose,
        offered: &str,
    ) -> CodeCheck {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match pending.get(&(pool.id.clone(), username.to_lowercase(), purpose)) {
            None => CodeCheck::NoneIssued,
            Some(p) if p.issued.elapsed() > purpose.lifetime() => CodeCheck::Expired,
            Some(p) if p.code != offered => CodeCheck::Wrong,
            Some(_) => CodeCheck::Valid,
        }
    }

    fn spend_code(&self, pool: &Pool, username: &str, purpose: Purpose) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(pool.id.clone(), username.to_lowercase(), purpose));
    }

    async fn post_confirmation(
        &self,
        pool: &Pool,
        client_id: &str,
        username: &str,
        source: &str,
    ) -> Result<(), Response> {
        let user = match self.admin_get_user(pool, username).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                return Err(cognito_error(
                    "UserNotFoundException",
                    "User does not exist.",
                ));
            }
            Err(err) => return Err(cognito_error("InternalErrorException", &err.to_string())),
        };
        let mut attributes = attributes_to_map(&user["UserAttributes"]);
        attributes.insert("cognito:user_status".into(), json!("CONFIRMED"));
        let mut event = Self::header_fields(
            pool,
            source,
            user["Username"].as_str().unwrap_or(username),
            client_id,
        );
        event.insert(
            "request".into(),
            json!({"userAttributes": attributes, "clientMetadata": {}}),
        );
        event.insert("response".into(), json!({}));
        self.trigger(pool, "PostConfirmation", event)
            .await
            .map(|_| ())
            .map_err(|msg| {
                cognito_error(
                    "UserLambdaValidationException",
                    &format!("PostConfirmation failed with error {msg}."),
                )
            })
    }

    async fn sign_up(
        &self,
        pool: &Pool,
        uri: &str,
        headers: &HeaderMap,
        raw: Bytes,
        body: &Value,
    ) -> Response {
        let client_id = body["ClientId"].as_str().unwrap_or_default();
        let username = body["Username"].as_str().unwrap_or_default();
        let mut attributes = attributes_to_map(&body["UserAttributes"]);
        let mut event = Self::header_fields(pool, "PreSignUp_SignUp", username, client_id);
        event.insert(
            "request".into(),
            json!({"userAttributes": attributes, "validationData": {}, "clientMetadata": body["ClientMetadata"]}),
        );
        event.insert(
            "response".into(),
            json!({"autoConfirmUser": false, "autoVerifyEmail": false, "autoVerifyPhone": false}),
        );
        let pre = match self.trigger(pool, "PreSignUp", event).await {
            Ok(pre) => pre,
            Err(msg) => {
                return cognito_error(
                    "UserLambdaValidationException",
                    &format!("PreSignUp failed with error {msg}."),
                );
            }
        };
        let (status, out_headers, out_body) = match self.forward(uri, headers, raw).await {
            Ok(answer) => answer,
            Err(err) => return cognito_error("InternalErrorException", &err.to_string()),
        };
        if !status.is_success() {
            return (status, out_headers, out_body).into_response();
        }
        let mut answer: Value = serde_json::from_slice(&out_body).unwrap_or(json!({}));
        let auto_confirm = pre
            .as_ref()
            .and_then(|p| p["response"]["autoConfirmUser"].as_bool())
            .unwrap_or(false);
        if auto_confirm {
            let confirmed = self
                .aws
                .call(
                    Service::Cognito,
                    "AdminConfirmSignUp",
                    &json!({"UserPoolId": pool.id, "Username": username}),
                )
                .await;
            if let Err(err) = confirmed {
                return cognito_error("InternalErrorException", &err.to_string());
            }
            // As on AWS, an auto-confirmed sign-up runs no post-confirmation trigger.
            answer["UserConfirmed"] = json!(true);
            if let Some(map) = answer.as_object_mut() {
                map.remove("CodeDeliveryDetails");
            }
            return json_ok(answer);
        }
        if let Some(sub) = answer["UserSub"].as_str() {
            attributes.insert("sub".into(), json!(sub));
        }
        let delivery = match self
            .send_code(
                pool,
                client_id,
                username,
                &attributes,
                Purpose::SignUp,
                "CustomMessage_SignUp",
            )
            .await
        {
            Ok(delivery) => delivery,
            Err(response) => return response,
        };
        answer["CodeDeliveryDetails"] = delivery;
        json_ok(answer)
    }

    async fn confirm_sign_up(
        &self,
        pool: &Pool,
        uri: &str,
        headers: &HeaderMap,
        raw: Bytes,
        body: &Value,
    ) -> Response {
        let client_id = body["ClientId"].as_str().unwrap_or_default();
        let username = body["Username"].as_str().unwrap_or_default();
        let offered = body["ConfirmationCode"].as_str().unwrap_or_default();
        match self.check_code(pool, username, Purpose::SignUp, offered) {
            CodeCheck::Valid => {}
            CodeCheck::Expired => {
                return expired_code();
            }
            CodeCheck::Wrong => {
                return code_mismatch();
            }
            CodeCheck::NoneIssued => {
                return match self.admin_get_user(pool, username).await {
                    Ok(None) => cognito_error(
                        "UserNotFoundException",
                        "Username/client id combination not found.",
                    ),
                    Ok(Some(user)) if user["UserStatus"] == "CONFIRMED" => cognito_error(
                        "NotAuthorizedException",
                        "User cannot be confirmed. Current status is CONFIRMED",
                    ),
                    Ok(Some(_)) => code_mismatch(),
                    Err(err) => cognito_error("InternalErrorException", &err.to_string()),
                };
            }
        }
        self.forward_confirmation(
            pool,
            uri,
            headers,
            raw,
            client_id,
            username,
            Purpose::SignUp,
        )
        .await
    }

    /// Forwards a confirmation whose code was checked (moto would accept any), then
    /// does what Cognito does after it: spends the code, marks the email verified
    /// after a sign-up when the pool auto-verifies email, and runs the
    /// post-confirmation trigger.
    #[allow(clippy::too_many_arguments)]
    async fn forward_confirmation(
        &self,
        pool: &Pool,
        uri: &str,
        headers: &HeaderMap,
        raw: Bytes,
        client_id: &str,
        username: &str,
        purpose: Purpose,
    ) -> Response {
        let (status, out_headers, out_body) = match self.forward(uri, headers, raw).await {
            Ok(answer) => answer,
            Err(err) => return cognito_error("InternalErrorException", &err.to_string()),
        };
        if !status.is_success() {
            return (status, out_headers, out_body).into_response();
        }
        self.spend_code(pool, username, purpose);
        if purpose == Purpose::SignUp && pool.auto_verify_email {
            let verified = self
                .aws
                .call(
                    Service::Cognito,
                    "AdminUpdateUserAttributes",
                    &json!({"UserPoolId": pool.id, "Username": username, "UserAttributes": [{"Name": "email_verified", "Value": "true"}]}),
                )
                .await;
            if let Err(err) = verified {
                return cognito_error("InternalErrorException", &err.to_string());
            }
        }
        let source = match purpose {
            Purpose::SignUp => "PostConfirmation_ConfirmSignUp",
            Purpose::Reset => "PostConfirmation_ConfirmForgotPassword",
        };
        if let Err(response) = self
            .post_confirmation(pool, client_id, username, source)
            .await
        {
            return response;
        }
        (status, out_headers, out_body).into_response()
    }

    async fn resend_code(&self, pool: &Pool, body: &Value) -> Response {
        let client_id = body["ClientId"].as_str().unwrap_or_default();
        let username = body["Username"].as_str().unwrap_or_default();
        let user = match self.admin_get_user(pool, username).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                return cognito_error(
                    "UserNotFoundException",
                    "Username/client id combination not found.",
                );
            }
            Err(err) => return cognito_error("InternalErrorException", &err.to_string()),
        };
        if user["UserStatus"] == "CONFIRMED" {
            return cognito_error("InvalidParameterException", "User is already confirmed.");
        }
        let attributes = attributes_to_map(&user["UserAttributes"]);
        let delivery = match self
            .send_code(
                pool,
                client_id,
                username,
                &attributes,
                Purpose::SignUp,
                "CustomMessage_ResendCode",
            )
            .await
        {
            Ok(delivery) => delivery,
            Err(response) => return response,
        };
        json_ok(json!({ "CodeDeliveryDetails": delivery }))
    }

    /// moto makes up its own reset code and would accept any other; the proxy
    /// sends its own code instead and accepts only that one.
    async fn forgot_password(
        &self,
        pool: &Pool,
        uri: &str,
        headers: &HeaderMap,
        raw: Bytes,
        body: &Value,
    ) -> Response {
        let client_id = body["ClientId"].as_str().unwrap_or_default();
        let username = body["Username"].as_str().unwrap_or_default();
        let (status, mut out_headers, out_body) = match self.forward(uri, headers, raw).await {
            Ok(answer) => answer,
            Err(err) => return cognito_error("InternalErrorException", &err.to_string()),
        };
        out_headers.remove("x-moto-forgot-password-confirmation-code");
        if !status.is_success() {
            return (status, out_headers, out_body).into_response();
        }
        let user = match self.admin_get_user(pool, username).await {
            Ok(user) => user,
            Err(err) => return cognito_error("InternalErrorException", &err.to_string()),
        };
        let mut answer: Value = serde_json::from_slice(&out_body).unwrap_or(json!({}));
        if let Some(user) = user {
            let attributes = attributes_to_map(&user["UserAttributes"]);
            let delivery = match self
                .send_code(
                    pool,
                    client_id,
                    username,
                    &attributes,
                    Purpose::Reset,
                    "CustomMessage_ForgotPassword",
                )
                .await
            {
                Ok(delivery) => delivery,
                Err(response) => return response,
            };
            answer["CodeDeliveryDetails"] = delivery;
        }
        json_ok(answer)
    }

    async fn confirm_forgot_password(
        &self,
        pool: &Pool,
        uri: &str,
        headers: &HeaderMap,
        raw: Bytes,
        body: &Value,
    ) -> Response {
        let client_id = body["ClientId"].as_str().unwrap_or_default();
        let username = body["Username"].as_str().unwrap_or_default();
        let offered = body["ConfirmationCode"].as_str().unwrap_or_default();
        match self.check_code(pool, username, Purpose::Reset, offered) {
            CodeCheck::Valid => {}
            CodeCheck::Expired => {
                return expired_code();
            }
            CodeCheck::Wrong | CodeCheck::NoneIssued => {
                return code_mismatch();
            }
        }
        self.forward_confirmation(pool, uri, headers, raw, client_id, username, Purpose::Reset)
            .await
    }
}

async fn handle(
    State(proxy): State<Arc<CognitoProxy>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .unwrap_or_default()
        .to_owned();
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let pool = proxy.pool_for(&body).cloned();
    tracing::debug!(%operation, "cognito call");
    match (operation.as_str(), pool) {
        ("SignUp", Some(pool)) => proxy.sign_up(&pool, &path, &headers, raw, &body).await,
        ("ConfirmSignUp", Some(pool)) => {
            proxy
                .confirm_sign_up(&pool, &path, &headers, raw, &body)
                .await
        }
        ("ResendConfirmationCode", Some(pool)) => proxy.resend_code(&pool, &body).await,
        ("ForgotPassword", Some(pool)) => {
            proxy
                .forgot_password(&pool, &path, &headers, raw, &body)
                .await
        }
        ("ConfirmForgotPassword", Some(pool)) => {
            proxy
                .confirm_forgot_password(&pool, &path, &headers, raw, &body)
                .await
        }
        _ => match proxy.forward(&path, &headers, raw).await {
            Ok(answer) => answer.into_response(),
            Err(err) => cognito_error("InternalErrorException", &err.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_messages_get_a_plain_text_twin() {
        assert_eq!(
            strip_tags("<h1>Hi</h1><p>Hello</p><p>Code: <b>123456</b></p>"),
            "Hi\nHello\nCode: 123456"
        );
    }

    #[test]
    fn destinations_are_masked_like_cognito() {
        assert_eq!(mask("ada@example.com"), "a***@e***");
    }
}
