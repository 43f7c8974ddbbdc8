//! Login and refresh (`ports::Authenticator`).

use super::*;

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
