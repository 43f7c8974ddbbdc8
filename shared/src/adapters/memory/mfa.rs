//! Fakes of the second factor: Cognito's software token inside the fake
//! identity, the MFA store, and a sealer that binds a value to its user.

use super::*;
use crate::domain::mfa::{TotpSecret, totp_step};
use crate::ports::{ChallengeRecord, MfaRecord, MfaStore, SecretSealer, TotpIdentity};

#[derive(Default)]
pub(super) struct FakeTotp {
    pending: Option<TotpSecret>,
    secret: Option<TotpSecret>,
    enabled: bool,
    last_step: Option<i64>,
}

/// The step of `code` within one step of now, newer than `last`.
fn matching_step(secret: &TotpSecret, code: &TotpCode, last: Option<i64>) -> Option<i64> {
    let now = totp_step(Utc::now().timestamp());
    (now - 1..=now + 1)
        .filter(|step| last.is_none_or(|l| *step > l))
        .find(|step| secret.code_at(*step) == *code)
}

impl InMemoryIdentity {
    fn email_of_token(&self, token: &AccessToken) -> Result<Email, AppError> {
        lock(&self.access_tokens)
            .get(token.expose())
            .cloned()
            .ok_or(AppError::Unauthenticated("the access token is invalid"))
    }

    /// The challenge a sign-in of `email` meets, when its TOTP is on.
    pub(super) fn totp_challenge(&self, email: &Email, id: &UserId) -> Option<MfaChallenge> {
        if !lock(&self.totp).get(email).is_some_and(|t| t.enabled) {
            return None;
        }
        let session = format!("session-{id}-{}", Utc::now().timestamp_nanos_opt()?);
        lock(&self.challenges).insert(session.clone(), email.clone());
        Some(MfaChallenge {
            session,
            user_id: id.clone(),
            email: email.clone(),
        })
    }

    pub(super) fn answer(
        &self,
        challenge: &MfaChallenge,
        code: &TotpCode,
    ) -> Result<Tokens, AppError> {
        let email = lock(&self.challenges)
            .get(&challenge.session)
            .cloned()
            .ok_or(AppError::InvalidMfaSession)?;
        {
            let mut totp = lock(&self.totp);
            let user = totp.get_mut(&email).ok_or(AppError::InvalidMfaSession)?;
            let secret = user.secret.clone().ok_or(AppError::InvalidMfaSession)?;
            let step =
                matching_step(&secret, code, user.last_step).ok_or(AppError::WrongMfaCode)?;
            user.last_step = Some(step);
        }
        lock(&self.challenges).remove(&challenge.session);
        Ok(self.issue(&email, &challenge.user_id, true))
    }

    /// The id of `email`'s account, if it has one.
    pub fn user_id_of_email(&self, email: &str) -> Option<UserId> {
        self.user_id_of(&Email::parse(email).ok()?)
    }

    /// The user's secret as the authenticator app holds it (tests compute codes).
    pub fn totp_secret_of(&self, email: &str) -> Option<TotpSecret> {
        let email = Email::parse(email).ok()?;
        let totp = lock(&self.totp);
        let user = totp.get(&email)?;
        user.secret.clone().or_else(|| user.pending.clone())
    }
}

#[async_trait]
impl TotpIdentity for InMemoryIdentity {
    async fn associate(&self, token: &AccessToken) -> Result<TotpSecret, AppError> {
        let email = self.email_of_token(token)?;
        // A different secret each time, as Cognito's (random there).
        let n = self.next().to_be_bytes();
        let secret = TotpSecret::from_bytes(&[&n[..], b"fake totp key"].concat());
        lock(&self.totp).entry(email).or_default().pending = Some(secret.clone());
        Ok(secret)
    }

    async fn verify(&self, token: &AccessToken, code: &TotpCode) -> Result<(), AppError> {
        let email = self.email_of_token(token)?;
        let mut totp = lock(&self.totp);
        let user = totp.get_mut(&email).ok_or(AppError::WrongMfaCode)?;
        let pending = user.pending.clone().ok_or(AppError::WrongMfaCode)?;
        let step = matching_step(&pending, code, None).ok_or(AppError::WrongMfaCode)?;
        user.secret = Some(pending);
        user.pending = None;
        user.last_step = Some(step);
        Ok(())
    }

    async fn set_enabled(&self, token: &AccessToken, enabled: bool) -> Result<(), AppError> {
        let email = self.email_of_token(token)?;
        let mut totp = lock(&self.totp);
        let user = totp.entry(email).or_default();
        if enabled && user.secret.is_none() {
            return Err(AppError::unexpected("no verified software token"));
        }
        user.enabled = enabled;
        Ok(())
    }
}

#[async_trait]
impl crate::ports::MfaAdmin for InMemoryIdentity {
    async fn turn_off_totp(&self, username: &str) -> Result<(), AppError> {
        let email = lock(&self.users)
            .iter()
            .find(|(_, u)| u.id.as_str() == username)
            .map(|(email, _)| email.clone())
            .ok_or(AppError::NotFound("user"))?;
        if let Some(totp) = lock(&self.totp).get_mut(&email) {
            totp.enabled = false;
        }
        Ok(())
    }
}

/// The MFA records and open challenges.
#[derive(Default)]
pub struct InMemoryMfaStore {
    records: Mutex<HashMap<UserId, MfaRecord>>,
    challenges: Mutex<HashMap<String, ChallengeRecord>>,
}

#[async_trait]
impl MfaStore for InMemoryMfaStore {
    async fn mfa(&self, user_id: &UserId) -> Result<MfaRecord, AppError> {
        Ok(lock(&self.records)
            .get(user_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn start_enrolment(&self, user_id: &UserId, sealed: &str) -> Result<(), AppError> {
        lock(&self.records)
            .entry(user_id.clone())
            .or_default()
            .pending_secret = Some(sealed.to_owned());
        Ok(())
    }

    async fn finish_enrolment(
        &self,
        user_id: &UserId,
        pending: &str,
        recovery_digests: &[String],
        step: i64,
    ) -> Result<bool, AppError> {
        let mut records = lock(&self.records);
        let Some(record) = records.get_mut(user_id) else {
            return Ok(false);
        };
        if record.pending_secret.as_deref() != Some(pending) {
            return Ok(false);
        }
        record.secret = record.pending_secret.take();
        record.last_step = Some(step);
        let mut digests = recovery_digests.to_vec();
        digests.sort();
        record.recovery_digests = digests;
        Ok(true)
    }

    async fn spend_recovery_code(&self, user_id: &UserId, digest: &str) -> Result<bool, AppError> {
        let mut records = lock(&self.records);
        let Some(record) = records.get_mut(user_id) else {
            return Ok(false);
        };
        let before = record.recovery_digests.len();
        record.recovery_digests.retain(|d| d != digest);
        Ok(record.recovery_digests.len() < before)
    }

    async fn take_step(&self, user_id: &UserId, step: i64) -> Result<bool, AppError> {
        let mut records = lock(&self.records);
        let Some(record) = records.get_mut(user_id).filter(|r| r.secret.is_some()) else {
            return Ok(false);
        };
        if record.last_step.is_some_and(|last| last >= step) {
            return Ok(false);
        }
        record.last_step = Some(step);
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &UserId,
        secret: &str,
        digests: &[String],
    ) -> Result<bool, AppError> {
        let mut records = lock(&self.records);
        let Some(record) = records
            .get_mut(user_id)
            .filter(|r| r.secret.as_deref() == Some(secret))
        else {
            return Ok(false);
        };
        let mut digests = digests.to_vec();
        digests.sort();
        record.recovery_digests = digests;
        Ok(true)
    }

    async fn clear_mfa(&self, user_id: &UserId) -> Result<(), AppError> {
        lock(&self.records).remove(user_id);
        Ok(())
    }

    async fn restore_recovery_code(
        &self,
        user_id: &UserId,
        digest: &str,
        secret: &str,
    ) -> Result<(), AppError> {
        if let Some(record) = lock(&self.records)
            .get_mut(user_id)
            .filter(|r| r.secret.as_deref() == Some(secret))
        {
            record.recovery_digests.push(digest.to_owned());
            record.recovery_digests.sort();
        }
        Ok(())
    }

    async fn open_challenge(&self, key: &str, record: &ChallengeRecord) -> Result<(), AppError> {
        lock(&self.challenges).insert(key.to_owned(), record.clone());
        Ok(())
    }

    async fn challenge(&self, key: &str, now: i64) -> Result<Option<ChallengeRecord>, AppError> {
        Ok(lock(&self.challenges)
            .get(key)
            .filter(|c| c.expires_at > now)
            .cloned())
    }

    async fn take_try(&self, key: &str, max: u32) -> Result<bool, AppError> {
        Ok(lock(&self.challenges)
            .get_mut(key)
            .filter(|c| c.wrong_codes < max)
            .map(|c| c.wrong_codes += 1)
            .is_some())
    }

    async fn give_back_try(&self, key: &str) -> Result<(), AppError> {
        if let Some(c) = lock(&self.challenges).get_mut(key) {
            c.wrong_codes = c.wrong_codes.saturating_sub(1);
        }
        Ok(())
    }

    async fn close_challenge(&self, key: &str) -> Result<(), AppError> {
        lock(&self.challenges).remove(key);
        Ok(())
    }
}

/// Seals by naming the user: opens only for that user, as KMS's encryption
/// context does.
#[derive(Default)]
pub struct TestSealer;

#[async_trait]
impl SecretSealer for TestSealer {
    async fn seal(&self, user_id: &UserId, secret: &str) -> Result<String, AppError> {
        Ok(format!("sealed:{user_id}:{secret}"))
    }

    async fn open(&self, user_id: &UserId, sealed: &str) -> Result<String, AppError> {
        sealed
            .strip_prefix(&format!("sealed:{user_id}:"))
            .map(str::to_owned)
            .ok_or_else(|| AppError::unexpected("sealed for another user"))
    }
}

/// The fake identity's own users, as Cognito's `GetUser` reads them (the MFA
/// service asks it for the caller's email); the rest of the directory is
/// `FixedDirectory`'s.
#[async_trait]
impl crate::ports::UserDirectory for InMemoryIdentity {
    async fn confirmed_user(&self, token: &AccessToken) -> Result<ConfirmedUser, AppError> {
        let email = self.email_of_token(token)?;
        let user_id = self
            .user_id_of(&email)
            .ok_or(AppError::Unauthenticated("the token has been revoked"))?;
        Ok(ConfirmedUser {
            user_id,
            email,
            display_name: None,
        })
    }

    async fn verify_email(
        &self,
        _token: &AccessToken,
        _code: &ConfirmationCode,
    ) -> Result<(), AppError> {
        Err(AppError::InvalidCode)
    }

    async fn send_phone_code(&self, _token: &AccessToken) -> Result<(), AppError> {
        Ok(())
    }

    async fn verify_phone(
        &self,
        _token: &AccessToken,
        _code: &ConfirmationCode,
    ) -> Result<String, AppError> {
        Err(AppError::InvalidCode)
    }
}
