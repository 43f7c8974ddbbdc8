//! Calls with the user's own access token (`ports::UserDirectory`).

use super::*;

impl CognitoDirectory {
    /// The token's user's attributes (`GetUser`, authorised by the token).
    async fn own_attributes(&self, token: &AccessToken) -> Result<Vec<AttributeType>, AppError> {
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
        Ok(out.user_attributes().to_vec())
    }

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
                        // The number cannot take SMS (opted out, or not a mobile).
                        "CodeDeliveryFailureException" => Some(AppError::validation(
                            "phone_number",
                            "cannot receive SMS; give another number",
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
    ) -> Result<String, AppError> {
        self.verify_attribute(token, "phone_number", code).await?;
        let attributes = self.own_attributes(token).await?;
        let attributes = attributes.as_slice();
        match (
            find_attribute(attributes, "phone_number"),
            find_attribute(attributes, "phone_number_verified"),
        ) {
            (Some(phone), Some("true")) => Ok(phone.to_owned()),
            // Changed again since the code was sent: that code proves nothing now.
            _ => Err(AppError::InvalidCode),
        }
    }

    async fn verify_email(
        &self,
        token: &AccessToken,
        code: &ConfirmationCode,
    ) -> Result<(), AppError> {
        self.verify_attribute(token, "email", code).await
    }

    async fn confirmed_user(&self, token: &AccessToken) -> Result<ConfirmedUser, AppError> {
        let attributes = self.own_attributes(token).await?;
        let attributes = attributes.as_slice();
        ConfirmedUser::from_attributes(
            find_attribute(attributes, "sub"),
            find_attribute(attributes, "email"),
            find_attribute(attributes, "name"),
        )
    }
}
