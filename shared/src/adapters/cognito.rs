//! The identity provider port over Amazon Cognito user pools.

use super::sdk_error::service_error;
use crate::domain::{
    AccessToken, AppError, ConfirmationCode, ConfirmedUser, Email, Password, RefreshToken,
    Registered, TokenIssue, Tokens, UserId,
};
use crate::ports::{IdentityProvider, SignUpDetails, UserDirectory};
use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cognitoidentityprovider::operation::change_password::ChangePasswordError;
use aws_sdk_cognitoidentityprovider::operation::confirm_forgot_password::ConfirmForgotPasswordError;
use aws_sdk_cognitoidentityprovider::operation::confirm_sign_up::ConfirmSignUpError;
use aws_sdk_cognitoidentityprovider::operation::get_user::GetUserError;
use aws_sdk_cognitoidentityprovider::operation::global_sign_out::GlobalSignOutError;
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthError;
use aws_sdk_cognitoidentityprovider::operation::sign_up::SignUpError;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, AuthenticationResultType,
};
use base64::Engine;

pub struct CognitoIdentity {
    client: Client,
    client_id: String,
    /// Only the functions that call Cognito's admin APIs are given the pool id.
    user_pool_id: Option<String>,
}

impl CognitoIdentity {
    pub fn new(client: Client, client_id: String, user_pool_id: Option<String>) -> Self {
        Self {
            client,
            client_id,
            user_pool_id,
        }
    }

    fn pool_id(&self) -> Result<&str, AppError> {
        self.user_pool_id
            .as_deref()
            .ok_or_else(|| AppError::unexpected("USER_POOL_ID is not configured for this function"))
    }
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

fn attribute(name: &str, value: &str) -> Result<AttributeType, AppError> {
    AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(AppError::unexpected)
}

#[async_trait]
impl IdentityProvider for CognitoIdentity {
    async fn sign_up(
        &self,
        email: &Email,
        password: &Password,
        details: &SignUpDetails,
    ) -> Result<Registered, AppError> {
        let mut attributes = vec![attribute("email", email.as_str())?];
        if let Some(name) = &details.display_name {
            attributes.push(attribute("name", name.as_str())?);
        }
        if let Some(locale) = &details.locale {
            attributes.push(attribute("locale", locale.as_str())?);
        }
        let out = self
            .client
            .sign_up()
            .client_id(&self.client_id)
            .username(email.as_str())
            .password(password.expose())
            .set_user_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| match service_error(e) {
                Err(err) => err,
                Ok(SignUpError::UsernameExistsException(_)) => AppError::EmailTaken,
                Ok(SignUpError::InvalidPasswordException(e)) => AppError::validation(
                    "password",
                    e.message().unwrap_or("does not meet the password policy"),
                ),
                // A pre sign-up trigger's refusal: its message is meant for the user.
                Ok(SignUpError::UserLambdaValidationException(e)) => {
                    let reason = e
                        .message()
                        .map(strip_trigger_prefix)
                        .unwrap_or("was refused");
                    AppError::validation("email", reason.strip_prefix("email ").unwrap_or(reason))
                }
                Ok(SignUpError::InvalidParameterException(e)) => AppError::validation(
                    "request",
                    e.message().unwrap_or("has an invalid parameter"),
                ),
                Ok(
                    SignUpError::TooManyRequestsException(_)
                    | SignUpError::LimitExceededException(_),
                ) => AppError::TooManyRequests { retry_after: None },
                Ok(other) => unexpected("SignUp", other),
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
            .client_id(&self.client_id)
            .username(email.as_str())
            .confirmation_code(code.expose())
            .send()
            .await
            .map_err(|e| match service_error(e) {
                Err(err) => err,
                // An unknown account answers like a wrong code: no enumeration.
                Ok(
                    ConfirmSignUpError::CodeMismatchException(_)
                    | ConfirmSignUpError::UserNotFoundException(_),
                ) => AppError::InvalidCode,
                Ok(ConfirmSignUpError::ExpiredCodeException(_)) => AppError::ExpiredCode,
                Ok(ConfirmSignUpError::InvalidParameterException(_)) => AppError::InvalidCode,
                Ok(ConfirmSignUpError::NotAuthorizedException(_)) => AppError::AlreadyConfirmed,
                Ok(
                    ConfirmSignUpError::TooManyFailedAttemptsException(_)
                    | ConfirmSignUpError::TooManyRequestsException(_)
                    | ConfirmSignUpError::LimitExceededException(_),
                ) => AppError::TooManyRequests { retry_after: None },
                Ok(other) => unexpected("ConfirmSignUp", other),
            })?;
        Ok(())
    }

    async fn login(&self, email: &Email, password: &Password) -> Result<Tokens, AppError> {
        let out = self
            .client
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", email.as_str())
            .auth_parameters("PASSWORD", password.expose())
            .send()
            .await
            .map_err(|e| match service_error(e) {
                Err(err) => err,
                Ok(
                    InitiateAuthError::NotAuthorizedException(_)
                    | InitiateAuthError::UserNotFoundException(_),
                ) => AppError::InvalidCredentials,
                Ok(InitiateAuthError::UserNotConfirmedException(_)) => AppError::UserNotConfirmed,
                // A password Cognito cannot even parse is simply wrong.
                Ok(InitiateAuthError::InvalidParameterException(_)) => AppError::InvalidCredentials,
                Ok(InitiateAuthError::PasswordResetRequiredException(_)) => {
                    AppError::Forbidden("a password reset is required".into())
                }
                Ok(InitiateAuthError::TooManyRequestsException(_)) => {
                    AppError::TooManyRequests { retry_after: None }
                }
                Ok(other) => unexpected("InitiateAuth", other),
            })?;
        tokens_from(out.authentication_result())
    }

    async fn resend_confirmation(&self, email: &Email) -> Result<(), AppError> {
        self.client
            .resend_confirmation_code()
            .client_id(&self.client_id)
            .username(email.as_str())
            .send()
            .await
            .map(|_| ())
            .or_else(succeed_quietly)
    }

    async fn refresh(&self, token: &RefreshToken) -> Result<Tokens, AppError> {
        let out = self
            .client
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::RefreshTokenAuth)
            .auth_parameters("REFRESH_TOKEN", token.expose())
            .send()
            .await
            .map_err(|e| match service_error(e) {
                Err(err) => err,
                Ok(
                    InitiateAuthError::NotAuthorizedException(_)
                    | InitiateAuthError::UserNotFoundException(_),
                ) => AppError::Unauthenticated("the refresh token is invalid or revoked"),
                Ok(InitiateAuthError::TooManyRequestsException(_)) => {
                    AppError::TooManyRequests { retry_after: None }
                }
                Ok(other) => unexpected("InitiateAuth", other),
            })?;
        tokens_from(out.authentication_result())
    }

    async fn sign_out(&self, token: &AccessToken) -> Result<(), AppError> {
        let result = self
            .client
            .global_sign_out()
            .access_token(token.expose())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match service_error(e)? {
                // Already signed out (a retried logout): the goal is reached.
                GlobalSignOutError::NotAuthorizedException(_) => Ok(()),
                GlobalSignOutError::TooManyRequestsException(_) => {
                    Err(AppError::TooManyRequests { retry_after: None })
                }
                // The message of other errors may quote the token: keep only the kind.
                other => Err(unexpected("GlobalSignOut", other)),
            },
        }
    }

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
            .map_err(|e| match service_error(e) {
                Err(err) => err,
                Ok(
                    ChangePasswordError::NotAuthorizedException(_)
                    | ChangePasswordError::InvalidParameterException(_),
                ) => AppError::InvalidCredentials,
                Ok(ChangePasswordError::InvalidPasswordException(e)) => AppError::validation(
                    "new_password",
                    e.message().unwrap_or("does not meet the password policy"),
                ),
                Ok(
                    ChangePasswordError::LimitExceededException(_)
                    | ChangePasswordError::TooManyRequestsException(_),
                ) => AppError::TooManyRequests { retry_after: None },
                Ok(other) => unexpected("ChangePassword", other),
            })?;
        Ok(())
    }

    async fn forgot_password(&self, email: &Email) -> Result<(), AppError> {
        self.client
            .forgot_password()
            .client_id(&self.client_id)
            .username(email.as_str())
            .send()
            .await
            .map(|_| ())
            .or_else(succeed_quietly)
    }

    async fn reset_password(
        &self,
        email: &Email,
        code: &ConfirmationCode,
        new: &Password,
    ) -> Result<(), AppError> {
        self.client
            .confirm_forgot_password()
            .client_id(&self.client_id)
            .username(email.as_str())
            .confirmation_code(code.expose())
            .password(new.expose())
            .send()
            .await
            .map_err(|e| match service_error(e) {
                Err(err) => err,
                Ok(
                    ConfirmForgotPasswordError::CodeMismatchException(_)
                    | ConfirmForgotPasswordError::UserNotFoundException(_)
                    | ConfirmForgotPasswordError::NotAuthorizedException(_),
                ) => AppError::InvalidCode,
                Ok(ConfirmForgotPasswordError::ExpiredCodeException(_)) => AppError::ExpiredCode,
                Ok(ConfirmForgotPasswordError::InvalidParameterException(e)) => {
                    AppError::validation(
                        "request",
                        e.message().unwrap_or("has an invalid parameter"),
                    )
                }
                Ok(ConfirmForgotPasswordError::InvalidPasswordException(e)) => {
                    AppError::validation(
                        "new_password",
                        e.message().unwrap_or("does not meet the password policy"),
                    )
                }
                Ok(
                    ConfirmForgotPasswordError::TooManyFailedAttemptsException(_)
                    | ConfirmForgotPasswordError::LimitExceededException(_)
                    | ConfirmForgotPasswordError::TooManyRequestsException(_),
                ) => AppError::TooManyRequests { retry_after: None },
                Ok(other) => unexpected("ConfirmForgotPassword", other),
            })?;
        Ok(())
    }

    async fn sign_out_everywhere(&self, email: &Email) -> Result<UserId, AppError> {
        let pool_id = self.pool_id()?;
        let user = self
            .client
            .admin_get_user()
            .user_pool_id(pool_id)
            .username(email.as_str())
            .send()
            .await
            .map_err(|e| match service_error(e) {
                Err(err) => err,
                Ok(other) => unexpected("AdminGetUser", other),
            })?;
        let sub = user
            .user_attributes()
            .iter()
            .find(|a| a.name() == "sub")
            .and_then(|a| a.value())
            .ok_or_else(|| AppError::unexpected("the user has no sub attribute"))?;
        let user_id = UserId::parse(sub)?;
        self.client
            .admin_user_global_sign_out()
            .user_pool_id(pool_id)
            .username(email.as_str())
            .send()
            .await
            .map_err(|e| match service_error(e) {
                Err(err) => err,
                Ok(other) => unexpected("AdminUserGlobalSignOut", other),
            })?;
        Ok(user_id)
    }
}

/// Reads a user's own attributes with their access token (Cognito's `GetUser`,
/// which needs no IAM permission: the token is the authorisation).
pub struct CognitoDirectory {
    client: Client,
}

impl CognitoDirectory {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl UserDirectory for CognitoDirectory {
    async fn confirmed_user(&self, token: &AccessToken) -> Result<ConfirmedUser, AppError> {
        let out = self
            .client
            .get_user()
            .access_token(token.expose())
            .send()
            .await
            .map_err(|e| match service_error(e) {
                Err(err) => err,
                Ok(
                    GetUserError::NotAuthorizedException(_)
                    | GetUserError::UserNotFoundException(_),
                ) => AppError::Unauthenticated("the token has been revoked"),
                Ok(other) => unexpected("GetUser", other),
            })?;
        let attribute = |name: &str| {
            out.user_attributes()
                .iter()
                .find(|a| a.name() == name)
                .and_then(|a| a.value())
                .map(str::to_owned)
        };
        Ok(ConfirmedUser {
            user_id: attribute("sub").ok_or_else(|| AppError::unexpected("the user has no sub"))?,
            email: attribute("email")
                .ok_or_else(|| AppError::unexpected("the user has no email"))?,
            display_name: attribute("name"),
        })
    }
}

/// Requests whose answer must not reveal whether an account exists (resend,
/// forgot) succeed on every error Cognito itself returns: unknown, confirmed,
/// unverified, rate-limited, a failing trigger... all depend on the account. Only
/// a transport failure (Cognito unreachable) is reported, and it is the same for
/// every email.
fn succeed_quietly<E, R>(err: SdkError<E, R>) -> Result<(), AppError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let err = service_error(err)?;
    let code = err.code().unwrap_or("unknown");
    const EXPECTED: &[&str] = &[
        "UserNotFoundException",
        "InvalidParameterException",
        "NotAuthorizedException",
        "LimitExceededException",
        "CodeDeliveryFailureException",
    ];
    if EXPECTED.contains(&code) {
        tracing::info!(code, "request answered without sending a code");
    } else {
        tracing::error!(code, "request answered without sending a code");
    }
    Ok(())
}

/// An unexpected Cognito error, kept to its kind: Cognito's messages may quote
/// the token or username that was sent.
fn unexpected<E: ProvideErrorMetadata>(operation: &str, err: E) -> AppError {
    AppError::unexpected(format!(
        "Cognito {operation} failed: {}",
        err.code().unwrap_or("unknown error")
    ))
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
