//! The user's authenticator app as Cognito keeps it (`ports::TotpIdentity`):
//! its software token, called with the user's own access token (no IAM).

use super::*;

#[async_trait]
impl TotpIdentity for CognitoDirectory {
    async fn associate(&self, token: &AccessToken) -> Result<TotpSecret, AppError> {
        let out = self
            .client
            .associate_software_token()
            .access_token(token.expose())
            .send()
            .await
            .map_err(|e| failure("AssociateSoftwareToken", e, |_, _| None))?;
        TotpSecret::from_base32(out.secret_code().unwrap_or_default())
    }

    async fn verify(&self, token: &AccessToken, code: &TotpCode) -> Result<(), AppError> {
        self.client
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
                    _ => None,
                })
            })?;
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
            .map_err(|e| failure("SetUserMFAPreference", e, |_, _| None))?;
        Ok(())
    }
}
