//! Helpers for the service and handler tests: services over the in-memory fakes,
//! requests from the sample events in `events/`, response bodies as JSON, and the
//! store contract suites every store adapter must pass. Test support only:
//! compiled for tests and the `testing` feature, never into a deployed binary.

use crate::adapters::memory::{
    InMemoryAuditLog, InMemoryIdentity, InMemorySessions, InMemoryThrottle, TestThrottleKeys,
};
use crate::domain::{
    AccessToken, Caller, ConfirmationCode, Email, NewPassword, Origin, Password, PasswordPolicy,
    Tokens,
};
use crate::ports::SignUpDetails;
use crate::services::{
    Audit, ConfirmService, Credentials, ForgotPasswordService, LoginService, LogoutService,
    PasswordResetService, PasswordService, RefreshService, Registration, SessionGuard,
    SignUpService, TakenAddresses, Throttle, ThrottleLimits,
};
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use std::sync::Arc;

pub mod contract;

/// The sample API Gateway event, with its body replaced by `body` when given.
pub fn request(event: &str, body: Option<Value>) -> Request {
    let mut event: Value = serde_json::from_str(event).expect("sample event is JSON");
    if let Some(body) = body {
        event["body"] = Value::String(body.to_string());
    }
    lambda_http::request::from_str(&event.to_string())
        .expect("sample event is an API Gateway v2 event")
}

/// The sample event with a raw (possibly malformed) body.
pub fn request_with_raw_body(event: &str, body: &str) -> Request {
    let mut event: Value = serde_json::from_str(event).expect("sample event is JSON");
    event["body"] = Value::String(body.to_owned());
    lambda_http::request::from_str(&event.to_string())
        .expect("sample event is an API Gateway v2 event")
}

/// The sample event as a call by `user_id` (also its Cognito username, as for an
/// email-as-username pool) with a token issued at `issued_at`.
pub fn request_as(
    event: &str,
    user_id: &str,
    issued_at: i64,
    token: &str,
    body: Option<Value>,
) -> Request {
    let mut event: Value = serde_json::from_str(event).expect("sample event is JSON");
    let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
    claims["sub"] = Value::String(user_id.to_owned());
    claims["username"] = Value::String(user_id.to_owned());
    claims["iat"] = Value::String(issued_at.to_string());
    event["headers"]["authorization"] = Value::String(format!("Bearer {token}"));
    if let Some(body) = body {
        event["body"] = Value::String(body.to_string());
    }
    lambda_http::request::from_str(&event.to_string())
        .expect("sample event is an API Gateway v2 event")
}

pub fn json_of(response: &Response<Body>) -> Value {
    if response.body().is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(response.body().as_ref()).expect("response body is JSON")
}

/// The password policy the tests use: 10+ characters, lower, upper and a number.
pub fn test_policy() -> PasswordPolicy {
    PasswordPolicy {
        min_length: 10,
        require_lowercase: true,
        require_uppercase: true,
        require_numbers: true,
        require_symbols: false,
    }
}

/// The roles new users start with in tests: `user`, and `admin` for
/// `root@example.com`.
pub fn starting_roles() -> crate::services::StartingRoles {
    crate::services::StartingRoles {
        default_role: crate::domain::Role::parse("user").expect("role"),
        admin_emails: vec![Email::parse("root@example.com").expect("email")],
    }
}

/// Profile creation over `store`, audited in a trail of its own.
pub fn profile_creator(
    store: Arc<crate::adapters::memory::InMemoryProfileStore>,
) -> crate::services::ProfileCreator {
    crate::services::ProfileCreator::new(
        store,
        starting_roles(),
        Audit::new(Arc::new(InMemoryAuditLog::default()), 30),
    )
}

/// The profile API over `store`, with `starting_roles`, the policies in
/// `store`, and a directory that knows `directory_user` (or nobody).
pub fn profile_service(
    store: Arc<crate::adapters::memory::InMemoryProfileStore>,
    directory_user: Option<crate::domain::ConfirmedUser>,
) -> crate::services::ProfileService {
    crate::services::ProfileService::new(
        profile_creator(store.clone()),
        Arc::new(crate::adapters::memory::FixedDirectory(directory_user)),
        Arc::new(crate::services::Permissions::new(store)),
    )
}

/// The password the helpers below register users with.
pub const TEST_PASSWORD: &str = "Password123";

/// A registration with no display name or locale.
pub fn registration(email: &str, password: &str) -> Registration {
    Registration {
        email: Email::parse(email).expect("test email"),
        password: NewPassword::parse(password, &test_policy()).expect("test password"),
        details: SignUpDetails::default(),
    }
}

pub fn credentials(email: &str, password: &str) -> Credentials {
    Credentials {
        email: Email::parse(email).expect("test email"),
        password: Password::offered(password).expect("test password"),
    }
}

/// A request from the documentation range 192.0.2.0/24, host `n`.
pub fn from_ip(n: u8) -> Origin {
    Origin {
        source_ip: format!("192.0.2.{n}"),
        user_agent: Some("test".into()),
    }
}

/// The per-source-IP limits the tests use.
pub const TEST_LIMITS: ThrottleLimits = ThrottleLimits {
    login_failures_per_ip: 50,
    sends_per_ip: 20,
};

/// The caller a protected endpoint would see for these tokens.
pub fn caller_for(tokens: &Tokens) -> Caller {
    let issue = tokens.issued.clone().expect("tokens say whom they are for");
    Caller {
        username: issue.user_id.as_str().to_owned(),
        user_id: issue.user_id,
        groups: vec![],
        issued_at: issue.issued_at,
        access_token: AccessToken::parse(&tokens.access_token).expect("token"),
        session_id: issue.session_id,
    }
}

/// Every authentication service over one set of in-memory fakes, so a test can
/// sign up with one and log in with another.
#[derive(Default)]
pub struct InMemoryAuth {
    pub identity: Arc<InMemoryIdentity>,
    pub sessions: Arc<InMemorySessions>,
    pub throttle_windows: Arc<InMemoryThrottle>,
    pub audit_log: Arc<InMemoryAuditLog>,
    pub profiles: Arc<crate::adapters::memory::InMemoryProfileStore>,
    /// Where Gatehouse's own notices (password changed, ...) are queued.
    pub notice_queue: Arc<crate::adapters::memory::InMemoryQueue>,
    pub mfa: Arc<crate::adapters::memory::InMemoryMfaStore>,
}

impl InMemoryAuth {
    pub fn guard(&self) -> SessionGuard {
        SessionGuard::new(
            self.sessions.clone(),
            self.profiles.clone(),
            crate::domain::mfa::MfaRequiredRoles::default(),
        )
    }

    pub fn audit(&self) -> Audit {
        Audit::new(self.audit_log.clone(), 30)
    }

    pub fn throttle(&self) -> Throttle {
        Throttle::new(
            self.throttle_windows.clone(),
            Arc::new(TestThrottleKeys),
            TEST_LIMITS,
        )
    }

    /// Sign-up as deployed by default: a taken address answers like a new one.
    pub fn sign_up(&self) -> SignUpService {
        SignUpService::new(
            self.identity.clone(),
            self.throttle(),
            test_policy(),
            TakenAddresses::Hide,
            self.audit(),
        )
    }

    pub fn sign_up_revealing_taken(&self) -> SignUpService {
        SignUpService::new(
            self.identity.clone(),
            self.throttle(),
            test_policy(),
            TakenAddresses::Reveal,
            self.audit(),
        )
    }

    pub fn confirm(&self) -> ConfirmService {
        ConfirmService::new(self.identity.clone(), self.throttle())
    }

    pub fn login(&self) -> LoginService {
        LoginService::new(
            self.identity.clone(),
            self.throttle(),
            self.guard(),
            self.audit(),
            self.profiles.clone(),
            self.mfa.clone(),
            self.sign_ins(),
        )
    }

    /// Sign-ins filed in the fake sessions, refresh tokens sealed by the test sealer.
    pub fn sign_ins(&self) -> crate::services::SignIns {
        crate::services::SignIns::new(
            self.sessions.clone(),
            Arc::new(crate::adapters::memory::TestSealer),
            crate::services::Notices::new(self.notice_queue.clone()),
            self.audit(),
            "https://id.example.org",
        )
    }

    pub fn totp_start(&self) -> crate::services::TotpStartService {
        crate::services::TotpStartService::new(
            crate::services::TotpStartPorts {
                totp: self.identity.clone(),
                directory: self.identity.clone(),
                authenticator: self.identity.clone(),
                store: self.mfa.clone(),
                sealer: Arc::new(crate::adapters::memory::TestSealer),
            },
            self.throttle(),
            self.guard(),
            "Gatehouse".into(),
        )
    }

    pub fn totp_verify(&self) -> crate::services::TotpVerifyService {
        crate::services::TotpVerifyService::new(
            self.identity.clone(),
            self.mfa.clone(),
            Arc::new(crate::adapters::memory::TestSealer),
            self.throttle(),
            self.guard(),
            self.audit(),
            crate::services::Notices::new(self.notice_queue.clone()),
        )
    }

    pub fn step_up(&self) -> crate::services::StepUp {
        crate::services::StepUp::new(
            self.mfa.clone(),
            Arc::new(crate::adapters::memory::TestSealer),
            self.throttle(),
            self.audit(),
            crate::services::Notices::new(self.notice_queue.clone()),
        )
    }

    /// `inner` behind the step-up over these fakes.
    pub fn stepped_up<S>(&self, inner: S) -> crate::services::SteppedUp<S> {
        crate::services::SteppedUp::new(inner, self.step_up(), self.guard())
    }

    pub fn totp_disable(&self) -> crate::services::TotpDisableService {
        crate::services::TotpDisableService::new(
            crate::services::TotpDisablePorts {
                totp: self.identity.clone(),
                directory: self.identity.clone(),
                authenticator: self.identity.clone(),
            },
            self.step_up(),
            self.throttle(),
            self.guard(),
            self.audit(),
        )
    }

    pub fn recovery_codes(&self) -> crate::services::RecoveryCodesService {
        crate::services::RecoveryCodesService::new(self.step_up(), self.guard(), self.audit())
    }

    pub fn mfa_login(&self) -> crate::services::MfaLoginService {
        crate::services::MfaLoginService::new(
            self.identity.clone(),
            self.mfa.clone(),
            Arc::new(crate::adapters::memory::TestSealer),
            self.throttle(),
            self.audit(),
            crate::services::Notices::new(self.notice_queue.clone()),
            self.sign_ins(),
        )
    }

    pub fn refresh(&self) -> RefreshService {
        RefreshService::new(self.identity.clone(), self.sessions.clone())
    }

    pub fn logout(&self) -> LogoutService {
        LogoutService::new(self.identity.clone(), self.guard(), self.audit())
    }

    pub fn passwords(&self) -> PasswordService {
        PasswordService::new(
            self.identity.clone(),
            self.identity.clone(),
            self.guard(),
            test_policy(),
            self.audit(),
            crate::services::Notices::new(self.notice_queue.clone()),
        )
    }

    pub fn password_reset(&self) -> PasswordResetService {
        PasswordResetService::new(self.passwords(), self.throttle(), self.profiles.clone())
    }

    pub fn forgot_password(&self) -> ForgotPasswordService {
        ForgotPasswordService::new(self.identity.clone(), self.throttle())
    }

    /// Registers `email` (unconfirmed) with [`TEST_PASSWORD`].
    pub async fn registered(&self, email: &str) {
        let registered = self
            .sign_up()
            .register(registration(email, TEST_PASSWORD), &from_ip(1))
            .await;
        assert!(registered.is_ok(), "register {email}: {registered:?}");
    }

    /// Confirms a registered `email` with the code it was sent.
    pub async fn confirmed(&self, email: &str) {
        self.confirmed_with(email, TEST_PASSWORD).await;
    }

    /// Confirms `email`, registered with `password`, with the code it was sent.
    pub async fn confirmed_with(&self, email: &str, password: &str) {
        let code = self.identity.code_for(email).unwrap_or_default();
        let confirmed = self
            .confirm()
            .confirm(
                &Email::parse(email).expect("test email"),
                &ConfirmationCode::parse(&code).expect("sent code"),
                &crate::domain::Password::offered(password).expect("password"),
            )
            .await;
        assert!(confirmed.is_ok(), "confirm {email}: {confirmed:?}");
    }

    /// Registers and confirms `email`.
    pub async fn confirmed_user(&self, email: &str) {
        self.registered(email).await;
        self.confirmed(email).await;
    }

    /// Registers, confirms and logs in `email`; returns the tokens.
    pub async fn signed_in(&self, email: &str) -> Tokens {
        self.confirmed_user(email).await;
        match self
            .login()
            .login(credentials(email, TEST_PASSWORD), &from_ip(1))
            .await
        {
            Ok(crate::domain::mfa::SignIn::Tokens(tokens)) => tokens,
            Ok(challenge) => panic!("login {email}: {challenge:?}"),
            Err(err) => panic!("login {email}: {err:?}"),
        }
    }
}
