//! Sessions: the cut-off that refuses revoked access tokens, login behind the
//! throttle, refresh, logout.

use super::sign_ins::SignIns;
use crate::domain::audit::AuditAction;
use crate::domain::mfa::{CHALLENGE_SECONDS, MfaRequiredRoles, SignIn, challenge_key};
use crate::domain::session::{
    SessionCutoff, admit, cutoff_after, ensure_current, token_is_current,
};
use crate::domain::{AppError, Caller, Email, Origin, Password, RefreshToken, Tokens, UserId};
use crate::metrics::{self, LoginOutcome, Metric};
use crate::ports::{
    AccountAdmin, Authenticator, ChallengeRecord, MfaStore, ProfileStore, SessionStore,
    UserSnapshot,
};
use crate::services::{Audit, LoginRefusal, Throttle};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

/// The one home of the session cut-off and of the second factor a role needs.
/// Cognito revokes refresh tokens, but its access tokens stay valid until they
/// expire, so Gatehouse refuses every access token issued before the user's
/// cut-off; and a holder of a role in `MfaRequiredRoles` without a second factor
/// reaches only enrolment, their own profile and logout.
#[derive(Clone)]
pub struct SessionGuard {
    sessions: Arc<dyn SessionStore>,
    users: Arc<dyn ProfileStore>,
    required: MfaRequiredRoles,
}

impl SessionGuard {
    pub fn new(
        sessions: Arc<dyn SessionStore>,
        users: Arc<dyn ProfileStore>,
        required: MfaRequiredRoles,
    ) -> Self {
        Self {
            sessions,
            users,
            required,
        }
    }

    /// `Unauthenticated` if the caller's token predates the user's session
    /// cut-off. The whole gate of the routes open before enrolment (enrolment
    /// itself, logout); every other route is behind [`Self::admit`].
    pub async fn ensure_current(&self, caller: &Caller) -> Result<(), AppError> {
        ensure_current(caller, &self.cutoff(&caller.user_id).await?)
    }

    /// The gate of every other route: the cut-off, then 403
    /// `mfa_enrollment_required` for a holder of a required role without a
    /// second factor (one read of the user's partition; only the cut-off's
    /// item when no role requires one).
    pub async fn admit(&self, caller: &Caller) -> Result<(), AppError> {
        if self.required.is_empty() {
            return self.ensure_current(caller).await;
        }
        let me = self.users.get_user(&caller.user_id).await?;
        self.check(caller, &me)
    }

    /// [`Self::admit`] on the caller's partition, read already.
    pub fn check(&self, caller: &Caller, me: &UserSnapshot) -> Result<(), AppError> {
        admit(caller, &me.cutoff, me.profile.as_ref(), &self.required)
    }

    /// Access tokens issued before its `revoked_before` (epoch seconds), or of
    /// a sign-in it names as ended, are refused.
    async fn cutoff(&self, user_id: &UserId) -> Result<SessionCutoff, AppError> {
        self.sessions.cutoff(user_id).await
    }

    /// Refuses every token of one sign-in from now on.
    pub async fn end_sign_in(&self, user_id: &UserId, sign_in: &str) -> Result<(), AppError> {
        self.sessions
            .end_sign_in(user_id, sign_in, Utc::now().timestamp())
            .await
    }

    /// Refuses every access token issued up to now, and forgets the user's
    /// sign-ins (their refresh tokens are signed out at Cognito by the caller).
    pub async fn end_all(&self, user_id: &UserId) -> Result<(), AppError> {
        self.sessions
            .revoke_sessions(user_id, cutoff_after(Utc::now()))
            .await?;
        // The cut-off refuses their tokens already; a failure here leaves them
        // listed, and the caller's retry finishes the job.
        self.sessions.forget_sign_ins(user_id).await
    }
}

/// A login, parsed at the edge.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub email: Email,
    pub password: Password,
}

/// Login: Cognito, the throttle windows and the session cut-off.
#[derive(Clone)]
pub struct LoginService {
    authenticator: Arc<dyn Authenticator>,
    throttle: Throttle,
    guard: SessionGuard,
    audit: Audit,
    /// To name the account a failed or refused login was for, in its trail.
    accounts: Arc<dyn ProfileStore>,
    /// Where a sign-in waiting for its second factor is filed.
    challenges: Arc<dyn MfaStore>,
    sign_ins: SignIns,
}

impl LoginService {
    pub fn new(
        authenticator: Arc<dyn Authenticator>,
        throttle: Throttle,
        guard: SessionGuard,
        audit: Audit,
        accounts: Arc<dyn ProfileStore>,
        challenges: Arc<dyn MfaStore>,
        sign_ins: SignIns,
    ) -> Self {
        Self {
            authenticator,
            throttle,
            guard,
            audit,
            accounts,
            challenges,
            sign_ins,
        }
    }

    /// Logs in behind the throttle (`domain::throttle`): every attempt, right or
    /// wrong, known email or not, is counted before the password is tested.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        credentials: Credentials,
        origin: &Origin,
    ) -> Result<SignIn, AppError> {
        let Credentials { email, password } = credentials;
        let count = match self.throttle.login_attempt(&email, origin).await {
            Ok(count) => count,
            Err(LoginRefusal {
                by_source_ip,
                error: refused @ AppError::TooManyRequests { .. },
            }) => {
                metrics::record(Metric::Login(if by_source_ip {
                    LoginOutcome::Throttled
                } else {
                    LoginOutcome::Locked
                }));
                // Noted once per window: refusals must not flood the trail.
                if self.throttle.first_lock_note(&email).await.unwrap_or(false) {
                    self.audit
                        .by_email(&*self.accounts, &email, AuditAction::LoginLocked, origin)
                        .await;
                }
                return Err(refused);
            }
            Err(other) => return Err(other.error),
        };
        let sign_in = match self.authenticator.login(&email, &password).await {
            // A wrong password keeps its attempt counted.
            Err(AppError::InvalidCredentials) => {
                metrics::record(Metric::Login(LoginOutcome::Failure));
                self.audit
                    .by_email(&*self.accounts, &email, AuditAction::LoginFailed, origin)
                    .await;
                return Err(AppError::InvalidCredentials);
            }
            Err(other) => {
                if matches!(other, AppError::TooManyRequests { .. }) {
                    metrics::record(Metric::Login(LoginOutcome::Throttled));
                }
                self.throttle.login_untested(count).await?;
                return Err(other);
            }
            Ok(sign_in) => sign_in,
        };
        let tokens = match sign_in {
            SignIn::Tokens(tokens) => tokens,
            SignIn::TotpRequired(challenge) => {
                // The password was right, but the sign-in is not done: the
                // attempt is given back, and nothing marks this source as
                // the owner's (a second factor has its own counts).
                self.throttle.login_untested(count).await?;
                self.challenges
                    .open_challenge(
                        &challenge_key(&challenge.session),
                        &ChallengeRecord {
                            user_id: challenge.user_id.clone(),
                            email: challenge.email.to_string(),
                            wrong_codes: 0,
                            expires_at: Utc::now().timestamp() + CHALLENGE_SECONDS,
                        },
                    )
                    .await?;
                return Ok(SignIn::TotpRequired(challenge));
            }
        };
        self.throttle.login_succeeded(count).await?;
        let tokens = self.outlast_revocation(tokens, &email, &password).await?;
        // A session nobody could end alone is not handed out.
        self.sign_ins.record(&tokens, origin, false).await?;
        metrics::record(Metric::Login(LoginOutcome::Success));
        if let Some(issue) = &tokens.issued {
            self.audit
                .user(&issue.user_id, AuditAction::LoginSucceeded, Some(origin))
                .await;
        }
        Ok(SignIn::Tokens(tokens))
    }

    /// A login in the same second as a logout or reset would get a token the
    /// cut-off refuses (token times are whole seconds). Wait that second out and
    /// log in again, so a fresh login always yields a usable token.
    async fn outlast_revocation(
        &self,
        tokens: Tokens,
        email: &Email,
        password: &Password,
    ) -> Result<Tokens, AppError> {
        let Some(issue) = tokens.issued.clone() else {
            return Ok(tokens);
        };
        let cutoff = self.guard.cutoff(&issue.user_id).await?.revoked_before;
        if token_is_current(issue.issued_at, cutoff) {
            return Ok(tokens);
        }
        let wait_ms = cutoff.unwrap_or_default() * 1000 - Utc::now().timestamp_millis() + 50;
        tokio::time::sleep(Duration::from_millis(wait_ms.clamp(0, 2_000) as u64)).await;
        match self.authenticator.login(email, password).await? {
            SignIn::Tokens(tokens) => Ok(tokens),
            // TOTP turned on within that second: the user logs in again.
            SignIn::TotpRequired(_) => Err(AppError::InvalidMfaSession),
        }
    }
}

/// Refresh: Cognito, and the sign-in's last use.
#[derive(Clone)]
pub struct RefreshService {
    authenticator: Arc<dyn Authenticator>,
    sessions: Arc<dyn SessionStore>,
}

impl RefreshService {
    pub fn new(authenticator: Arc<dyn Authenticator>, sessions: Arc<dyn SessionStore>) -> Self {
        Self {
            authenticator,
            sessions,
        }
    }

    /// New access and id tokens; the refresh token is never sent back. An
    /// ended session's refresh token is refused by Cognito (revoked).
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, token: &RefreshToken) -> Result<Tokens, AppError> {
        let mut tokens = self.authenticator.refresh(token).await?;
        tokens.refresh_token = None;
        super::sign_ins::touched(&*self.sessions, &tokens).await;
        Ok(tokens)
    }
}

/// Logout: Cognito's administrative sign-out and the session cut-off.
#[derive(Clone)]
pub struct LogoutService {
    admin: Arc<dyn AccountAdmin>,
    guard: SessionGuard,
    audit: Audit,
}

impl LogoutService {
    pub fn new(admin: Arc<dyn AccountAdmin>, guard: SessionGuard, audit: Audit) -> Self {
        Self {
            admin,
            guard,
            audit,
        }
    }

    /// Ends every session: refresh tokens in Cognito first (so nothing can mint new
    /// access tokens), then the cut-off that refuses the access tokens already out.
    /// The sign-out is by user, not by token: a token that expires in flight
    /// cannot leave the refresh tokens alive.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn logout(&self, caller: &Caller, origin: &Origin) -> Result<(), AppError> {
        self.guard.ensure_current(caller).await?;
        self.admin.sign_out_user(&caller.username).await?;
        self.guard.end_all(&caller.user_id).await?;
        self.audit
            .user(&caller.user_id, AuditAction::LoggedOut, Some(origin))
            .await;
        tracing::info!("sessions ended by logout");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{InMemoryAuth, TEST_PASSWORD, caller_for, credentials, from_ip};

    #[tokio::test]
    async fn login_before_confirmation_is_refused_then_works_after() {
        let fakes = InMemoryAuth::default();
        fakes.registered("bo@example.com").await;
        assert!(matches!(
            fakes
                .login()
                .login(credentials("BO@example.com", TEST_PASSWORD), &from_ip(1))
                .await
                .unwrap_err(),
            AppError::UserNotConfirmed
        ));
        fakes.confirmed("bo@example.com").await;
        let tokens = fakes
            .login()
            .login(credentials("BO@example.com", TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap()
            .tokens()
            .expect("no second factor");
        assert_eq!(tokens.token_type, "Bearer");
    }

    #[tokio::test]
    async fn a_wrong_password_and_an_unknown_email_fail_identically() {
        let fakes = InMemoryAuth::default();
        fakes.signed_in("known@example.com").await;
        let wrong_password = fakes
            .login()
            .login(
                credentials("known@example.com", "Wrong-pass-1"),
                &from_ip(1),
            )
            .await
            .unwrap_err();
        let unknown_email = fakes
            .login()
            .login(
                credentials("nobody@example.com", "Wrong-pass-1"),
                &from_ip(1),
            )
            .await
            .unwrap_err();
        assert!(matches!(wrong_password, AppError::InvalidCredentials));
        assert!(matches!(unknown_email, AppError::InvalidCredentials));
        assert_eq!(wrong_password.to_string(), unknown_email.to_string());
    }

    #[tokio::test]
    async fn the_sixth_attempt_after_five_failures_is_throttled_even_with_the_right_password() {
        let fakes = InMemoryAuth::default();
        fakes.confirmed_user("cy@example.com").await;
        for _ in 0..5 {
            let err = fakes
                .login()
                .login(credentials("cy@example.com", "Wrong-pass-1"), &from_ip(1))
                .await
                .unwrap_err();
            assert!(matches!(err, AppError::InvalidCredentials));
        }
        let err = fakes
            .login()
            .login(credentials("cy@example.com", TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap_err();
        match err {
            AppError::TooManyRequests {
                retry_after: Some(wait),
            } => assert!(wait.as_secs() > 800 && wait.as_secs() <= 900),
            other => panic!("expected 429, got {other:?}"),
        }
    }

    async fn fail_five_times(fakes: &InMemoryAuth, email: &str, ip: u8) {
        for _ in 0..5 {
            let err = fakes
                .login()
                .login(credentials(email, "Wrong-pass-1"), &from_ip(ip))
                .await
                .unwrap_err();
            assert!(matches!(err, AppError::InvalidCredentials), "{err:?}");
        }
    }

    #[tokio::test]
    async fn a_lock_from_one_source_ip_does_not_keep_the_owner_out_from_another() {
        let fakes = InMemoryAuth::default();
        fakes.confirmed_user("vi@example.com").await;
        fail_five_times(&fakes, "vi@example.com", 66).await;
        fakes
            .login()
            .login(credentials("vi@example.com", TEST_PASSWORD), &from_ip(7))
            .await
            .expect("the owner logs in from their own address");
    }

    #[tokio::test]
    async fn past_five_failures_from_everywhere_attempts_are_spaced_not_locked() {
        let fakes = InMemoryAuth::default();
        fakes.confirmed_user("sp@example.com").await;
        fail_five_times(&fakes, "sp@example.com", 1).await;
        // A sixth address is admitted once, then must wait the delay.
        let sixth = fakes
            .login()
            .login(credentials("sp@example.com", "Wrong-pass-1"), &from_ip(2))
            .await
            .unwrap_err();
        assert!(matches!(sixth, AppError::InvalidCredentials), "{sixth:?}");
        let err = fakes
            .login()
            .login(credentials("sp@example.com", TEST_PASSWORD), &from_ip(3))
            .await
            .unwrap_err();
        match err {
            AppError::TooManyRequests {
                retry_after: Some(wait),
            } => assert!(wait.as_secs() <= 1, "a short delay, not a lock: {wait:?}"),
            other => panic!("expected 429, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn attempts_from_elsewhere_never_slow_the_owners_own_places() {
        let fakes = InMemoryAuth::default();
        fakes.confirmed_user("kn@example.com").await;
        fakes
            .login()
            .login(credentials("kn@example.com", TEST_PASSWORD), &from_ip(7))
            .await
            .expect("the owner's first login makes 7 a known place");
        // An attacker spreads guesses over many addresses, holding the delay.
        for ip in 20..30 {
            let _ = fakes
                .login()
                .login(credentials("kn@example.com", "Wrong-pass-1"), &from_ip(ip))
                .await;
        }
        let elsewhere = fakes
            .login()
            .login(credentials("kn@example.com", TEST_PASSWORD), &from_ip(8))
            .await
            .unwrap_err();
        assert!(
            matches!(elsewhere, AppError::TooManyRequests { .. }),
            "a new place waits: {elsewhere:?}"
        );
        fakes
            .login()
            .login(credentials("kn@example.com", TEST_PASSWORD), &from_ip(7))
            .await
            .expect("the owner's known place is not slowed");
    }

    #[tokio::test]
    async fn one_source_ip_trying_many_emails_is_stopped() {
        let fakes = InMemoryAuth::default();
        for n in 0..crate::testing::TEST_LIMITS.login_failures_per_ip {
            let err = fakes
                .login()
                .login(
                    credentials(&format!("u{n}@example.com"), "Wrong-pass-1"),
                    &from_ip(9),
                )
                .await
                .unwrap_err();
            assert!(matches!(err, AppError::InvalidCredentials), "{n}: {err:?}");
        }
        let sprayed = fakes
            .login()
            .login(credentials("next@example.com", "Wrong-pass-1"), &from_ip(9))
            .await
            .unwrap_err();
        assert!(
            matches!(sprayed, AppError::TooManyRequests { .. }),
            "{sprayed:?}"
        );
        let elsewhere = fakes
            .login()
            .login(
                credentials("next@example.com", "Wrong-pass-1"),
                &from_ip(10),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(elsewhere, AppError::InvalidCredentials),
            "{elsewhere:?}"
        );
    }

    #[tokio::test]
    async fn unknown_emails_are_throttled_exactly_like_known_ones() {
        let fakes = InMemoryAuth::default();
        for _ in 0..5 {
            let _ = fakes
                .login()
                .login(
                    credentials("ghost@example.com", "Wrong-pass-1"),
                    &from_ip(1),
                )
                .await;
        }
        assert!(matches!(
            fakes
                .login()
                .login(
                    credentials("ghost@example.com", "Wrong-pass-1"),
                    &from_ip(1)
                )
                .await
                .unwrap_err(),
            AppError::TooManyRequests { .. }
        ));
    }

    #[tokio::test]
    async fn an_attempt_that_never_tested_the_password_is_given_back() {
        let fakes = InMemoryAuth::default();
        fakes.registered("un@example.com").await;
        for _ in 0..6 {
            let err = fakes
                .login()
                .login(credentials("un@example.com", TEST_PASSWORD), &from_ip(1))
                .await
                .unwrap_err();
            assert!(matches!(err, AppError::UserNotConfirmed), "{err:?}");
        }
    }

    #[tokio::test]
    async fn a_successful_login_clears_earlier_failures() {
        let fakes = InMemoryAuth::default();
        fakes.confirmed_user("di@example.com").await;
        for _ in 0..2 {
            for _ in 0..4 {
                let _ = fakes
                    .login()
                    .login(credentials("di@example.com", "Wrong-pass-1"), &from_ip(1))
                    .await;
            }
            fakes
                .login()
                .login(credentials("di@example.com", TEST_PASSWORD), &from_ip(1))
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn logout_refuses_the_old_token_but_a_new_login_works_at_once() {
        let fakes = InMemoryAuth::default();
        let tokens = fakes.signed_in("ed@example.com").await;
        let caller = caller_for(&tokens);
        fakes.logout().logout(&caller, &from_ip(1)).await.unwrap();
        assert!(matches!(
            fakes.guard().ensure_current(&caller).await.unwrap_err(),
            AppError::Unauthenticated(_)
        ));
        let fresh = fakes
            .login()
            .login(credentials("ed@example.com", TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap()
            .tokens()
            .expect("no second factor");
        fakes
            .guard()
            .ensure_current(&caller_for(&fresh))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_refreshed_answer_never_carries_a_refresh_token() {
        let fakes = InMemoryAuth::default();
        let tokens = fakes.signed_in("fi@example.com").await;
        let refresh = RefreshToken::parse(tokens.refresh_token.as_deref().unwrap()).unwrap();
        let renewed = fakes.refresh().refresh(&refresh).await.unwrap();
        assert!(renewed.refresh_token.is_none());
        assert_ne!(renewed.access_token, tokens.access_token);
    }
}
