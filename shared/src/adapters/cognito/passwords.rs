//! Password change, forgot and reset (`ports::PasswordIdentity`).

use super::*;

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
