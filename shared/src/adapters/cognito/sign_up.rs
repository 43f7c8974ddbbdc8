//! Sign-up, confirmation and resent codes (`ports::SignUpIdentity`).

use super::*;

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
