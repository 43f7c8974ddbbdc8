//! A phone number for SMS: set, then verified with a code by SMS.

use super::*;

/// A phone number for SMS: set, then verified with the code sent to it by SMS.
/// Notifications go by SMS only to a verified number. Only numbers in the
/// deployment's countries get a code, each behind the day's caps, and Cognito
/// sends one only against a pass granted here (`ports::SmsPasses`).
#[derive(Clone)]
pub struct PhoneService {
    store: Arc<dyn ProfileStore>,
    directory: Arc<dyn UserDirectory>,
    accounts: Arc<dyn AccountAdmin>,
    passes: Arc<dyn SmsPasses>,
    countries: SmsCountries,
    throttle: Throttle,
    audit: Audit,
    guard: SessionGuard,
}

/// The parts of a [`PhoneService`].
pub struct PhoneParts {
    pub store: Arc<dyn ProfileStore>,
    pub directory: Arc<dyn UserDirectory>,
    pub accounts: Arc<dyn AccountAdmin>,
    pub passes: Arc<dyn SmsPasses>,
    pub countries: SmsCountries,
    pub throttle: Throttle,
    pub audit: Audit,
    pub guard: SessionGuard,
}

impl PhoneService {
    /// How long a pass waits for Cognito's call to the trigger: the call
    /// follows at once, so a minute covers the SDK's retries.
    const PASS_SECONDS: i64 = 60;

    pub fn new(parts: PhoneParts) -> Self {
        let PhoneParts {
            store,
            directory,
            accounts,
            passes,
            countries,
            throttle,
            audit,
            guard,
        } = parts;
        Self {
            store,
            directory,
            accounts,
            passes,
            countries,
            throttle,
            audit,
            guard,
        }
    }

    async fn current(&self, caller: &Caller) -> Result<crate::domain::Profile, AppError> {
        current_profile(&*self.store, &self.guard, caller)
            .await?
            .ok_or(AppError::NotFound("profile"))
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn request(
        &self,
        caller: &Caller,
        phone: &PhoneNumber,
        origin: &Origin,
    ) -> Result<crate::services::Accepted, AppError> {
        self.countries.admit(phone)?;
        self.current(caller).await?;
        self.throttle
            .sms_attempt(&caller.user_id, phone, origin)
            .await?;
        self.accounts.set_phone(&caller.username, phone).await?;
        let until = chrono::Utc::now().timestamp() + Self::PASS_SECONDS;
        self.passes
            .grant(&caller.user_id, phone.as_str(), until)
            .await?;
        self.directory.send_phone_code(&caller.access_token).await?;
        // Only once the code is on its way: a number that cannot be texted
        // leaves the verified one in place for notifications.
        self.store
            .set_phone(&caller.user_id, phone.as_str(), false)
            .await?;
        Ok(crate::services::Accepted {
            message: "A code has been sent to the number by SMS.",
        })
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn verify(
        &self,
        caller: &Caller,
        code: &crate::domain::ConfirmationCode,
        origin: &Origin,
    ) -> Result<crate::domain::Profile, AppError> {
        let profile = self.current(caller).await?;
        profile.phone_number.ok_or(AppError::InvalidCode)?;
        // The number marked verified is the one the code proved (Cognito's),
        // not whatever a racing request last wrote to the profile.
        let mut proved = None;
        tried_code(
            &self.throttle,
            &self.audit,
            caller,
            CodePurpose::PhoneChange,
            origin,
            async {
                proved = Some(
                    self.directory
                        .verify_phone(&caller.access_token, code)
                        .await?,
                );
                Ok(())
            },
        )
        .await?;
        let phone = proved.ok_or(AppError::InvalidCode)?;
        with_retries(|| self.store.set_phone(&caller.user_id, &phone, true)).await?;
        self.audit
            .user(&caller.user_id, AuditAction::PhoneChanged, Some(origin))
            .await;
        self.current(caller).await
    }
}
