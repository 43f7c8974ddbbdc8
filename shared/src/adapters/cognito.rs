//! The identity provider port over Amazon Cognito user pools.

use super::sdk_error::service_error;
use crate::domain::{
    AppError, ConfirmationCode, DisplayName, Email, Password, Registered, Tokens, UserId,
};
use crate::ports::IdentityProvider;
use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::operation::confirm_sign_up::ConfirmSignUpError;
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthError;
use aws_sdk_cognitoidentityprovider::operation::sign_up::SignUpError;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType};

pub struct CognitoIdentity {
    client: Client,
    client_id: String,
}

impl CognitoIdentity {
    pub fn new(client: Client, client_id: String) -> Self {
        Self { client, client_id }
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
        display_name: Option<&DisplayName>,
    ) -> Result<Registered, AppError> {
        let mut attributes = vec![attribute("email", email.as_str())?];
        if let Some(name) = display_name {
            attributes.push(attribute("name", name.as_str())?);
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
                Ok(SignUpError::UserLambdaValidationException(e)) => AppError::validation(
                    "email",
                    e.message()
                        .map(strip_trigger_prefix)
                        .unwrap_or("was refused"),
                ),
                Ok(SignUpError::InvalidParameterException(e)) => AppError::validation(
                    "request",
                    e.message().unwrap_or("has an invalid parameter"),
                ),
                Ok(
                    SignUpError::TooManyRequestsException(_)
                    | SignUpError::LimitExceededException(_),
                ) => AppError::TooManyRequests { retry_after: None },
                Ok(other) => AppError::unexpected(other),
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
                Ok(ConfirmSignUpError::NotAuthorizedException(_)) => AppError::AlreadyConfirmed,
                Ok(
                    ConfirmSignUpError::TooManyFailedAttemptsException(_)
                    | ConfirmSignUpError::TooManyRequestsException(_)
                    | ConfirmSignUpError::LimitExceededException(_),
                ) => AppError::TooManyRequests { retry_after: None },
                Ok(other) => AppError::unexpected(other),
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
                Ok(InitiateAuthError::PasswordResetRequiredException(_)) => {
                    AppError::Forbidden("a password reset is required".into())
                }
                Ok(InitiateAuthError::TooManyRequestsException(_)) => {
                    AppError::TooManyRequests { retry_after: None }
                }
                Ok(other) => AppError::unexpected(other),
            })?;
        let Some(result) = out.authentication_result() else {
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
            }),
            _ => Err(AppError::unexpected("Cognito returned no tokens")),
        }
    }
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
