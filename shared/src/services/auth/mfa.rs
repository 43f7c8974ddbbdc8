//! The second factor: enrolling an authenticator app (TOTP) with recovery codes,
//! and the second step of a sign-in (a TOTP code, or a recovery code).
//!
//! Cognito checks TOTP codes itself (its software token), so a sign-in around
//! Gatehouse meets the same challenge. Cognito has no recovery codes: Gatehouse
//! keeps the TOTP secret sealed with a KMS key (`ports::SecretSealer`), and a
//! valid recovery code lets it answer Cognito's challenge with a code it
//! computes from that secret.

use super::sessions::SessionGuard;
use super::sign_ins::SignIns;
use crate::domain::UserId;
use crate::domain::audit::AuditAction;
use crate::domain::mfa::{
    CHALLENGE_WRONG_CODES, MfaChallenge, RECOVERY_CODES, RecoveryCode, TotpCode, TotpSecret,
    challenge_key, matching_digest, totp_step,
};
use crate::domain::{AppError, Caller, Email, Origin, Password, Tokens};
use crate::metrics::{self, LoginOutcome, Metric};
use crate::ports::{Authenticator, MfaStore, SecretSealer, TotpIdentity, UserDirectory};
use crate::services::{Audit, CodePurpose, CodeTry, Notices, Throttle};
use chrono::Utc;
use serde::Serialize;
use std::sync::Arc;

/// What a started enrolment shows the user: the secret three ways. `Debug`
/// hides it.
#[derive(Serialize)]
pub struct TotpStarted {
    pub secret: String,
    pub otpauth_uri: String,
    /// The `otpauth_uri` as a QR code, an SVG document.
    pub qr_svg: String,
}

/// The end of an enrolment: recovery codes, shown this once. `Debug` hides
/// them.
#[derive(Serialize)]
pub struct TotpEnabled {
    pub totp_enabled: bool,
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for TotpStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpStarted(<redacted>)")
    }
}

impl std::fmt::Debug for TotpEnabled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnabled(<redacted>)")
    }
}

/// The second step of a sign-in.
#[derive(Debug)]
pub enum SecondFactor {
    Totp(TotpCode),
    Recovery(RecoveryCode),
}

/// `otpauth_uri` as an SVG QR code (medium error correction, as apps expect).
fn qr_svg(uri: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::with_error_correction_level(uri, qrcode::EcLevel::M)
        .map_err(AppError::unexpected)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

/// Counts a second-factor code about to be tested for `user` (from any source:
/// ten wrong in 15 minutes and the next waits, 429), noting the first refusal
/// of a window in the trail.
pub(super) async fn second_factor_try(
    throttle: &Throttle,
    audit: &Audit,
    user: &UserId,
    origin: &Origin,
) -> Result<CodeTry, AppError> {
    match throttle
        .code_try(user.as_str(), CodePurpose::SecondFactor)
        .await
    {
        Ok(tried) => Ok(tried),
        Err((refused, first)) => {
            if first {
                audit
                    .user(user, AuditAction::CodesLocked, Some(origin))
                    .await;
            }
            Err(refused)
        }
    }
}

/// Settles a second-factor try in the account's window; a wrong code is also
/// recorded in the trail, with where it came from.
pub(super) async fn second_factor_settled(
    throttle: &Throttle,
    audit: &Audit,
    user: &UserId,
    origin: &Origin,
    tried: CodeTry,
    wrong: bool,
) -> Result<(), AppError> {
    if wrong {
        audit
            .user(user, AuditAction::MfaCodeRefused, Some(origin))
            .await;
    }
    throttle.code_settled(tried, wrong).await
}

/// The caller's email (from their own token) and their password checked behind
/// the login throttle: what a change that asks for the password starts with.
pub(super) async fn check_callers_password(
    directory: &dyn UserDirectory,
    authenticator: &dyn Authenticator,
    throttle: &Throttle,
    caller: &Caller,
    password: &Password,
    origin: &Origin,
) -> Result<Email, AppError> {
    let email = directory.confirmed_user(&caller.access_token).await?.email;
    crate::services::users::check_password(throttle, authenticator, &email, password, origin)
        .await?;
    Ok(email)
}

pub(super) fn fresh_recovery_codes() -> Result<Vec<RecoveryCode>, AppError> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            getrandom::fill(&mut bytes).map_err(|e| AppError::unexpected(e.to_string()))?;
            Ok(RecoveryCode::from_random(bytes))
        })
        .collect()
}

/// Starting an enrolment: the password, Cognito's software token, the sealed
/// secret.
#[derive(Clone)]
pub struct TotpStartService {
    totp: Arc<dyn TotpIdentity>,
    directory: Arc<dyn UserDirectory>,
    authenticator: Arc<dyn Authenticator>,
    store: Arc<dyn MfaStore>,
    sealer: Arc<dyn SecretSealer>,
    throttle: Throttle,
    guard: SessionGuard,
    /// The issuer authenticator apps show (the deployment's `AppName`).
    issuer: String,
}

/// The ports [`TotpStartService`] calls.
pub struct TotpStartPorts {
    pub totp: Arc<dyn TotpIdentity>,
    pub directory: Arc<dyn UserDirectory>,
    pub authenticator: Arc<dyn Authenticator>,
    pub store: Arc<dyn MfaStore>,
    pub sealer: Arc<dyn SecretSealer>,
}

impl TotpStartService {
    pub fn new(
        ports: TotpStartPorts,
        throttle: Throttle,
        guard: SessionGuard,
        issuer: String,
    ) -> Self {
        Self {
            totp: ports.totp,
            directory: ports.directory,
            authenticator: ports.authenticator,
            store: ports.store,
            sealer: ports.sealer,
            throttle,
            guard,
            issuer,
        }
    }

    /// Starts an enrolment after the password (behind the login throttle):
    /// a new secret, kept sealed; nothing changes for sign-in until verified.
    #[tracing::instrument(skip_all)]
    pub async fn start(
        &self,
        caller: &Caller,
        current_password: &Password,
        origin: &Origin,
    ) -> Result<TotpStarted, AppError> {
        self.guard.ensure_current(caller).await?;
        if self.store.mfa(&caller.user_id).await?.secret.is_some() {
            return Err(AppError::Conflict("an authenticator app is on already"));
        }
        let email = check_callers_password(
            &*self.directory,
            &*self.authenticator,
            &self.throttle,
            caller,
            current_password,
            origin,
        )
        .await?;
        let secret = self.totp.associate(&caller.access_token).await?;
        let sealed = self.sealer.seal(&caller.user_id, secret.expose()).await?;
        self.store.start_enrolment(&caller.user_id, &sealed).await?;
        let otpauth_uri = secret.otpauth_uri(&self.issuer, &email);
        Ok(TotpStarted {
            secret: secret.expose().to_owned(),
            qr_svg: qr_svg(&otpauth_uri)?,
            otpauth_uri,
        })
    }
}

/// Finishing an enrolment: the code is checked against the sealed secret (so
/// the secret Gatehouse keeps is the one the app shows) and by Cognito; the
/// table takes the recovery codes.
#[derive(Clone)]
pub struct TotpVerifyService {
    totp: Arc<dyn TotpIdentity>,
    store: Arc<dyn MfaStore>,
    sealer: Arc<dyn SecretSealer>,
    throttle: Throttle,
    guard: SessionGuard,
    audit: Audit,
    notices: Notices,
}

impl TotpVerifyService {
    pub fn new(
        totp: Arc<dyn TotpIdentity>,
        store: Arc<dyn MfaStore>,
        sealer: Arc<dyn SecretSealer>,
        throttle: Throttle,
        guard: SessionGuard,
        audit: Audit,
        notices: Notices,
    ) -> Self {
        Self {
            totp,
            store,
            sealer,
            throttle,
            guard,
            audit,
            notices,
        }
    }

    /// The code against the sealed pending secret, then against Cognito's;
    /// the step it is of.
    async fn check_code(
        &self,
        caller: &Caller,
        pending: &str,
        code: &TotpCode,
    ) -> Result<i64, AppError> {
        let secret = TotpSecret::from_base32(&self.sealer.open(&caller.user_id, pending).await?)?;
        // Also refused: a code of another secret Cognito holds (an enrolment
        // started since, or around Gatehouse): start again.
        let step = secret
            .matching_step(code, totp_step(Utc::now().timestamp()))
            .ok_or(AppError::WrongMfaCode)?;
        self.totp.verify(&caller.access_token, code).await?;
        Ok(step)
    }

    /// Verifies the first code of the started enrolment: TOTP is on from now,
    /// and the recovery codes are returned this once (stored as digests).
    #[tracing::instrument(skip_all)]
    pub async fn verify(
        &self,
        caller: &Caller,
        code: &TotpCode,
        origin: &Origin,
    ) -> Result<TotpEnabled, AppError> {
        self.guard.ensure_current(caller).await?;
        let pending = self
            .store
            .mfa(&caller.user_id)
            .await?
            .pending_secret
            .ok_or(AppError::Conflict(
                "no enrolment was started: POST /users/me/mfa/totp first",
            ))?;
        let tried = second_factor_try(&self.throttle, &self.audit, &caller.user_id, origin).await?;
        let verified = self.check_code(caller, &pending, code).await;
        second_factor_settled(
            &self.throttle,
            &self.audit,
            &caller.user_id,
            origin,
            tried,
            matches!(verified, Err(AppError::WrongMfaCode)),
        )
        .await?;
        let step = verified?;
        let codes = fresh_recovery_codes()?;
        let digests: Vec<String> = codes.iter().map(RecoveryCode::digest).collect();
        // Cognito first: if it will not enforce the app, nothing is recorded
        // and the user can verify again; if the record then fails, Cognito is
        // turned back off, so TOTP is never on without its recovery codes.
        self.totp.set_enabled(&caller.access_token, true).await?;
        let recorded = self
            .store
            .finish_enrolment(&caller.user_id, &pending, &digests, step)
            .await;
        if !matches!(recorded, Ok(true)) {
            if let Err(err) = self.totp.set_enabled(&caller.access_token, false).await {
                tracing::error!(error = %err, "TOTP is on in Cognito without its record");
            }
            recorded?;
            return Err(AppError::Conflict(
                "another enrolment was started meanwhile: verify that one's code",
            ));
        }
        self.audit
            .user(&caller.user_id, AuditAction::TotpEnabled, Some(origin))
            .await;
        super::step_up::tell(&self.notices, &caller.user_id, "totp_enabled", codes.len()).await;
        Ok(TotpEnabled {
            totp_enabled: true,
            recovery_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
        })
    }
}

/// The second step of a sign-in: Cognito's challenge, answered with the user's
/// code or, for a recovery code, with one computed from the sealed secret.
#[derive(Clone)]
pub struct MfaLoginService {
    authenticator: Arc<dyn Authenticator>,
    store: Arc<dyn MfaStore>,
    sealer: Arc<dyn SecretSealer>,
    throttle: Throttle,
    audit: Audit,
    notices: Notices,
    sign_ins: SignIns,
}

impl MfaLoginService {
    pub fn new(
        authenticator: Arc<dyn Authenticator>,
        store: Arc<dyn MfaStore>,
        sealer: Arc<dyn SecretSealer>,
        throttle: Throttle,
        audit: Audit,
        notices: Notices,
        sign_ins: SignIns,
    ) -> Self {
        Self {
            authenticator,
            store,
            sealer,
            throttle,
            audit,
            notices,
            sign_ins,
        }
    }

    /// The tokens for a right code; `WrongMfaCode` (the challenge stands until
    /// its fifth wrong code), `InvalidMfaSession` (expired, dead or answered), or
    /// 429 after ten wrong codes for the account in 15 minutes.
    #[tracing::instrument(skip_all)]
    pub async fn complete(
        &self,
        session: &str,
        factor: SecondFactor,
        origin: &Origin,
    ) -> Result<Tokens, AppError> {
        let key = challenge_key(session);
        let now = Utc::now().timestamp();
        let record = self
            .store
            .challenge(&key, now)
            .await?
            .ok_or(AppError::InvalidMfaSession)?;
        let challenge = MfaChallenge {
            session: session.to_owned(),
            user_id: record.user_id.clone(),
            email: Email::parse(&record.email).map_err(AppError::unexpected)?,
        };
        let tried = second_factor_try(&self.throttle, &self.audit, &record.user_id, origin).await?;
        // One of the challenge's five tries, taken before the code is tested,
        // so racing answers cannot test more than five between them.
        let took = self.store.take_try(&key, CHALLENGE_WRONG_CODES).await;
        if !matches!(took, Ok(true)) {
            if let Err(err) = self.throttle.code_settled(tried, false).await {
                tracing::warn!(error = %err, "an untested second factor not given back");
            }
            took?;
            return Err(AppError::InvalidMfaSession);
        }
        let answered = match &factor {
            SecondFactor::Totp(code) => self.answer_with_totp(&challenge, code).await,
            SecondFactor::Recovery(code) => self.answer_with_recovery_code(&challenge, code).await,
        };
        let wrong = matches!(answered, Err(AppError::WrongMfaCode));
        let settled = second_factor_settled(
            &self.throttle,
            &self.audit,
            &record.user_id,
            origin,
            tried,
            wrong,
        )
        .await;
        match answered {
            Ok(tokens) => {
                // The code is spent: its bookkeeping happens whatever follows.
                if let Err(err) = settled {
                    tracing::warn!(error = %err, "a right second factor not given back to its window");
                }
                if let Err(err) = self.store.close_challenge(&key).await {
                    tracing::warn!(error = %err, "an answered challenge left to expire");
                }
                if matches!(factor, SecondFactor::Recovery(_)) {
                    self.audit
                        .user(&record.user_id, AuditAction::RecoveryCodeUsed, Some(origin))
                        .await;
                    let left = match self.store.mfa(&record.user_id).await {
                        Ok(mfa) => mfa.recovery_digests.len(),
                        Err(_) => 0,
                    };
                    super::step_up::tell(
                        &self.notices,
                        &record.user_id,
                        "recovery_code_used",
                        left,
                    )
                    .await;
                }
                // A session nobody could end alone is not handed out.
                self.sign_ins.record(&tokens, origin, true).await?;
                metrics::record(Metric::Login(LoginOutcome::Success));
                self.audit
                    .user(&record.user_id, AuditAction::LoginSucceeded, Some(origin))
                    .await;
                Ok(tokens)
            }
            Err(AppError::WrongMfaCode) => {
                // The try stays taken: at the fifth, the challenge is dead.
                settled?;
                metrics::record(Metric::Login(LoginOutcome::Failure));
                Err(AppError::WrongMfaCode)
            }
            Err(AppError::InvalidMfaSession) => {
                settled?;
                self.store.close_challenge(&key).await?;
                Err(AppError::InvalidMfaSession)
            }
            Err(other) => {
                // Never tested (a dependency failed, or the code's window was
                // used): the try is given back.
                self.store.give_back_try(&key).await?;
                settled?;
                Err(other)
            }
        }
    }

    /// The app's code: its step taken first in Gatehouse's record (so a code
    /// a step-up used is refused here, and one used here is refused by a
    /// step-up; Cognito keeps its own), then Cognito's answer.
    async fn answer_with_totp(
        &self,
        challenge: &MfaChallenge,
        code: &TotpCode,
    ) -> Result<Tokens, AppError> {
        let user_id = &challenge.user_id;
        if let Some(sealed) = self.store.mfa(user_id).await?.secret {
            let secret = TotpSecret::from_base32(&self.sealer.open(user_id, &sealed).await?)?;
            // A code of no step near now is Cognito's to refuse.
            if let Some(step) = secret.matching_step(code, totp_step(Utc::now().timestamp()))
                && !self.store.take_step(user_id, step).await?
            {
                return Err(AppError::WrongMfaCode);
            }
        }
        self.authenticator.answer_totp(challenge, code).await
    }

    /// A recovery code is spent (once, also against a racing request), then
    /// Cognito's challenge is answered with a code of the sealed secret.
    async fn answer_with_recovery_code(
        &self,
        challenge: &MfaChallenge,
        code: &RecoveryCode,
    ) -> Result<Tokens, AppError> {
        let record = self.store.mfa(&challenge.user_id).await?;
        let (Some(sealed), Some(digest)) = (
            record.secret,
            matching_digest(&record.recovery_digests, &code.digest()).cloned(),
        ) else {
            return Err(AppError::WrongMfaCode);
        };
        if !self
            .store
            .spend_recovery_code(&challenge.user_id, &digest)
            .await?
        {
            return Err(AppError::WrongMfaCode);
        }
        let answered = self.answer_from_sealed(challenge, &sealed).await;
        if answered.is_err() {
            // The code did not get the user in: it stays theirs.
            self.store
                .restore_recovery_code(&challenge.user_id, &digest, &sealed)
                .await?;
        }
        match answered {
            // The next step's code was used already (the provider refuses a
            // code twice): the recovery code was right, so say wait.
            Err(AppError::WrongMfaCode) => {
                tracing::warn!("a right recovery code, but the next step's code was used already");
                Err(AppError::TooManyRequests {
                    retry_after: Some(std::time::Duration::from_secs(30)),
                })
            }
            other => other,
        }
    }

    /// One answer, with the next step's code: within the provider's drift,
    /// and fresh even when the user's app just used this step's (a wrong
    /// answer may end the provider's session, so there is no second try).
    async fn answer_from_sealed(
        &self,
        challenge: &MfaChallenge,
        sealed: &str,
    ) -> Result<Tokens, AppError> {
        let secret = TotpSecret::from_base32(&self.sealer.open(&challenge.user_id, sealed).await?)?;
        let next = totp_step(Utc::now().timestamp()) + 1;
        let tokens = self
            .authenticator
            .answer_totp(challenge, &secret.code_at(next))
            .await?;
        // That code is used now: a step-up refuses it too.
        if let Err(err) = self.store.take_step(&challenge.user_id, next).await {
            tracing::warn!(error = %err, "a recovery sign-in's step not noted for step-ups");
        }
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::mfa::SignIn;
    use crate::testing::{InMemoryAuth, TEST_PASSWORD, caller_for, credentials, from_ip};

    const EMAIL: &str = "mf@example.com";

    fn now_step() -> i64 {
        totp_step(Utc::now().timestamp())
    }

    fn password(text: &str) -> Password {
        Password::offered(text).unwrap()
    }

    /// Enrolled with the code of step `step` (the current one, taken once by
    /// the caller, so a step boundary passing mid-test changes nothing); the
    /// recovery codes.
    async fn enrolled(fakes: &InMemoryAuth, step: i64) -> Vec<String> {
        let caller = caller_for(&fakes.signed_in(EMAIL).await);
        let started = fakes
            .totp_start()
            .start(&caller, &password(TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap();
        assert!(started.otpauth_uri.starts_with("otpauth://totp/Gatehouse:"));
        assert!(started.qr_svg.contains("<svg"));
        let secret = TotpSecret::from_base32(&started.secret).unwrap();
        fakes
            .totp_verify()
            .verify(&caller, &secret.code_at(step), &from_ip(1))
            .await
            .unwrap()
            .recovery_codes
    }

    async fn challenged(fakes: &InMemoryAuth) -> String {
        match fakes
            .login()
            .login(credentials(EMAIL, TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap()
        {
            SignIn::TotpRequired(challenge) => challenge.session,
            SignIn::Tokens(_) => panic!("TOTP is on: no tokens without the code"),
        }
    }

    fn code(fakes: &InMemoryAuth, step: i64) -> SecondFactor {
        let secret = fakes.identity.totp_secret_of(EMAIL).unwrap();
        SecondFactor::Totp(secret.code_at(step))
    }

    #[tokio::test]
    async fn enrolment_needs_the_password_and_a_code_of_the_new_secret() {
        let fakes = InMemoryAuth::default();
        let caller = caller_for(&fakes.signed_in(EMAIL).await);
        let (totp, verify) = (fakes.totp_start(), fakes.totp_verify());
        assert!(matches!(
            totp.start(&caller, &password("Wrong-pass-1"), &from_ip(1))
                .await,
            Err(AppError::InvalidCredentials)
        ));
        totp.start(&caller, &password(TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap();
        let wrong = TotpCode::parse("code", "000000").unwrap();
        let secret = fakes.identity.totp_secret_of(EMAIL).unwrap();
        if secret.code_at(now_step()) != wrong {
            assert!(matches!(
                verify.verify(&caller, &wrong, &from_ip(1)).await,
                Err(AppError::WrongMfaCode)
            ));
        }
        // Until verified, a login still gets tokens.
        assert!(matches!(
            fakes
                .login()
                .login(credentials(EMAIL, TEST_PASSWORD), &from_ip(1))
                .await
                .unwrap(),
            SignIn::Tokens(_)
        ));
        let done = verify
            .verify(&caller, &secret.code_at(now_step()), &from_ip(1))
            .await
            .unwrap();
        assert_eq!(done.recovery_codes.len(), RECOVERY_CODES);
        let stored = fakes.mfa.mfa(&caller.user_id).await.unwrap();
        assert_eq!(stored.recovery_digests.len(), RECOVERY_CODES);
        assert!(
            stored
                .recovery_digests
                .iter()
                .all(|d| !done.recovery_codes.contains(d)),
            "only digests are stored"
        );
        assert!(stored.secret.unwrap().starts_with("sealed:"), "kept sealed");
    }

    #[tokio::test]
    async fn with_totp_on_a_login_gets_tokens_only_for_the_right_code_once() {
        let fakes = InMemoryAuth::default();
        let step = now_step();
        enrolled(&fakes, step).await;
        let session = challenged(&fakes).await;
        let mfa = fakes.mfa_login();
        // The enrolment used this step's code: it is spent.
        assert!(matches!(
            mfa.complete(&session, code(&fakes, step), &from_ip(1))
                .await,
            Err(AppError::WrongMfaCode)
        ));
        let tokens = mfa
            .complete(&session, code(&fakes, step + 1), &from_ip(1))
            .await
            .unwrap();
        assert_eq!(tokens.token_type, "Bearer");
        assert!(matches!(
            mfa.complete(&session, code(&fakes, step + 1), &from_ip(1))
                .await,
            Err(AppError::InvalidMfaSession)
        ));
    }

    #[tokio::test]
    async fn a_recovery_code_signs_in_once() {
        let fakes = InMemoryAuth::default();
        let codes = enrolled(&fakes, now_step()).await;
        let mfa = fakes.mfa_login();
        let recovery = || SecondFactor::Recovery(RecoveryCode::parse(&codes[3]).unwrap());
        let session = challenged(&fakes).await;
        mfa.complete(&session, recovery(), &from_ip(1))
            .await
            .unwrap();
        let session = challenged(&fakes).await;
        assert!(matches!(
            mfa.complete(&session, recovery(), &from_ip(1)).await,
            Err(AppError::WrongMfaCode)
        ));
        let user = fakes.identity.user_id_of_email(EMAIL).unwrap();
        assert_eq!(
            fakes.mfa.mfa(&user).await.unwrap().recovery_digests.len(),
            RECOVERY_CODES - 1
        );
    }

    #[tokio::test]
    async fn a_code_of_a_secret_gatehouse_did_not_seal_turns_nothing_on() {
        let fakes = InMemoryAuth::default();
        let tokens = fakes.signed_in(EMAIL).await;
        let caller = caller_for(&tokens);
        fakes
            .totp_start()
            .start(&caller, &password(TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap();
        // Another association made around Gatehouse, with the user's token.
        let other = fakes
            .identity
            .associate(&caller.access_token)
            .await
            .unwrap();
        let refused = fakes
            .totp_verify()
            .verify(&caller, &other.code_at(now_step()), &from_ip(1))
            .await;
        assert!(
            matches!(refused, Err(AppError::WrongMfaCode)),
            "{refused:?}"
        );
        assert!(matches!(
            fakes
                .login()
                .login(credentials(EMAIL, TEST_PASSWORD), &from_ip(1))
                .await
                .unwrap(),
            SignIn::Tokens(_)
        ));
        assert!(
            fakes
                .mfa
                .mfa(&caller.user_id)
                .await
                .unwrap()
                .secret
                .is_none()
        );
    }

    #[tokio::test]
    async fn five_wrong_codes_end_the_sign_in() {
        let fakes = InMemoryAuth::default();
        let step = now_step();
        enrolled(&fakes, step).await;
        let session = challenged(&fakes).await;
        let mfa = fakes.mfa_login();
        let right = code(&fakes, step + 1);
        let wrong = || {
            let SecondFactor::Totp(right) = code(&fakes, step + 1) else {
                unreachable!()
            };
            let flipped: String = right
                .expose()
                .chars()
                .map(|c| if c == '9' { '0' } else { (c as u8 + 1) as char })
                .collect();
            SecondFactor::Totp(TotpCode::parse("code", &flipped).unwrap())
        };
        for _ in 0..CHALLENGE_WRONG_CODES {
            assert!(matches!(
                mfa.complete(&session, wrong(), &from_ip(1)).await,
                Err(AppError::WrongMfaCode)
            ));
        }
        assert!(matches!(
            mfa.complete(&session, right, &from_ip(1)).await,
            Err(AppError::InvalidMfaSession)
        ));
    }
}
