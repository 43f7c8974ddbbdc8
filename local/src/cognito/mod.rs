//! A proxy in front of moto's Cognito that does what moto does not: it invokes the
//! triggers the template wires (pre sign-up, custom message, post confirmation)
//! around the calls that fire them on AWS, sends real sign-up and reset codes to the
//! local outbox, and refuses any code but the one it sent.
//!
//! The functions reach it through `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`, so
//! they run the real SDK calls unchanged.
//!
//! - [`codes`]: the codes it issues, with Cognito's lifetimes.
//! - [`triggers`]: the trigger events, typed as the functions read them.
//! - [`mail`]: how a code reaches the outbox.
//! - [`operations`]: the Cognito operations it intercepts; every other call is
//!   forwarded to moto as it is.
//! - [`attributes`]: a new email held until verified, as the pool declares.
//! - [`secret`]: the confidential app client's `SECRET_HASH` on every public call.
//! - [`software_token`] and [`mfa`]: TOTP MFA with a secret per user, real codes
//!   and the sign-in challenge (moto shares one secret and checks nothing).

mod attributes;
pub mod codes;
mod mail;
mod mfa;
mod operations;
mod revocation;
mod secret;
mod software_token;
mod triggers;

use crate::moto::{AwsJson, MotoError, Service};
use crate::outbox::Outbox;
use crate::provision::Pool;
use crate::runtime::Functions;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use codes::Codes;
use secret::{ClientSecrets, RefreshOwner, Unverified};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use triggers::{Attributes, Triggers};

const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";

pub struct CognitoProxy {
    moto_endpoint: String,
    http: reqwest::Client,
    aws: AwsJson,
    pools_by_client: BTreeMap<String, Pool>,
    triggers: Triggers,
    outbox: Outbox,
    codes: Arc<Codes>,
    secrets: ClientSecrets,
    /// New emails awaiting their code, by pool and username.
    pending_emails: std::sync::Mutex<std::collections::HashMap<(String, String), String>>,
    software_tokens: software_token::SoftwareTokens,
    revocations: revocation::Revocations,
}

/// A Cognito-style error answer, as the SDK parses it.
fn cognito_error(kind: &str, message: &str) -> Response {
    crate::moto::aws_json_error(StatusCode::BAD_REQUEST, kind, message)
}

fn internal_error(err: impl std::fmt::Display) -> Response {
    cognito_error("InternalErrorException", &err.to_string())
}

fn json_ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

/// Cognito's `[{Name, Value}]` attribute list as a map.
fn attributes_to_map(list: &Value) -> Attributes {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|a| {
                    Some((
                        a["Name"].as_str()?.to_owned(),
                        a["Value"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl CognitoProxy {
    pub fn new(
        moto_endpoint: String,
        pools_by_client: BTreeMap<String, Pool>,
        functions: Functions,
        outbox: Outbox,
        codes: Arc<Codes>,
        client_secrets: BTreeMap<String, String>,
        client_write_attributes: BTreeMap<String, Vec<String>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            aws: AwsJson::new(&moto_endpoint),
            moto_endpoint,
            http: reqwest::Client::new(),
            pools_by_client,
            triggers: Triggers::new(functions),
            outbox,
            codes,
            secrets: ClientSecrets::new(client_secrets, client_write_attributes),
            pending_emails: Default::default(),
            software_tokens: Default::default(),
            revocations: Default::default(),
        })
    }

    fn pool_for(&self, body: &Value) -> Option<&Pool> {
        body["ClientId"]
            .as_str()
            .and_then(|id| self.pools_by_client.get(id))
    }

    /// Hands the call to moto unchanged and answers what moto answered.
    async fn pass_through(&self, uri: &str, headers: &HeaderMap, raw: Bytes) -> Response {
        match self.forward(uri, headers, raw).await {
            Ok(answer) => answer.into_response(),
            Err(err) => internal_error(err),
        }
    }

    /// Sends the call to moto as it came; moto's answer, headers and all.
    async fn forward(
        &self,
        uri: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), reqwest::Error> {
        crate::moto::forward(
            &self.http,
            &self.moto_endpoint,
            &axum::http::Method::POST,
            uri,
            headers,
            body,
        )
        .await
    }

    /// moto files each refresh token under the name the user logged in with
    /// (their email), so its admin sign-out by username (the `sub`, as in the
    /// access token) misses them; Cognito revokes them all. After moto's own
    /// sign-out, the stand-in signs the user out under their email too.
    async fn sign_out_email_alias(&self, body: &Value) -> Result<(), MotoError> {
        let (Some(pool_id), Some(username)) =
            (body["UserPoolId"].as_str(), body["Username"].as_str())
        else {
            return Ok(());
        };
        let user = self
            .admin_call(
                "AdminGetUser",
                &json!({"UserPoolId": pool_id, "Username": username}),
            )
            .await?;
        let email = attributes_to_map(&user["UserAttributes"]).remove("email");
        if let Some(email) = email.filter(|e| e != username) {
            self.admin_call(
                "AdminUserGlobalSignOut",
                &json!({"UserPoolId": pool_id, "Username": email}),
            )
            .await?;
        }
        Ok(())
    }

    async fn admin_call(&self, operation: &str, body: &Value) -> Result<Value, MotoError> {
        self.aws.call(Service::Cognito, operation, body).await
    }

    async fn admin_get_user(
        &self,
        pool: &Pool,
        username: &str,
    ) -> Result<Option<Value>, MotoError> {
        match self
            .admin_call(
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
}

impl CognitoProxy {
    /// Cognito refuses a public call of a confidential client without the right
    /// `SECRET_HASH` (refreshes are checked in [`Self::initiate_auth`], where the
    /// token's owner is known).
    fn check_secret_hash(&self, operation: &str, call: &Call<'_>) -> Result<(), Unverified> {
        let (username, offered) = match operation {
            "SignUp"
            | "ConfirmSignUp"
            | "ResendConfirmationCode"
            | "ForgotPassword"
            | "ConfirmForgotPassword" => (call.field("Username"), call.body["SecretHash"].as_str()),
            "InitiateAuth" if call.field("AuthFlow") == "USER_PASSWORD_AUTH" => (
                call.body["AuthParameters"]["USERNAME"]
                    .as_str()
                    .unwrap_or_default(),
                call.body["AuthParameters"]["SECRET_HASH"].as_str(),
            ),
            "RespondToAuthChallenge" => (
                call.body["ChallengeResponses"]["USERNAME"]
                    .as_str()
                    .unwrap_or_default(),
                call.body["ChallengeResponses"]["SECRET_HASH"].as_str(),
            ),
            _ => return Ok(()),
        };
        self.secrets
            .verify(call.field("ClientId"), username, offered)?;
        if operation == "SignUp" {
            let names = attributes_to_map(&call.body["UserAttributes"]);
            self.secrets
                .check_writable(call.field("ClientId"), names.keys().map(String::as_str))?;
        }
        Ok(())
    }

    /// Sign-in: remembers whose refresh token it issued; a refresh is checked
    /// against that owner's internal name, then handed to moto with the hash
    /// moto computes over the login name.
    async fn initiate_auth(&self, call: Call<'_>) -> Response {
        let client_id = call.field("ClientId");
        let flow = call.field("AuthFlow");
        if matches!(flow, "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN") {
            let token = call.body["AuthParameters"]["REFRESH_TOKEN"]
                .as_str()
                .unwrap_or_default();
            if self.revocations.refresh_token_revoked(token) {
                return cognito_error("NotAuthorizedException", "Refresh Token has been revoked");
            }
            if let Some(owner) = self.secrets.refresh_owner(token) {
                let offered = call.body["AuthParameters"]["SECRET_HASH"].as_str();
                if let Err(refused) = self.secrets.verify(client_id, &owner.username, offered) {
                    return cognito_error("NotAuthorizedException", &refused.0);
                }
                let mut body = call.body.clone();
                if let Some(hash) = self.secrets.expected(client_id, &owner.login_name) {
                    body["AuthParameters"]["SECRET_HASH"] = Value::String(hash);
                }
                return match self
                    .forward(call.uri, call.headers, Bytes::from(body.to_string()))
                    .await
                {
                    Ok(answer) => answer.into_response(),
                    Err(err) => internal_error(err),
                };
            }
        }
        let (status, headers, body) =
            match self.forward(call.uri, call.headers, call.raw.clone()).await {
                Ok(answer) => answer,
                Err(err) => return internal_error(err),
            };
        if status.is_success() && flow == "USER_PASSWORD_AUTH" {
            let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let sub = answer["AuthenticationResult"]["IdToken"]
                .as_str()
                .and_then(subject_of);
            if let Some(challenge) = sub.and_then(|sub| self.mfa_challenge(&call, &sub)) {
                return challenge;
            }
            self.remember_issued(call.body, &answer);
        }
        (status, headers, body).into_response()
    }

    /// Remembers whose refresh token a password sign-in (`initiate_auth`, as
    /// called) was just issued (`answer`, moto's).
    fn remember_issued(&self, initiate_auth: &Value, answer: &Value) {
        let result = &answer["AuthenticationResult"];
        if let (Some(token), Some(sub)) = (
            result["RefreshToken"].as_str(),
            result["IdToken"].as_str().and_then(subject_of),
        ) {
            self.secrets.remember_refresh(
                token,
                RefreshOwner {
                    username: sub,
                    login_name: initiate_auth["AuthParameters"]["USERNAME"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    origin_jti: result["AccessToken"]
                        .as_str()
                        .and_then(claims_of)
                        .and_then(|c| c["origin_jti"].as_str().map(str::to_owned)),
                },
            );
        }
    }
}

/// The claims of a token (read, not verified: it came from moto, or is checked
/// by moto after).
fn claims_of(token: &str) -> Option<Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `sub` of a token moto just issued.
fn subject_of(token: &str) -> Option<String> {
    claims_of(token)?["sub"].as_str().map(str::to_owned)
}

/// One intercepted call: the pool of its app client, its path and headers, the
/// body as sent (to forward) and as JSON (to read).
struct Call<'a> {
    pool: &'a Pool,
    uri: &'a str,
    headers: &'a HeaderMap,
    raw: Bytes,
    body: &'a Value,
}

impl Call<'_> {
    fn field(&self, name: &str) -> &str {
        self.body[name].as_str().unwrap_or_default()
    }
}

impl CognitoProxy {
    /// Serves one Cognito call (already past the IAM front door).
    pub async fn serve(&self, path: &str, headers: &HeaderMap, raw: Bytes) -> Response {
        let operation = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.strip_prefix(TARGET_PREFIX))
            .unwrap_or_default()
            .to_owned();
        let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        tracing::debug!(%operation, "cognito call");
        if operation == "RevokeToken" {
            return self.revoke_token(&body);
        }
        if body["AccessToken"]
            .as_str()
            .is_some_and(|t| self.revocations.access_token_revoked(t))
        {
            return cognito_error("NotAuthorizedException", "Access Token has been revoked");
        }
        if operation == "AdminUserGlobalSignOut" {
            let answer = match self.forward(path, headers, raw).await {
                Ok(answer) => answer,
                Err(err) => return internal_error(err),
            };
            if answer.0.is_success()
                && let Err(err) = self.sign_out_email_alias(&body).await
            {
                return internal_error(err);
            }
            return answer.into_response();
        }
        match operation.as_str() {
            "UpdateUserAttributes" => {
                return self.update_user_attributes(path, headers, raw, &body).await;
            }
            "VerifyUserAttribute" => {
                return self.verify_user_attribute(path, headers, raw, &body).await;
            }
            "GetUserAttributeVerificationCode" => {
                return self
                    .attribute_verification_code(path, headers, raw, &body)
                    .await;
            }
            "AdminUpdateUserAttributes" => {
                return self
                    .admin_update_user_attributes(path, headers, raw, &body)
                    .await;
            }
            "AssociateSoftwareToken" => return self.associate_software_token(&body).await,
            "VerifySoftwareToken" => return self.verify_software_token(&body).await,
            "SetUserMFAPreference" => return self.set_user_mfa_preference(&body).await,
            "AdminSetUserMFAPreference" => {
                return self.admin_set_user_mfa_preference(&body).await;
            }
            "GetUser" | "AdminGetUser" => {
                return self.get_user_with_mfa(path, headers, raw, &body).await;
            }
            _ => {}
        }
        let Some(pool) = self.pool_for(&body).cloned() else {
            return self.pass_through(path, headers, raw).await;
        };
        let call = Call {
            pool: &pool,
            uri: path,
            headers,
            raw,
            body: &body,
        };
        if let Err(refused) = self.check_secret_hash(&operation, &call) {
            return cognito_error("NotAuthorizedException", &refused.0);
        }
        match operation.as_str() {
            "InitiateAuth" => self.initiate_auth(call).await,
            "RespondToAuthChallenge" => self.respond_to_auth_challenge(call).await,
            "SignUp" => self.sign_up(call).await,
            "ConfirmSignUp" => self.confirm_sign_up(call).await,
            "ResendConfirmationCode" => self.resend_code(call).await,
            "ForgotPassword" => self.forgot_password(call).await,
            "ConfirmForgotPassword" => self.confirm_forgot_password(call).await,
            _ => self.pass_through(path, headers, call.raw).await,
        }
    }
}
