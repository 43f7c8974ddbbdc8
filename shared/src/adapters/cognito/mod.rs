//! The identity ports over Amazon Cognito user pools. Every failure keeps its
//! cause as an [`AwsCallError`](super::AwsCallError): operation, code and request
//! id, never Cognito's message (it can quote the token or username sent).

use super::aws::{AwsClients, Call};
use super::client_secret::AppClientSecret;
use crate::domain::messages::{NOTICE_METADATA_KEY, SIGN_UP_ATTEMPT_NOTICE};
use crate::domain::mfa::{MfaChallenge, SignIn, TotpCode, TotpSecret};
use crate::domain::{
    AccessToken, AppError, ConfirmationCode, ConfirmedUser, Email, Password, PhoneNumber,
    RefreshToken, Registered, TokenIssue, Tokens, UserId,
};
use crate::ports::{
    AccountAdmin, Authenticator, PasswordIdentity, SignUpDetails, SignUpIdentity, TotpIdentity,
    UserDirectory,
};
use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cognitoidentityprovider::operation::RequestId;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, AuthenticationResultType, ChallengeNameType,
    SoftwareTokenMfaSettingsType, UserStatusType,
};
use base64::Engine;
use std::sync::Arc;

mod admin;
mod directory;
mod login;
mod mfa;
mod passwords;
mod sign_up;

/// Cognito's public APIs, called as the API's confidential app client: each call
/// carries the client id and `SECRET_HASH` (see [`AppClientSecret`]); a code or
/// the user's own token is the rest of the authorisation.
pub struct CognitoIdentity {
    client: Client,
    app: Arc<AppClientSecret>,
}

impl CognitoIdentity {
    pub fn new(clients: &AwsClients, app: Arc<AppClientSecret>) -> Self {
        Self {
            client: clients.cognito(),
            app,
        }
    }

    fn client_id(&self) -> &str {
        self.app.client_id()
    }
}

/// Cognito computes a refresh's `SECRET_HASH` over the user's internal name (the
/// `sub` in an email-as-username pool), which a refresh token does not reveal, so
/// the token Gatehouse hands out is `<sub>.<Cognito's token>`. Changing the
/// prefix gains nothing: the hash then names another user and Cognito refuses.
fn bind_refresh_token(tokens: &mut Tokens) {
    if let (Some(token), Some(issue)) = (tokens.refresh_token.as_mut(), tokens.issued.as_ref()) {
        *token = format!("{}.{token}", issue.user_id);
    }
}

fn unbind_refresh_token(token: &RefreshToken) -> Result<(UserId, &str), AppError> {
    const REFUSED: AppError = AppError::Unauthenticated("the refresh token is invalid or revoked");
    let (user, token) = token.expose().split_once('.').ok_or(REFUSED)?;
    Ok((UserId::parse(user).map_err(|_| REFUSED)?, token))
}

/// A user's own record, read with their access token (`GetUser` needs no IAM
/// permission and no app client: the token is the authorisation).
pub struct CognitoDirectory {
    client: Client,
}

impl CognitoDirectory {
    pub fn new(clients: &AwsClients) -> Self {
        Self {
            client: clients.cognito(),
        }
    }
}

/// Cognito's admin APIs on one pool: these need IAM permissions and the pool id.
pub struct CognitoAdmin {
    client: Client,
    user_pool_id: String,
}

impl CognitoAdmin {
    pub fn new(clients: &AwsClients, user_pool_id: String) -> Self {
        Self {
            client: clients.cognito(),
            user_pool_id,
        }
    }
}

/// Translates a failed Cognito call: `expected` maps the codes this operation
/// gives a meaning to; the rate limits every operation shares, transport
/// failures and anything else are handled here, each with its typed cause.
fn failure<E, R>(
    operation: &'static str,
    err: SdkError<E, R>,
    expected: impl FnOnce(&str, &E) -> Option<AppError>,
) -> AppError
where
    E: ProvideErrorMetadata + RequestId + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let call = Call::cognito(operation);
    match call.split(err) {
        Ok(err) => service_failure(call, &err, expected),
        Err(app) => app,
    }
}

/// [`failure`] for a service error already split from its transport.
fn service_failure<E: ProvideErrorMetadata + RequestId>(
    call: Call,
    err: &E,
    expected: impl FnOnce(&str, &E) -> Option<AppError>,
) -> AppError {
    let code = err.code().unwrap_or_default();
    if let Some(mapped) = expected(code, err) {
        return mapped;
    }
    match code {
        "TooManyRequestsException"
        | "LimitExceededException"
        | "TooManyFailedAttemptsException" => AppError::TooManyRequests { retry_after: None },
        _ => call.failed(err),
    }
}

/// How Cognito refuses a sign-up or reset code. An unknown account answers like
/// a wrong code: no enumeration.
fn code_refused(code: &str) -> Option<AppError> {
    match code {
        "CodeMismatchException" | "UserNotFoundException" => Some(AppError::InvalidCode),
        "ExpiredCodeException" => Some(AppError::ExpiredCode),
        _ => None,
    }
}

/// Cognito's message for the errors whose message is meant for the user (a
/// password rule, a trigger's refusal), or `fallback`.
fn user_message<E: ProvideErrorMetadata>(err: &E, fallback: &'static str) -> String {
    err.message().unwrap_or(fallback).to_owned()
}

/// Who a freshly issued access token is for and when it was issued. The token
/// comes straight from Cognito over TLS, so its payload is read, not verified.
fn token_issue(access_token: &str) -> Option<TokenIssue> {
    let payload = access_token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(TokenIssue {
        user_id: UserId::parse(claims["sub"].as_str()?).ok()?,
        issued_at: claims["iat"].as_i64()?,
        session_id: claims["origin_jti"].as_str().map(str::to_owned),
    })
}

fn tokens_from(result: Option<&AuthenticationResultType>) -> Result<Tokens, AppError> {
    let Some(result) = result else {
        // A challenge (e.g. NEW_PASSWORD_REQUIRED) that this API does not offer.
        return Err(AppError::Forbidden(
            "this account needs an action this API does not support yet".into(),
        ));
    };
    match (result.access_token(), result.id_token()) {
        (Some(access), Some(id)) => Ok(Tokens {
            access_token: access.to_owned(),
            id_token: id.to_owned(),
            refresh_token: result.refresh_token().map(str::to_owned),
            token_type: "Bearer",
            expires_in: result.expires_in(),
            issued: token_issue(access),
        }),
        _ => Err(AppError::unexpected("Cognito returned no tokens")),
    }
}

/// `InitiateAuth`'s parameters, with `SECRET_HASH` when the client has a secret.
fn with_secret_hash<const N: usize>(
    hash: Option<String>,
    parameters: [(&str, &str); N],
) -> Option<std::collections::HashMap<String, String>> {
    let mut all: std::collections::HashMap<String, String> = parameters
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if let Some(hash) = hash {
        all.insert("SECRET_HASH".into(), hash);
    }
    Some(all)
}

fn attribute(name: &str, value: &str) -> Result<AttributeType, AppError> {
    AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(AppError::unexpected)
}

/// The value of one attribute in Cognito's list form.
fn find_attribute<'a>(attributes: &'a [AttributeType], name: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|a| a.name() == name)
        .and_then(|a| a.value())
}

/// Requests whose answer must not reveal whether an account exists (resend,
/// forgot) succeed on every error Cognito itself returns: unknown, confirmed,
/// unverified, rate-limited, a failing trigger... all depend on the account. Only
/// a transport failure (Cognito unreachable) is reported, and it is the same for
/// every email.
fn succeed_quietly<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> Result<(), AppError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let Err(err) = result else {
        return Ok(());
    };
    let err = Call::cognito(operation).split(err)?;
    let code = err.code().unwrap_or("unknown");
    const EXPECTED: &[&str] = &[
        "UserNotFoundException",
        "InvalidParameterException",
        "NotAuthorizedException",
        "LimitExceededException",
        "CodeDeliveryFailureException",
    ];
    if EXPECTED.contains(&code) {
        tracing::info!(operation, code, "request answered without sending a code");
    } else {
        tracing::error!(operation, code, "request answered without sending a code");
    }
    Ok(())
}

/// Cognito wraps a trigger's message as "PreSignUp failed with error <message>.".
fn strip_trigger_prefix(message: &str) -> &str {
    message
        .split_once("failed with error ")
        .map(|(_, rest)| rest.trim_end_matches('.'))
        .unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::strip_trigger_prefix;

    #[test]
    fn trigger_messages_lose_cognitos_wrapper() {
        assert_eq!(
            strip_trigger_prefix(
                "PreSignUp failed with error sign-ups from this domain are not allowed."
            ),
            "sign-ups from this domain are not allowed"
        );
        assert_eq!(strip_trigger_prefix("plain"), "plain");
    }
}
