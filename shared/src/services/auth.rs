use crate::domain::{
    AppError, ConfirmationCode, DisplayName, Email, Password, PasswordPolicy, Registered, Tokens,
};
use crate::ports::IdentityProvider;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct RegisterInput {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
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

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Confirmed {
    pub confirmed: bool,
}

/// Registration, confirmation and login.
#[derive(Clone)]
pub struct AuthService {
    identity: Arc<dyn IdentityProvider>,
    policy: PasswordPolicy,
}

impl AuthService {
    pub fn new(identity: Arc<dyn IdentityProvider>, policy: PasswordPolicy) -> Self {
        Self { identity, policy }
    }

    /// Signs the user up. Nothing is written to our table here: the profile is
    /// created by the post-confirmation trigger, so a refused sign-up leaves nothing.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, input: RegisterInput) -> Result<Registered, AppError> {
        let email = Email::parse(&input.email)?;
        let password = Password::new_checked(&input.password, &self.policy)?;
        let display_name = input
            .display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()?;
        let registered = self
            .identity
            .sign_up(&email, &password, display_name.as_ref())
            .await?;
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

    /// A malformed email and an unknown one fail the same way as a wrong password,
    /// so the answer never tells whether an account exists.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, input: LoginInput) -> Result<Tokens, AppError> {
        let email = Email::parse(&input.email).map_err(|_| AppError::InvalidCredentials)?;
        let password = Password::offered(&input.password)?;
        self.identity.login(&email, &password).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::InMemoryIdentity;

    fn service() -> (AuthService, Arc<InMemoryIdentity>) {
        let identity = Arc::new(InMemoryIdentity::default());
        let policy = PasswordPolicy {
            min_length: 10,
            require_lowercase: true,
            require_uppercase: true,
            require_numbers: true,
            require_symbols: false,
        };
        (AuthService::new(identity.clone(), policy), identity)
    }

    fn register_input(email: &str, password: &str) -> RegisterInput {
        RegisterInput {
            email: email.into(),
            password: password.into(),
            display_name: None,
        }
    }

    #[tokio::test]
    async fn a_weak_password_never_reaches_the_identity_provider() {
        let (svc, identity) = service();
        let err = svc
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
        assert_eq!(identity.user_count(), 0);
    }

    #[tokio::test]
    async fn registering_twice_with_different_case_is_email_taken() {
        let (svc, _) = service();
        svc.register(register_input("Ann@Example.com", "Password123"))
            .await
            .unwrap();
        let err = svc
            .register(register_input("ann@example.com", "Password123"))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::EmailTaken));
    }

    #[tokio::test]
    async fn login_before_confirmation_is_refused_then_works_after() {
        let (svc, identity) = service();
        svc.register(register_input("bo@example.com", "Password123"))
            .await
            .unwrap();
        let login = || LoginInput {
            email: "BO@example.com".into(),
            password: "Password123".into(),
        };
        assert!(matches!(
            svc.login(login()).await.unwrap_err(),
            AppError::UserNotConfirmed
        ));
        let code = identity.code_for("bo@example.com").unwrap();
        svc.confirm(ConfirmInput {
            email: "bo@example.com".into(),
            code,
        })
        .await
        .unwrap();
        let tokens = svc.login(login()).await.unwrap();
        assert_eq!(tokens.token_type, "Bearer");
    }

    #[tokio::test]
    async fn wrong_password_and_unknown_email_fail_identically() {
        let (svc, _) = service();
        let wrong = svc
            .login(LoginInput {
                email: "nobody@example.com".into(),
                password: "x".into(),
            })
            .await
            .unwrap_err();
        let malformed = svc
            .login(LoginInput {
                email: "not-an-email".into(),
                password: "x".into(),
            })
            .await
            .unwrap_err();
        assert!(matches!(wrong, AppError::InvalidCredentials));
        assert!(matches!(malformed, AppError::InvalidCredentials));
    }
}
