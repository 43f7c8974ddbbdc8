//! The identity ports over Amazon Cognito user pools. Every failure keeps its
//! cause as an [`AwsCallError`](super::AwsCallError): operation, code and request
//! id, never Cognito's message (it can quote the token or username sent).

use super::aws::{AwsClients, Call};
use super::client_secret::AppClientSecret;
use crate::domain::messages::{NOTICE_METADATA_KEY, SIGN_UP_ATTEMPT_NOTICE};
use crate::domain::{
    AccessToken, AppError, ConfirmationCode, ConfirmedUser, Email, Password, PhoneNumber,
    RefreshToken, Registered, TokenIssue, Tokens, UserId,
};
use crate::ports::{
    AccountAdmin, Authenticator, PasswordIdentity, SignUpDetails, SignUpIdentity, UserDirectory,
};
use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cognitoidentityprovider::operation::RequestId;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, AuthenticationResultType, UserStatusType,
};
use base64::Engine;
use std::sync::Arc;

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

#[async_trait]
impl SignUpIdentity for CognitoIdentity {
    async fn sign_up(
        &self,
        email: &Email,
        password: &Password,
        details: &SignUpDetails,
    ) -> Result<Registered, AppError> {
        // No `email` attribute: with email as the username Cognito sets it from
        // the username, and the app client may not write it.
        let mut attributes = Vec::new();
        if let Some(name) = &details.display_name {
            attributes.push(attribute("name", name.as_str())?);
        }
        if let Some(locale) = &details.locale {
            attributes.push(attribute("locale", locale.as_str())?);
        }
        let out = self
            .client
            .sign_up()
            .client_id(self.client_id())
            .set_secret_hash(self.app.hash_for(email.as_str()).await?)
            .username(email.as_str())
            .password(password.expose())
            .set_user_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| {
                failure("SignUp", e, |code, err| match code {
                    "UsernameExistsException" => Some(AppError::EmailTaken),
                    "InvalidPasswordException" => Some(AppError::validation(
                        "password",
                        user_message(err, "does not meet the password policy"),
                    )),
                    // A pre sign-up trigger's refusal: its message is meant for the user.
                    "UserLambdaValidationException" => {
                        let message = user_message(err, "was refused");
                        let reason = strip_trigger_prefix(&message);
                        Some(AppError::validation(
                            "email",
                            reason.strip_prefix("email ").unwrap_or(reason),
                        ))
                    }
                    "InvalidParameterException" => Some(AppError::validation(
                        "request",
                        user_message(err, "has an invalid parameter"),
                    )),
                    _ => None,
                })
            })?;
        Ok(Registered {
            user_id: UserId::parse(out.user_sub())?,
            email: email.clone(),
            confirmed: out.user_confirmed(),
        })
    }

    async fn confirm_sign_up(
        &self,
        email: &Email,
        code: &ConfirmationCode,
    ) -> Result<(), AppError> {
        self.client
            .confirm_sign_up()
            .client_id(self.client_id())
            .set_secret_hash(self.app.hash_for(email.as_str()).await?)
            .username(email.as_str())
            .confirmation_code(code.expose())
            .send()
            .await
            .map_err(|e| {
                failure("ConfirmSignUp", e, |code, _| match code {
                    "InvalidParameterException" => Some(AppError::InvalidCode),
                    // Already confirmed: answered like a wrong code (no enumeration).
                    "NotAuthorizedException" => Some(AppError::InvalidCode),
                    other => code_refused(other),
                })
            })?;
        Ok(())
    }

    async fn resend_confirmation(&self, email: &Email) -> Result<(), AppError> {
        let sent = self
            .client
            .resend_confirmation_code()
            .client_id(self.client_id())
            .set_secret_hash(self.app.hash_for(email.as_str()).await?)
            .username(email.as_str())
            .send()
            .await;
        succeed_quietly("ResendConfirmationCode", sent)
    }

    /// A reset code with the sign-up-attempt notice (the custom message trigger
    /// writes it); Cognito refuses a reset for an unconfirmed account, which then
    /// gets a fresh confirmation code instead.
    async fn notify_existing_account(&self, email: &Email) -> Result<(), AppError> {
        let sent = self
            .client
            .forgot_password()
            .client_id(self.client_id())
            .set_secret_hash(self.app.hash_for(email.as_str()).await?)
            .username(email.as_str())
            .client_metadata(NOTICE_METADATA_KEY, SIGN_UP_ATTEMPT_NOTICE)
            .send()
            .await;
        match sent {
            Err(SdkError::ServiceError(err))
                if err.err().code() == Some("InvalidParameterException") =>
            {
                self.resend_confirmation(email).await
            }
            other => succeed_quietly("ForgotPassword", other),
        }
    }

    async fn delete_unconfirmed(&self, email: &Email) -> Result<bool, AppError> {
        let found = self
            .client
            .admin_get_user()
            .user_pool_id(self.app.user_pool_id())
            .username(email.as_str())
            .send()
            .await;
        let user = match found {
            Ok(user) => user,
            Err(e) => {
                return match failure("AdminGetUser", e, |code, _| match code {
                    "UserNotFoundException" => Some(AppError::NotFound("user")),
                    _ => None,
                }) {
                    AppError::NotFound(_) => Ok(false),
                    other => Err(other),
                };
            }
        };
        if user.user_status() != Some(&UserStatusType::Unconfirmed) {
            return Ok(false);
        }
        let deleted = self
            .client
            .admin_delete_user()
            .user_pool_id(self.app.user_pool_id())
            .username(user.username())
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(e) => match failure("AdminDeleteUser", e, |code, _| match code {
                // Gone meanwhile (a racing sign-up replaced it): as good.
                "UserNotFoundException" => Some(AppError::NotFound("user")),
                _ => None,
            }) {
                AppError::NotFound(_) => Ok(true),
                other => Err(other),
            },
        }
    }

    async fn opens_unconfirmed(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<bool, AppError> {
        // Cognito checks the password before it says "not confirmed".
        match self.login(email, password).await {
            Err(AppError::UserNotConfirmed) => Ok(true),
            // A confirmed account (the session it opened is never handed
            // out), a wrong password, an unknown address.
            Ok(_) | Err(AppError::InvalidCredentials | AppError::Forbidden(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }
}

#[async_trait]
impl Authenticator for CognitoIdentity {
    async fn login(&self, email: &Email, password: &Password) -> Result<Tokens, AppError> {
        let out = self
            .client
            .initiate_auth()
            .client_id(self.client_id())
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .set_auth_parameters(with_secret_hash(
                self.app.hash_for(email.as_str()).await?,
                [
                    ("USERNAME", email.as_str()),
                    ("PASSWORD", password.expose()),
                ],
            ))
            .send()
            .await
            .map_err(|e| {
                failure("InitiateAuth", e, |code, _| match code {
                    // A password Cognito cannot even parse is simply wrong.
                    "NotAuthorizedException"
                    | "UserNotFoundException"
                    | "InvalidParameterException" => Some(AppError::InvalidCredentials),
                    "UserNotConfirmedException" => Some(AppError::UserNotConfirmed),
                    "PasswordResetRequiredException" => {
                        Some(AppError::Forbidden("a password reset is required".into()))
                    }
                    _ => None,
                })
            })?;
        let mut tokens = tokens_from(out.authentication_result())?;
        bind_refresh_token(&mut tokens);
        Ok(tokens)
    }

    async fn refresh(&self, token: &RefreshToken) -> Result<Tokens, AppError> {
        let (user_id, token) = unbind_refresh_token(token)?;
        let out = self
            .client
            .initiate_auth()
            .client_id(self.client_id())
            .auth_flow(AuthFlowType::RefreshTokenAuth)
            .set_auth_parameters(with_secret_hash(
                self.app.hash_for(user_id.as_str()).await?,
                [("REFRESH_TOKEN", token)],
            ))
            .send()
            .await
            .map_err(|e| {
                failure("InitiateAuth", e, |code, _| match code {
                    "NotAuthorizedException" | "UserNotFoundException" => Some(
                        AppError::Unauthenticated("the refresh token is invalid or revoked"),
                    ),
                    _ => None,
                })
            })?;
        tokens_from(out.authentication_result())
    }
}

#[async_trait]
impl PasswordIdentity for CognitoIdentity {
    async fn change_password(
        &self,
        token: &AccessToken,
        current: &Password,
        new: &Password,
    ) -> Result<(), AppError> {
        self.client
            .change_password()
            .access_token(token.expose())
            .previous_password(current.expose())
            .proposed_password(new.expose())
            .send()
            .await
            .map_err(|e| {
                failure("ChangePassword", e, |code, err| match code {
                    "NotAuthorizedException" | "InvalidParameterException" => {
                        Some(AppError::InvalidCredentials)
                    }
                    "InvalidPasswordException" => Some(AppError::validation(
                        "new_password",
                        user_message(err, "does not meet the password policy"),
                    )),
                    _ => None,
                })
            })?;
        Ok(())
    }

    async fn forgot_password(&self, email: &Email) -> Result<(), AppError> {
        let sent = self
            .client
            .forgot_password()
            .client_id(self.client_id())
            .set_secret_hash(self.app.hash_for(email.as_str()).await?)
            .username(email.as_str())
            .send()
            .await;
        succeed_quietly("ForgotPassword", sent)
    }

    async fn reset_password(
        &self,
        email: &Email,
        code: &ConfirmationCode,
        new: &Password,
    ) -> Result<(), AppError> {
        self.client
            .confirm_forgot_password()
            .client_id(self.client_id())
            .set_secret_hash(self.app.hash_for(email.as_str()).await?)
            .username(email.as_str())
            .confirmation_code(code.expose())
            .password(new.expose())
            .send()
            .await
            .map_err(|e| {
                failure("ConfirmForgotPassword", e, |code, err| match code {
                    "NotAuthorizedException" => Some(AppError::InvalidCode),
                    "InvalidParameterException" => Some(AppError::validation(
                        "request",
                        user_message(err, "has an invalid parameter"),
                    )),
                    "InvalidPasswordException" => Some(AppError::validation(
                        "new_password",
                        user_message(err, "does not meet the password policy"),
                    )),
                    other => code_refused(other),
                })
            })?;
        Ok(())
    }
}

#[async_trait]
impl AccountAdmin for CognitoAdmin {
    async fn sign_out_everywhere(&self, email: &Email) -> Result<UserId, AppError> {
        let user = self
            .client
            .admin_get_user()
            .user_pool_id(&self.user_pool_id)
            .username(email.as_str())
            .send()
            .await
            .map_err(|e| failure("AdminGetUser", e, |_, _| None))?;
        let sub = find_attribute(user.user_attributes(), "sub")
            .ok_or_else(|| AppError::unexpected("the user has no sub attribute"))?;
        let user_id = UserId::parse(sub)?;
        self.client
            .admin_user_global_sign_out()
            .user_pool_id(&self.user_pool_id)
            .username(email.as_str())
            .send()
            .await
            .map_err(|e| failure("AdminUserGlobalSignOut", e, |_, _| None))?;
        Ok(user_id)
    }

    async fn sign_out_user(&self, username: &str) -> Result<(), AppError> {
        self.client
            .admin_user_global_sign_out()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                match failure("AdminUserGlobalSignOut", e, |code, _| {
                    (code == "UserNotFoundException").then_some(AppError::NotFound("user"))
                }) {
                    // A deleted user has no refresh tokens left; worth a look all the same.
                    AppError::NotFound(_) => {
                        tracing::warn!("sign-out of a user Cognito does not know");
                        Ok(())
                    }
                    other => Err(other),
                }
            })
    }

    async fn set_phone(&self, username: &str, phone: &PhoneNumber) -> Result<(), AppError> {
        self.client
            .admin_update_user_attributes()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .user_attributes(attribute("phone_number", phone.as_str())?)
            .user_attributes(attribute("phone_number_verified", "false")?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                failure("AdminUpdateUserAttributes", e, |code, _| match code {
                    "UserNotFoundException" => {
                        Some(AppError::Unauthenticated("the account no longer exists"))
                    }
                    _ => None,
                })
            })
    }

    async fn request_email_change(&self, username: &str, email: &Email) -> Result<bool, AppError> {
        let sent = self
            .client
            .admin_update_user_attributes()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .user_attributes(attribute("email", email.as_str())?)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) => match failure("AdminUpdateUserAttributes", e, |code, _| match code {
                "AliasExistsException" => Some(AppError::EmailTaken),
                // The token outlived its user (deleted through Cognito).
                "UserNotFoundException" => {
                    Some(AppError::Unauthenticated("the account no longer exists"))
                }
                _ => None,
            }) {
                // The same answer as for a free address: nothing is sent, nothing changes.
                AppError::EmailTaken => {
                    tracing::info!("email change to an address another account has");
                    Ok(false)
                }
                other => Err(other),
            },
        }
    }

    async fn delete_user(&self, username: &str) -> Result<(), AppError> {
        self.client
            .admin_delete_user()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                match failure("AdminDeleteUser", e, |code, _| {
                    (code == "UserNotFoundException").then_some(AppError::NotFound("user"))
                }) {
                    AppError::NotFound(_) => Ok(()),
                    other => Err(other),
                }
            })
    }

    async fn set_enabled(&self, username: &str, enabled: bool) -> Result<(), AppError> {
        if enabled {
            self.enable(username).await
        } else {
            self.disable(username).await
        }
    }
}

impl CognitoAdmin {
    async fn enable(&self, username: &str) -> Result<(), AppError> {
        self.client
            .admin_enable_user()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                failure("AdminEnableUser", e, |code, _| {
                    (code == "UserNotFoundException").then_some(AppError::NotFound("user"))
                })
            })
    }

    async fn disable(&self, username: &str) -> Result<(), AppError> {
        self.client
            .admin_disable_user()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                failure("AdminDisableUser", e, |code, _| {
                    (code == "UserNotFoundException").then_some(AppError::NotFound("user"))
                })
            })
    }
}

impl CognitoDirectory {
    /// Confirms an attribute with the code Cognito sent for it.
    async fn verify_attribute(
        &self,
        token: &AccessToken,
        name: &str,
        code: &ConfirmationCode,
    ) -> Result<(), AppError> {
        self.client
            .verify_user_attribute()
            .access_token(token.expose())
            .attribute_name(name)
            .code(code.expose())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                failure("VerifyUserAttribute", e, |c, _| match c {
                    "NotAuthorizedException" => {
                        Some(AppError::Unauthenticated("the token has been revoked"))
                    }
                    "InvalidParameterException" => Some(AppError::InvalidCode),
                    other => code_refused(other),
                })
            })
    }
}

#[async_trait]
impl UserDirectory for CognitoDirectory {
    async fn send_phone_code(&self, token: &AccessToken) -> Result<(), AppError> {
        self.client
            .get_user_attribute_verification_code()
            .access_token(token.expose())
            .attribute_name("phone_number")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                failure(
                    "GetUserAttributeVerificationCode",
                    e,
                    |code, _| match code {
                        "NotAuthorizedException" => {
                            Some(AppError::Unauthenticated("the token has been revoked"))
                        }
                        // The trigger found no pass: a direct call with the same
                        // token spent it first. Nothing was sent this time.
                        "UserLambdaValidationException" => Some(AppError::Conflict(
                            "the code was not sent (another request took its turn); ask again",
                        )),
                        _ => None,
                    },
                )
            })
    }

    async fn verify_phone(
        &self,
        token: &AccessToken,
        code: &ConfirmationCode,
    ) -> Result<(), AppError> {
        self.verify_attribute(token, "phone_number", code).await
    }

    async fn verify_email(
        &self,
        token: &AccessToken,
        code: &ConfirmationCode,
    ) -> Result<(), AppError> {
        self.verify_attribute(token, "email", code).await
    }

    async fn confirmed_user(&self, token: &AccessToken) -> Result<ConfirmedUser, AppError> {
        let out = self
            .client
            .get_user()
            .access_token(token.expose())
            .send()
            .await
            .map_err(|e| {
                failure("GetUser", e, |code, _| match code {
                    "NotAuthorizedException" | "UserNotFoundException" => {
                        Some(AppError::Unauthenticated("the token has been revoked"))
                    }
                    _ => None,
                })
            })?;
        let attributes = out.user_attributes();
        ConfirmedUser::from_attributes(
            find_attribute(attributes, "sub"),
            find_attribute(attributes, "email"),
            find_attribute(attributes, "name"),
        )
    }
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
