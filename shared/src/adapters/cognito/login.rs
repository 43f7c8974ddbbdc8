//! Login and refresh (`ports::Authenticator`).

use super::*;

#[async_trait]
impl Authenticator for CognitoIdentity {
    async fn login(&self, email: &Email, password: &Password) -> Result<SignIn, AppError> {
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
        if out.challenge_name() == Some(&ChallengeNameType::SoftwareTokenMfa) {
            let (Some(session), Some(user)) = (
                out.session(),
                out.challenge_parameters()
                    .and_then(|p| p.get("USER_ID_FOR_SRP")),
            ) else {
                return Err(AppError::unexpected(
                    "Cognito's TOTP challenge came without session or user",
                ));
            };
            return Ok(SignIn::TotpRequired(MfaChallenge {
                session: session.to_owned(),
                user_id: UserId::parse(user).map_err(AppError::unexpected)?,
                email: email.clone(),
            }));
        }
        let mut tokens = tokens_from(out.authentication_result())?;
        bind_refresh_token(&mut tokens);
        Ok(SignIn::Tokens(tokens))
    }

    async fn answer_totp(
        &self,
        challenge: &MfaChallenge,
        code: &TotpCode,
    ) -> Result<Tokens, AppError> {
        // The challenge's user by their internal name, the `sub` (what
        // Cognito's USER_ID_FOR_SRP names and the SECRET_HASH is over).
        let username = challenge.user_id.as_str();
        let out = self
            .client
            .respond_to_auth_challenge()
            .client_id(self.client_id())
            .challenge_name(ChallengeNameType::SoftwareTokenMfa)
            .session(&challenge.session)
            .set_challenge_responses(with_secret_hash(
                self.app.hash_for(username).await?,
                [
                    ("USERNAME", username),
                    ("SOFTWARE_TOKEN_MFA_CODE", code.expose()),
                ],
            ))
            .send()
            .await
            .map_err(|e| {
                failure("RespondToAuthChallenge", e, |code, _| match code {
                    "CodeMismatchException" | "ExpiredCodeException" => {
                        Some(AppError::WrongMfaCode)
                    }
                    "NotAuthorizedException" | "UserNotFoundException" => {
                        Some(AppError::InvalidMfaSession)
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

    async fn revoke(&self, token: &RefreshToken) -> Result<(), AppError> {
        let (_, token) = unbind_refresh_token(token)?;
        let out = self
            .client
            .revoke_token()
            .token(token)
            .client_id(self.client_id())
            .set_client_secret(self.app.client_secret().await?)
            .send()
            .await;
        // Every refusal is a failure: a session must not be called ended while
        // its refresh token might still work (a wrong client secret, say).
        out.map(drop)
            .map_err(|e| failure("RevokeToken", e, |_, _| None))
    }
}
