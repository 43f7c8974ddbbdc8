use crate::domain::session::{cutoff_after, token_is_current};
use crate::domain::{
    AppError, Caller, ConfirmationCode, DisplayName, Email, Locale, Password, PasswordPolicy,
    RefreshToken, Registered, Tokens,
};
use crate::ports::{IdentityProvider, LoginThrottle, SessionStore, SignUpDetails};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Deserialize)]
pub struct RegisterInput {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ConfirmInput {
    pub email: String,
    pub code: String,
}

#[derive(Debug, Deserialize)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize)]
pub struct RefreshInput {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize)]
pub struct EmailInput {
    pub email: String,
}

#[derive(Debug, Deserialize)]
pub struct ResetPasswordInput {
    pub email: String,
    pub code: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize)]
pub struct ChangePasswordInput {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Confirmed {
    pub confirmed: bool,
}

/// The answer to requests whose outcome must not reveal whether an account exists.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Accepted {
    pub message: &'static str,
}

/// The key of an email's failed-login counter: a digest, so the table never holds
/// addresses of people who have no account.
fn throttle_key(email: &Email) -> String {
    let digest = Sha256::digest(email.as_str().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `step` up to three times while it fails for reasons a retry can fix
/// (on top of the SDK's own retries of throttling and transient errors).
async fn with_retries<T, F, Fut>(mut step: F) -> Result<T, AppError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempts_left = 3;
    loop {
        match step().await {
            Err(AppError::Unavailable(_) | AppError::Unexpected(_)) if attempts_left > 1 => {
                attempts_left -= 1;
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
}

/// Sign-up, login and everything that ends or renews a session.
#[derive(Clone)]
pub struct AuthService {
    identity: Arc<dyn IdentityProvider>,
    sessions: Arc<dyn SessionStore>,
    throttle: Arc<dyn LoginThrottle>,
    policy: PasswordPolicy,
}

impl AuthService {
    pub fn new(
        identity: Arc<dyn IdentityProvider>,
        sessions: Arc<dyn SessionStore>,
        throttle: Arc<dyn LoginThrottle>,
        policy: PasswordPolicy,
    ) -> Self {
        Self {
            identity,
            sessions,
            throttle,
            policy,
        }
    }

    /// Signs the user up. Nothing is written to our table here: the profile is
    /// created by the post-confirmation trigger, so a refused sign-up leaves nothing.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, input: RegisterInput) -> Result<Registered, AppError> {
        let email = Email::parse(&input.email)?;
        let password = Password::new_checked(&input.password, &self.policy)?;
        let details = SignUpDetails {
            display_name: input
                .display_name
                .as_deref()
                .map(DisplayName::parse)
                .transpose()?,
            locale: input.locale.as_deref().map(Locale::parse).transpose()?,
        };
        let registered = self.identity.sign_up(&email, &password, &details).await?;
        tracing::info!(user_id = %registered.user_id, "user registered");
        Ok(registered)
    }

    #[tracing::instrument(skip_all)]
    pub async fn confirm(&self, input: ConfirmInput) -> Result<Confirmed, AppError> {
        let email = Email::parse(&input.email)?;
        let code = ConfirmationCode::parse(&input.code)?;
        self.identity.confirm_sign_up(&email, &code).await?;
        Ok(Confirmed { confirmed: true })
    }

    #[tracing::instrument(skip_all)]
    pub async fn resend_confirmation(&self, input: EmailInput) -> Result<Accepted, AppError> {
        let email = Email::parse(&input.email)?;
        self.identity.resend_confirmation(&email).await?;
        Ok(Accepted {
            message: "If an unconfirmed account exists for this email, a new code has been sent.",
        })
    }

    /// Logs in, refusing every attempt (right or wrong, known email or not) once an
    /// email has failed too often. A malformed email fails like a wrong password.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, input: LoginInput) -> Result<Tokens, AppError> {
        let email = Email::parse(&input.email).map_err(|_| AppError::InvalidCredentials)?;
        let password = Password::offered(&input.password)?;
        let key = throttle_key(&email);
        if let Err(wait) = self
            .throttle
            .reserve_attempt(&key, Utc::now().timestamp())
            .await?
        {
            return Err(AppError::TooManyRequests {
                retry_after: Some(wait),
            });
        }
        let tokens = match self.identity.login(&email, &password).await {
            // A wrong password keeps its attempt counted.
            Err(AppError::InvalidCredentials) => return Err(AppError::InvalidCredentials),
            Err(other) => {
                self.throttle.release_attempt(&key).await?;
                return Err(other);
            }
            Ok(tokens) => tokens,
        };
        self.throttle.clear(&key).await?;
        self.outlast_revocation(tokens, &email, &password).await
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
        let cutoff = self
            .sessions
            .sessions_revoked_before(&issue.user_id)
            .await?;
        if token_is_current(issue.issued_at, cutoff) {
            return Ok(tokens);
        }
        let wait_ms = cutoff.unwrap_or_default() * 1000 - Utc::now().timestamp_millis() + 50;
        tokio::time::sleep(Duration::from_millis(wait_ms.clamp(0, 2_000) as u64)).await;
        self.identity.login(email, password).await
    }

    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, input: RefreshInput) -> Result<Tokens, AppError> {
        let token = RefreshToken::parse(&input.refresh_token)?;
        let mut tokens = self.identity.refresh(&token).await?;
        tokens.refresh_token = None;
        Ok(tokens)
    }

    /// `Unauthenticated` if the caller's token predates the user's session cut-off.
    pub async fn ensure_current(&self, caller: &Caller) -> Result<(), AppError> {
        let cutoff = self
            .sessions
            .sessions_revoked_before(&caller.user_id)
            .await?;
        if token_is_current(caller.issued_at, cutoff) {
            Ok(())
        } else {
            Err(AppError::Unauthenticated("the token has been revoked"))
        }
    }

    /// Ends every session: refresh tokens in Cognito first (so nothing can mint new
    /// access tokens), then the cut-off that refuses the access tokens already out.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn logout(&self, caller: &Caller) -> Result<(), AppError> {
        self.ensure_current(caller).await?;
        self.identity.sign_out(&caller.access_token).await?;
        self.sessions
            .revoke_sessions(&caller.user_id, cutoff_after(Utc::now()))
            .await?;
        tracing::info!("sessions ended by logout");
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn change_password(
        &self,
        caller: &Caller,
        input: ChangePasswordInput,
    ) -> Result<(), AppError> {
        self.ensure_current(caller).await?;
        let current = Password::offered(&input.current_password)
            .map_err(|_| AppError::validation("current_password", "is required"))?;
        let new =
            Password::new_checked(&input.new_password, &self.policy).map_err(|e| match e {
                AppError::Validation { reason, .. } => AppError::validation("new_password", reason),
                other => other,
            })?;
        self.identity
            .change_password(&caller.access_token, &current, &new)
            .await?;
        // The old password is spent now: the caller could not retry, so we do.
        with_retries(|| self.identity.sign_out(&caller.access_token)).await?;
        with_retries(|| {
            self.sessions
                .revoke_sessions(&caller.user_id, cutoff_after(Utc::now()))
        })
        .await?;
        tracing::info!("password changed; sessions ended");
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    pub async fn forgot_password(&self, input: EmailInput) -> Result<Accepted, AppError> {
        let email = Email::parse(&input.email)?;
        self.identity.forgot_password(&email).await?;
        Ok(Accepted {
            message: "If an account exists for this email, a reset code has been sent.",
        })
    }

    #[tracing::instrument(skip_all)]
    pub async fn reset_password(&self, input: ResetPasswordInput) -> Result<(), AppError> {
        let email = Email::parse(&input.email)?;
        let code = ConfirmationCode::parse(&input.code)?;
        let new =
            Password::new_checked(&input.new_password, &self.policy).map_err(|e| match e {
                AppError::Validation { reason, .. } => AppError::validation("new_password", reason),
                other => other,
            })?;
        self.identity.reset_password(&email, &code, &new).await?;
        // The code is spent now: the caller could not retry, so we do.
        let user_id = with_retries(|| self.identity.sign_out_everywhere(&email)).await?;
        with_retries(|| {
            self.sessions
                .revoke_sessions(&user_id, cutoff_after(Utc::now()))
        })
        .await?;
        tracing::info!(%user_id, "password reset; sessions ended");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{InMemoryIdentity, InMemorySessions, InMemoryThrottle};

    struct Fixture {
        svc: AuthService,
        identity: Arc<InMemoryIdentity>,
    }

    fn fixture() -> Fixture {
        let identity = Arc::new(InMemoryIdentity::default());
        let policy = PasswordPolicy {
            min_length: 10,
            require_lowercase: true,
            require_uppercase: true,
            require_numbers: true,
            require_symbols: false,
        };
        let svc = AuthService::new(
            identity.clone(),
            Arc::new(InMemorySessions::default()),
            Arc::new(InMemoryThrottle::default()),
            policy,
        );
        Fixture { svc, identity }
    }

    fn register_input(email: &str, password: &str) -> RegisterInput {
        RegisterInput {
            email: email.into(),
            password: password.into(),
            display_name: None,
            locale: None,
        }
    }

    fn login_input(email: &str, password: &str) -> LoginInput {
        LoginInput {
            email: email.into(),
            password: password.into(),
        }
    }

    async fn confirmed_user(f: &Fixture, email: &str) {
        f.svc
            .register(register_input(email, "Password123"))
            .await
            .unwrap();
        let code = f.identity.code_for(email).unwrap();
        f.svc
            .confirm(ConfirmInput {
                email: email.into(),
                code,
            })
            .await
            .unwrap();
    }

    fn caller_for(tokens: &Tokens) -> Caller {
        let issue = tokens.issued.clone().unwrap();
        Caller {
            user_id: issue.user_id,
            groups: vec![],
            issued_at: issue.issued_at,
            access_token: crate::domain::AccessToken::parse(&tokens.access_token).unwrap(),
        }
    }

    #[tokio::test]
    async fn a_weak_password_never_reaches_the_identity_provider() {
        let f = fixture();
        let err = f
            .svc
            .register(register_input("a@example.com", "weak"))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            AppError::Validation {
                field: "password",
                ..
            }
        ));
        assert_eq!(f.identity.user_count(), 0);
    }

    #[tokio::test]
    async fn registering_twice_with_different_case_is_email_taken() {
        let f = fixture();
        f.svc
            .register(register_input("Ann@Example.com", "Password123"))
            .await
            .unwrap();
        let err = f
            .svc
            .register(register_input("ann@example.com", "Password123"))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::EmailTaken));
    }

    #[tokio::test]
    async fn login_before_confirmation_is_refused_then_works_after() {
        let f = fixture();
        f.svc
            .register(register_input("bo@example.com", "Password123"))
            .await
            .unwrap();
        assert!(matches!(
            f.svc
                .login(login_input("BO@example.com", "Password123"))
                .await
                .unwrap_err(),
            AppError::UserNotConfirmed
        ));
        let code = f.identity.code_for("bo@example.com").unwrap();
        f.svc
            .confirm(ConfirmInput {
                email: "bo@example.com".into(),
                code,
            })
            .await
            .unwrap();
        let tokens = f
            .svc
            .login(login_input("BO@example.com", "Password123"))
            .await
            .unwrap();
        assert_eq!(tokens.token_type, "Bearer");
    }

    #[tokio::test]
    async fn wrong_password_and_unknown_email_fail_identically() {
        let f = fixture();
        let wrong = f
            .svc
            .login(login_input("nobody@example.com", "x"))
            .await
            .unwrap_err();
        let malformed = f
            .svc
            .login(login_input("not-an-email", "x"))
            .await
            .unwrap_err();
        assert!(matches!(wrong, AppError::InvalidCredentials));
        assert!(matches!(malformed, AppError::InvalidCredentials));
    }

    #[tokio::test]
    async fn the_sixth_attempt_after_five_failures_is_throttled_even_with_the_right_password() {
        let f = fixture();
        confirmed_user(&f, "cy@example.com").await;
        for _ in 0..5 {
            let err = f
                .svc
                .login(login_input("cy@example.com", "Wrong-pass-1"))
                .await
                .unwrap_err();
            assert!(matches!(err, AppError::InvalidCredentials));
        }
        let err = f
            .svc
            .login(login_input("cy@example.com", "Password123"))
            .await
            .unwrap_err();
        match err {
            AppError::TooManyRequests {
                retry_after: Some(wait),
            } => {
                assert!(wait.as_secs() > 800 && wait.as_secs() <= 900);
            }
            other => panic!("expected 429, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn unknown_emails_are_throttled_exactly_like_known_ones() {
        let f = fixture();
        for _ in 0..5 {
            let _ = f.svc.login(login_input("ghost@example.com", "x")).await;
        }
        assert!(matches!(
            f.svc
                .login(login_input("ghost@example.com", "x"))
                .await
                .unwrap_err(),
            AppError::TooManyRequests { .. }
        ));
    }

    #[tokio::test]
    async fn a_successful_login_clears_earlier_failures() {
        let f = fixture();
        confirmed_user(&f, "di@example.com").await;
        for _ in 0..4 {
            let _ = f
                .svc
                .login(login_input("di@example.com", "Wrong-pass-1"))
                .await;
        }
        f.svc
            .login(login_input("di@example.com", "Password123"))
            .await
            .unwrap();
        for _ in 0..4 {
            let _ = f
                .svc
                .login(login_input("di@example.com", "Wrong-pass-1"))
                .await;
        }
        f.svc
            .login(login_input("di@example.com", "Password123"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn logout_refuses_the_old_token_but_a_new_login_works_at_once() {
        let f = fixture();
        confirmed_user(&f, "ed@example.com").await;
        let tokens = f
            .svc
            .login(login_input("ed@example.com", "Password123"))
            .await
            .unwrap();
        let caller = caller_for(&tokens);
        f.svc.logout(&caller).await.unwrap();
        assert!(matches!(
            f.svc.ensure_current(&caller).await.unwrap_err(),
            AppError::Unauthenticated(_)
        ));
        let fresh = f
            .svc
            .login(login_input("ed@example.com", "Password123"))
            .await
            .unwrap();
        f.svc.ensure_current(&caller_for(&fresh)).await.unwrap();
    }

    #[tokio::test]
    async fn changing_the_password_needs_the_current_one_and_ends_sessions() {
        let f = fixture();
        confirmed_user(&f, "fa@example.com").await;
        let tokens = f
            .svc
            .login(login_input("fa@example.com", "Password123"))
            .await
            .unwrap();
        let caller = caller_for(&tokens);
        let wrong = f
            .svc
            .change_password(
                &caller,
                ChangePasswordInput {
                    current_password: "Nope-nope-1".into(),
                    new_password: "NewPassword456".into(),
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(wrong, AppError::InvalidCredentials));
        f.svc
            .change_password(
                &caller,
                ChangePasswordInput {
                    current_password: "Password123".into(),
                    new_password: "NewPassword456".into(),
                },
            )
            .await
            .unwrap();
        assert!(f.svc.ensure_current(&caller).await.is_err());
        assert!(
            f.svc
                .login(login_input("fa@example.com", "Password123"))
                .await
                .is_err()
        );
        f.svc
            .login(login_input("fa@example.com", "NewPassword456"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn transient_failures_are_retried_but_client_errors_are_not() {
        let calls = std::sync::atomic::AtomicU32::new(0);
        let flaky = with_retries(|| async {
            match calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
                0 => Err(AppError::unexpected("blip")),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!(flaky.unwrap(), 7);
        let refused = std::sync::atomic::AtomicU32::new(0);
        let result: Result<(), AppError> = with_retries(|| async {
            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(AppError::InvalidCode)
        })
        .await;
        assert!(matches!(result, Err(AppError::InvalidCode)));
        assert_eq!(refused.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn forgot_password_answers_the_same_for_unknown_emails() {
        let f = fixture();
        confirmed_user(&f, "gu@example.com").await;
        let known = f
            .svc
            .forgot_password(EmailInput {
                email: "gu@example.com".into(),
            })
            .await
            .unwrap();
        let unknown = f
            .svc
            .forgot_password(EmailInput {
                email: "who@example.com".into(),
            })
            .await
            .unwrap();
        assert_eq!(known, unknown);
    }

    #[tokio::test]
    async fn a_reset_with_the_mailed_code_replaces_the_password_and_ends_sessions() {
        let f = fixture();
        confirmed_user(&f, "ha@example.com").await;
        let tokens = f
            .svc
            .login(login_input("ha@example.com", "Password123"))
            .await
            .unwrap();
        f.svc
            .forgot_password(EmailInput {
                email: "ha@example.com".into(),
            })
            .await
            .unwrap();
        let bad = f
            .svc
            .reset_password(ResetPasswordInput {
                email: "ha@example.com".into(),
                code: "000000".into(),
                new_password: "NewPassword456".into(),
            })
            .await
            .unwrap_err();
        assert!(matches!(bad, AppError::InvalidCode));
        let code = f.identity.reset_code_for("ha@example.com").unwrap();
        f.svc
            .reset_password(ResetPasswordInput {
                email: "ha@example.com".into(),
                code,
                new_password: "NewPassword456".into(),
            })
            .await
            .unwrap();
        assert!(f.svc.ensure_current(&caller_for(&tokens)).await.is_err());
        f.svc
            .login(login_input("ha@example.com", "NewPassword456"))
            .await
            .unwrap();
    }
}
