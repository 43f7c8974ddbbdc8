//! Changes to an account whose authenticator app is on: the step-up check
//! (`mfa_code`: the app's current code or a recovery code), turning the app
//! off, and a new set of recovery codes.
//!
//! A TOTP code for a step-up is checked by Gatehouse against the sealed secret
//! (Cognito has no call that checks a code outside sign-in), and taken once:
//! the record keeps the latest step used, and a code of that step or an
//! earlier one is refused.

use super::mfa::{
    TotpEnabled, check_callers_password, fresh_recovery_codes, second_factor_settled,
    second_factor_try,
};
use super::sessions::SessionGuard;
use crate::domain::audit::AuditAction;
use crate::domain::mfa::{RecoveryCode, TotpCode, TotpSecret, matching_digest, totp_step};
use crate::domain::{AppError, Caller, Origin, Password, UserId};
use crate::ports::{Authenticator, MfaRecord, MfaStore, SecretSealer, TotpIdentity, UserDirectory};
use crate::services::{Audit, Notices, Throttle};
use chrono::Utc;
use std::sync::Arc;

/// Tells the owner by email that their second factor changed (`event`:
/// `totp_enabled`, `totp_disabled`, `recovery_code_used` with `codes_left`,
/// `recovery_codes_replaced`), in their language.
pub async fn tell(notices: &Notices, user: &UserId, event: &'static str, codes_left: usize) {
    let mut data = serde_json::Map::new();
    data.insert("event".into(), event.into());
    data.insert("codes_left".into(), codes_left.into());
    notices
        .send(
            Notices::moment_id("second-factor", user),
            user,
            "second-factor",
            data,
            None,
        )
        .await;
}

/// The second factor a sensitive change asks for.
#[derive(Clone)]
pub struct StepUp {
    store: Arc<dyn MfaStore>,
    sealer: Arc<dyn SecretSealer>,
    throttle: Throttle,
    audit: Audit,
    notices: Notices,
}

impl StepUp {
    pub fn new(
        store: Arc<dyn MfaStore>,
        sealer: Arc<dyn SecretSealer>,
        throttle: Throttle,
        audit: Audit,
        notices: Notices,
    ) -> Self {
        Self {
            store,
            sealer,
            throttle,
            audit,
            notices,
        }
    }

    /// The user's record, for the caller to hand back to [`Self::check`].
    pub async fn record(&self, user_id: &UserId) -> Result<MfaRecord, AppError> {
        self.store.mfa(user_id).await
    }

    /// Nothing to check while TOTP is off. With it on: 403
    /// `mfa_code_required` without `mfa_code`, 401 `invalid_code` for a wrong
    /// or used one, 429 after ten wrong second-factor codes in 15 minutes.
    pub async fn check(
        &self,
        user_id: &UserId,
        record: &MfaRecord,
        mfa_code: Option<&str>,
        origin: &Origin,
    ) -> Result<(), AppError> {
        let spent = self.verify(user_id, record, mfa_code, origin).await?;
        self.note_use(user_id, record, spent.as_deref(), origin)
            .await;
        Ok(())
    }

    /// The check alone: the digest of the recovery code it spent, if one was.
    async fn verify(
        &self,
        user_id: &UserId,
        record: &MfaRecord,
        mfa_code: Option<&str>,
        origin: &Origin,
    ) -> Result<Option<String>, AppError> {
        let Some(sealed) = &record.secret else {
            return Ok(None);
        };
        let code = mfa_code.ok_or(AppError::MfaCodeRequired)?;
        let factor = match TotpCode::parse("mfa_code", code) {
            Ok(totp) => Ok(totp),
            Err(_) => Err(RecoveryCode::parse(code).map_err(|_| {
                AppError::validation("mfa_code", "must be the app's 6 digits or a recovery code")
            })?),
        };
        let tried = second_factor_try(&self.throttle, &self.audit, user_id, origin).await?;
        let checked = match &factor {
            Ok(totp) => self.check_totp(user_id, sealed, totp).await.map(|()| None),
            Err(recovery) => self
                .spend_recovery_code(user_id, record, recovery)
                .await
                .map(Some),
        };
        let wrong = matches!(checked, Err(AppError::WrongMfaCode));
        if let Err(err) =
            second_factor_settled(&self.throttle, &self.audit, user_id, origin, tried, wrong).await
        {
            // A spent code must not be lost to the bookkeeping.
            tracing::warn!(error = %err, "a second-factor try not settled");
        }
        checked
    }

    /// The trail and the owner's notice of a recovery code used.
    async fn note_use(
        &self,
        user_id: &UserId,
        record: &MfaRecord,
        spent: Option<&str>,
        origin: &Origin,
    ) {
        if spent.is_some() {
            self.audit
                .user(user_id, AuditAction::RecoveryCodeUsed, Some(origin))
                .await;
            let left = record.recovery_digests.len().saturating_sub(1);
            tell(&self.notices, user_id, "recovery_code_used", left).await;
        }
    }

    async fn check_totp(
        &self,
        user_id: &UserId,
        sealed: &str,
        code: &TotpCode,
    ) -> Result<(), AppError> {
        let secret = TotpSecret::from_base32(&self.sealer.open(user_id, sealed).await?)?;
        let step = secret
            .matching_step(code, totp_step(Utc::now().timestamp()))
            .ok_or(AppError::WrongMfaCode)?;
        if self.store.take_step(user_id, step).await? {
            Ok(())
        } else {
            Err(AppError::WrongMfaCode)
        }
    }

    async fn spend_recovery_code(
        &self,
        user_id: &UserId,
        record: &MfaRecord,
        code: &RecoveryCode,
    ) -> Result<String, AppError> {
        let digest = matching_digest(&record.recovery_digests, &code.digest())
            .ok_or(AppError::WrongMfaCode)?;
        if self.store.spend_recovery_code(user_id, digest).await? {
            Ok(digest.clone())
        } else {
            Err(AppError::WrongMfaCode)
        }
    }
}

/// A sensitive change of one's own account (password change, email change,
/// deletion) behind the step-up: with TOTP on, `mfa_code` first. The service
/// that makes the change is wrapped, so the functions that do not make one
/// (a reset, an email change's verification) hold no step-up and no KMS.
#[derive(Clone)]
pub struct SteppedUp<S> {
    inner: S,
    step_up: StepUp,
    guard: SessionGuard,
}

impl<S> SteppedUp<S> {
    pub fn new(inner: S, step_up: StepUp, guard: SessionGuard) -> Self {
        Self {
            inner,
            step_up,
            guard,
        }
    }

    /// The wrapped service, whose change `act` runs.
    pub fn service(&self) -> &S {
        &self.inner
    }

    /// The change `act` makes, behind the step-up: a revoked token is refused
    /// before any code is tried; a recovery code the change then could not use
    /// (a wrong password, a refused address) is put back, and only a change
    /// made is noted and told as a recovery code used. (A TOTP code stays
    /// taken: the next one comes within 30 seconds.)
    pub async fn act<T, F, Fut>(
        &self,
        caller: &Caller,
        mfa_code: Option<&str>,
        origin: &Origin,
        act: F,
    ) -> Result<T, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, AppError>>,
    {
        self.guard.admit(caller).await?;
        let record = self.step_up.record(&caller.user_id).await?;
        let spent = self
            .step_up
            .verify(&caller.user_id, &record, mfa_code, origin)
            .await?;
        let done = act().await;
        match (&done, &spent, &record.secret) {
            (Ok(_), _, _) => {
                self.step_up
                    .note_use(&caller.user_id, &record, spent.as_deref(), origin)
                    .await;
            }
            (Err(_), Some(digest), Some(secret)) => {
                if let Err(err) = self
                    .step_up
                    .store
                    .restore_recovery_code(&caller.user_id, digest, secret)
                    .await
                {
                    tracing::warn!(error = %err, "a recovery code not put back after a refused change");
                }
            }
            _ => {}
        }
        done
    }
}

/// Turning the authenticator app off: the password and the second factor.
#[derive(Clone)]
pub struct TotpDisableService {
    totp: Arc<dyn TotpIdentity>,
    directory: Arc<dyn UserDirectory>,
    authenticator: Arc<dyn Authenticator>,
    step_up: StepUp,
    throttle: Throttle,
    guard: SessionGuard,
    audit: Audit,
}

/// The ports [`TotpDisableService`] calls besides the step-up's.
pub struct TotpDisablePorts {
    pub totp: Arc<dyn TotpIdentity>,
    pub directory: Arc<dyn UserDirectory>,
    pub authenticator: Arc<dyn Authenticator>,
}

impl TotpDisableService {
    pub fn new(
        ports: TotpDisablePorts,
        step_up: StepUp,
        throttle: Throttle,
        guard: SessionGuard,
        audit: Audit,
    ) -> Self {
        Self {
            totp: ports.totp,
            directory: ports.directory,
            authenticator: ports.authenticator,
            step_up,
            throttle,
            guard,
            audit,
        }
    }

    /// Cognito stops asking for the code first, then the sealed secret and
    /// the recovery codes are forgotten (a retry after a failure in between
    /// finishes the job).
    #[tracing::instrument(skip_all)]
    pub async fn disable(
        &self,
        caller: &Caller,
        current_password: &Password,
        mfa_code: &str,
        origin: &Origin,
    ) -> Result<(), AppError> {
        self.guard.admit(caller).await?;
        let record = self.step_up.record(&caller.user_id).await?;
        if record.secret.is_none() {
            return Err(AppError::Conflict("no authenticator app is on"));
        }
        check_callers_password(
            &*self.directory,
            &*self.authenticator,
            &self.throttle,
            caller,
            current_password,
            origin,
        )
        .await?;
        self.step_up
            .check(&caller.user_id, &record, Some(mfa_code), origin)
            .await?;
        self.totp.set_enabled(&caller.access_token, false).await?;
        self.step_up.store.clear_mfa(&caller.user_id).await?;
        self.audit
            .user(&caller.user_id, AuditAction::TotpDisabled, Some(origin))
            .await;
        tell(&self.step_up.notices, &caller.user_id, "totp_disabled", 0).await;
        Ok(())
    }
}

/// A new set of recovery codes, for the second factor.
#[derive(Clone)]
pub struct RecoveryCodesService {
    step_up: StepUp,
    guard: SessionGuard,
    audit: Audit,
}

impl RecoveryCodesService {
    pub fn new(step_up: StepUp, guard: SessionGuard, audit: Audit) -> Self {
        Self {
            step_up,
            guard,
            audit,
        }
    }

    /// Ten new codes; every old one is dead.
    #[tracing::instrument(skip_all)]
    pub async fn replace(
        &self,
        caller: &Caller,
        mfa_code: &str,
        origin: &Origin,
    ) -> Result<TotpEnabled, AppError> {
        self.guard.admit(caller).await?;
        let record = self.step_up.record(&caller.user_id).await?;
        let Some(secret) = record.secret.clone() else {
            return Err(AppError::Conflict("no authenticator app is on"));
        };
        self.step_up
            .check(&caller.user_id, &record, Some(mfa_code), origin)
            .await?;
        let codes = fresh_recovery_codes()?;
        let digests: Vec<String> = codes.iter().map(RecoveryCode::digest).collect();
        if !self
            .step_up
            .store
            .replace_recovery_codes(&caller.user_id, &secret, &digests)
            .await?
        {
            return Err(AppError::Conflict(
                "the authenticator app changed meanwhile: ask again",
            ));
        }
        self.audit
            .user(
                &caller.user_id,
                AuditAction::RecoveryCodesReplaced,
                Some(origin),
            )
            .await;
        tell(
            &self.step_up.notices,
            &caller.user_id,
            "recovery_codes_replaced",
            codes.len(),
        )
        .await;
        Ok(TotpEnabled {
            totp_enabled: true,
            recovery_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::mfa::SignIn;
    use crate::testing::{InMemoryAuth, TEST_PASSWORD, caller_for, credentials, from_ip};

    const EMAIL: &str = "su@example.com";

    /// Signed in, app turned on with step `step`'s code: the caller, the app's
    /// secret and the recovery codes.
    async fn enrolled(fakes: &InMemoryAuth, step: i64) -> (Caller, TotpSecret, Vec<String>) {
        let caller = caller_for(&fakes.signed_in(EMAIL).await);
        let password = Password::offered(TEST_PASSWORD).unwrap();
        let started = fakes
            .totp_start()
            .start(&caller, &password, &from_ip(1))
            .await
            .unwrap();
        let secret = TotpSecret::from_base32(&started.secret).unwrap();
        let codes = fakes
            .totp_verify()
            .verify(&caller, &secret.code_at(step), &from_ip(1))
            .await
            .unwrap()
            .recovery_codes;
        (caller, secret, codes)
    }

    fn now_step() -> i64 {
        totp_step(Utc::now().timestamp())
    }

    #[tokio::test]
    async fn with_the_app_off_no_code_is_asked_and_with_it_on_one_is() {
        let fakes = InMemoryAuth::default();
        let caller = caller_for(&fakes.signed_in(EMAIL).await);
        let step_up = fakes.step_up();
        let record = step_up.record(&caller.user_id).await.unwrap();
        step_up
            .check(&caller.user_id, &record, None, &from_ip(1))
            .await
            .unwrap();
        let fakes = InMemoryAuth::default();
        let (caller, _, _) = enrolled(&fakes, now_step()).await;
        let step_up = fakes.step_up();
        let record = step_up.record(&caller.user_id).await.unwrap();
        assert!(matches!(
            step_up
                .check(&caller.user_id, &record, None, &from_ip(1))
                .await,
            Err(AppError::MfaCodeRequired)
        ));
    }

    #[tokio::test]
    async fn a_step_up_code_works_once() {
        let fakes = InMemoryAuth::default();
        let step = now_step();
        let (caller, secret, _) = enrolled(&fakes, step).await;
        let step_up = fakes.step_up();
        let record = step_up.record(&caller.user_id).await.unwrap();
        let code = secret.code_at(step + 1);
        step_up
            .check(&caller.user_id, &record, Some(code.expose()), &from_ip(1))
            .await
            .unwrap();
        assert!(matches!(
            step_up
                .check(&caller.user_id, &record, Some(code.expose()), &from_ip(1))
                .await,
            Err(AppError::WrongMfaCode)
        ));
    }

    #[tokio::test]
    async fn new_recovery_codes_kill_the_old_ones() {
        let fakes = InMemoryAuth::default();
        let (caller, _, old) = enrolled(&fakes, now_step()).await;
        let new = fakes
            .recovery_codes()
            .replace(&caller, &old[0], &from_ip(1))
            .await
            .unwrap()
            .recovery_codes;
        assert_eq!(new.len(), 10);
        let step_up = fakes.step_up();
        let record = step_up.record(&caller.user_id).await.unwrap();
        assert!(matches!(
            step_up
                .check(&caller.user_id, &record, Some(&old[1]), &from_ip(1))
                .await,
            Err(AppError::WrongMfaCode)
        ));
        step_up
            .check(&caller.user_id, &record, Some(&new[1]), &from_ip(1))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn turning_the_app_off_needs_password_and_code_then_login_needs_neither_code() {
        let fakes = InMemoryAuth::default();
        let step = now_step();
        let (caller, secret, codes) = enrolled(&fakes, step).await;
        let disable = fakes.totp_disable();
        let password = Password::offered(TEST_PASSWORD).unwrap();
        let wrong_password = Password::offered("Wrong-pass-1").unwrap();
        assert!(matches!(
            disable
                .disable(&caller, &wrong_password, codes[0].as_str(), &from_ip(1))
                .await,
            Err(AppError::InvalidCredentials)
        ));
        // The enrolment's own code was used: refused.
        assert!(matches!(
            disable
                .disable(
                    &caller,
                    &password,
                    secret.code_at(step).expose(),
                    &from_ip(1)
                )
                .await,
            Err(AppError::WrongMfaCode)
        ));
        disable
            .disable(
                &caller,
                &password,
                secret.code_at(step + 1).expose(),
                &from_ip(1),
            )
            .await
            .unwrap();
        assert!(matches!(
            fakes
                .login()
                .login(credentials(EMAIL, TEST_PASSWORD), &from_ip(1))
                .await
                .unwrap(),
            SignIn::Tokens(_)
        ));
        assert_eq!(
            fakes.mfa.mfa(&caller.user_id).await.unwrap(),
            MfaRecord::default(),
            "secret and recovery codes forgotten"
        );
    }
}
