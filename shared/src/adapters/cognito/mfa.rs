//! The user's authenticator app as Cognito keeps it (`ports::TotpIdentity`):
//! its software token, called with the user's own access token (no IAM).

use super::*;
use aws_sdk_cognitoidentityprovider::types::VerifySoftwareTokenResponseType;

/// A token Cognito no longer takes (revoked, or the user signed out).
fn token_refused(code: &str) -> Option<AppError> {
    (code == "NotAuthorizedException")
        .then_some(AppError::Unauthenticated("the token has been revoked"))
}

#[async_trait]
impl crate::ports::MfaAdmin for CognitoAdmin {
    async fn turn_off_totp(&self, username: &str) -> Result<(), AppError> {
        self.client
            .admin_set_user_mfa_preference()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .software_token_mfa_settings(
                SoftwareTokenMfaSettingsType::builder()
                    .enabled(false)
                    .preferred_mfa(false)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                failure("AdminSetUserMFAPreference", e, |code, _| {
                    (code == "UserNotFoundException").then_some(AppError::NotFound("user"))
                })
            })?;
        Ok(())
    }
}

#[async_trait]
impl TotpIdentity for CognitoDirectory {
    async fn associate(&self, token: &AccessToken) -> Result<TotpSecret, AppError> {
        let out = self
            .client
            .associate_software_token()
            .access_token(token.expose())
            .send()
            .await
            .map_err(|e| failure("AssociateSoftwareToken", e, |code, _| token_refused(code)))?;
        TotpSecret::from_base32(out.secret_code().unwrap_or_default())
    }

    async fn verify(&self, token: &AccessToken, code: &TotpCode) -> Result<(), AppError> {
        let out = self
            .client
            .verify_software_token()
            .access_token(token.expose())
            .user_code(code.expose())
            .friendly_device_name("Gatehouse authenticator")
            .send()
            .await
            .map_err(|e| {
                failure("VerifySoftwareToken", e, |code, _| match code {
                    "EnableSoftwareTokenMFAException" | "CodeMismatchException" => {
                        Some(AppError::WrongMfaCode)
                    }
                    // No association to verify (answered twice, or replaced).
                    "InvalidParameterException" => Some(AppError::Conflict(
                        "no enrolment is waiting for a code: start again",
                    )),
                    other => token_refused(other),
                })
            })?;
        // A 200 can still say ERROR.
        if out.status() != Some(&VerifySoftwareTokenResponseType::Success) {
            return Err(AppError::WrongMfaCode);
        }
        Ok(())
    }

    async fn set_enabled(&self, token: &AccessToken, enabled: bool) -> Result<(), AppError> {
        self.client
            .set_user_mfa_preference()
            .access_token(token.expose())
            .software_token_mfa_settings(
                SoftwareTokenMfaSettingsType::builder()
                    .enabled(enabled)
                    .preferred_mfa(enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| failure("SetUserMFAPreference", e, |code, _| token_refused(code)))?;
        Ok(())
    }
}
