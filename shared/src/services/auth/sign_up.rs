//! Creating and confirming accounts.

use super::{Accepted, Confirmed};
use crate::domain::audit::AuditAction;
use crate::domain::{
    AppError, ConfirmationCode, Email, NewPassword, Origin, Password, PasswordPolicy, Registered,
};
use crate::ports::{SignUpDetails, SignUpIdentity};
use crate::services::{Audit, CodePurpose, Throttle};
use std::sync::Arc;

/// A sign-up, parsed at the edge: the password already passed the policy.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub password: NewPassword,
    pub details: SignUpDetails,
}

/// What a sign-up answers. No user id: the answer for an address already
/// registered must look the same as for a new one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignUpAnswer {
    pub email: Email,
    pub confirmed: bool,
}

/// Whether sign-up tells a caller that an address is taken (OWASP advises not:
/// Cognito itself does, so Gatehouse answers for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakenAddresses {
    /// 409 `email_taken`.
    Reveal,
    /// The answer a new address gets; the owner is told by email instead.
    Hide,
}

/// Register and resend the code: Cognito's public APIs, behind the limits on
/// what sends email (per address and per source IP).
#[derive(Clone)]
pub struct SignUpService {
    identity: Arc<dyn SignUpIdentity>,
    throttle: Throttle,
    policy: PasswordPolicy,
    taken: TakenAddresses,
    audit: Audit,
}

impl SignUpService {
    pub fn new(
        identity: Arc<dyn SignUpIdentity>,
        throttle: Throttle,
        policy: PasswordPolicy,
        taken: TakenAddresses,
        audit: Audit,
    ) -> Self {
        Self {
            identity,
            throttle,
            policy,
            taken,
            audit,
        }
    }

    /// The pool's policy, for parsing a [`Registration`] at the edge.
    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.policy
    }

    /// Signs the user up. Nothing is written to our table here: the profile is
    /// created by the post-confirmation trigger, so a refused sign-up leaves nothing.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        registration: Registration,
        origin: &Origin,
    ) -> Result<SignUpAnswer, AppError> {
        let email = registration.email;
        self.throttle.send_attempt(&email, origin).await?;
        let sign_up = || {
            self.identity.sign_up(
                &email,
                registration.password.password(),
                &registration.details,
            )
        };
        let mut signed_up = sign_up().await;
        // An unconfirmed account proves nothing about who registered it: a new
        // sign-up replaces it, so its code is the new registrant's and only
        // their password will work (no pre-registration takeover).
        if matches!(signed_up, Err(AppError::EmailTaken))
            && self.identity.delete_unconfirmed(&email).await?
        {
            tracing::info!("an unconfirmed account for the address was replaced");
            signed_up = sign_up().await;
        }
        match signed_up {
            Ok(Registered {
                user_id, confirmed, ..
            }) => {
                tracing::info!(%user_id, "user registered");
                self.audit
                    .user(&user_id, AuditAction::SignedUp, Some(origin))
                    .await;
                Ok(SignUpAnswer { email, confirmed })
            }
            Err(AppError::EmailTaken) if self.taken == TakenAddresses::Hide => {
                self.identity.notify_existing_account(&email).await?;
                tracing::info!("sign-up for a registered address; its owner was told");
                Ok(SignUpAnswer {
                    email,
                    confirmed: false,
                })
            }
            Err(err) => Err(err),
        }
    }

    #[tracing::instrument(skip_all)]
    pub async fn resend_confirmation(
        &self,
        email: &Email,
        origin: &Origin,
    ) -> Result<Accepted, AppError> {
        self.throttle.send_attempt(email, origin).await?;
        self.identity.resend_confirmation(email).await?;
        Ok(Accepted {
            message: "If an unconfirmed account exists for this email, a new code has been sent.",
        })
    }
}

/// Confirm: Cognito's public API (the code is the authorisation), behind the
/// count of codes tried for the address.
#[derive(Clone)]
pub struct ConfirmService {
    identity: Arc<dyn SignUpIdentity>,
    throttle: Throttle,
}

impl ConfirmService {
    pub fn new(identity: Arc<dyn SignUpIdentity>, throttle: Throttle) -> Self {
        Self { identity, throttle }
    }

    /// Confirms with the mailed code and the password of the registration:
    /// the code proves the mailbox, the password that the confirmer made this
    /// registration, so no one confirms an account someone else registered
    /// for their address. Every refusal is the same `invalid_code`.
    #[tracing::instrument(skip_all)]
    pub async fn confirm(
        &self,
        email: &Email,
        code: &ConfirmationCode,
        password: &Password,
    ) -> Result<Confirmed, AppError> {
        // An unconfirmed account has no trail yet: the lock is only logged.
        let tried = self
            .throttle
            .code_try(email.as_str(), CodePurpose::Confirm)
            .await
            .map_err(|(refused, _)| refused)?;
        let confirmed = async {
            if !self.identity.opens_unconfirmed(email, password).await? {
                return Err(AppError::InvalidCode);
            }
            self.identity.confirm_sign_up(email, code).await
        }
        .await;
        let wrong = matches!(
            confirmed,
            Err(AppError::InvalidCode | AppError::ExpiredCode)
        );
        self.throttle.code_settled(tried, wrong).await?;
        confirmed?;
        Ok(Confirmed { confirmed: true })
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{AppError, Email};
    use crate::testing::{InMemoryAuth, TEST_PASSWORD, from_ip, registration};

    #[tokio::test]
    async fn a_confirmed_address_answers_like_a_new_one_and_its_owner_is_told() {
        let fakes = InMemoryAuth::default();
        let svc = fakes.sign_up();
        let first = svc
            .register(registration("Cy@Example.com", TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap();
        fakes.confirmed("cy@example.com").await;
        let again = svc
            .register(registration("cy@example.com", TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(fakes.identity.user_count(), 1);
        assert_eq!(fakes.identity.notices_to("cy@example.com"), 1);
    }

    #[tokio::test]
    async fn registering_a_confirmed_address_in_another_case_is_email_taken_when_revealed() {
        let fakes = InMemoryAuth::default();
        let svc = fakes.sign_up_revealing_taken();
        svc.register(registration("Ann@Example.com", TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap();
        fakes.confirmed("ann@example.com").await;
        let err = svc
            .register(registration("ann@example.com", TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::EmailTaken));
    }

    #[tokio::test]
    async fn a_new_sign_up_replaces_an_unconfirmed_account_so_only_its_password_confirms() {
        let fakes = InMemoryAuth::default();
        let svc = fakes.sign_up();
        svc.register(
            registration("vic@example.com", "Attackers-Pw-1"),
            &from_ip(1),
        )
        .await
        .unwrap();
        svc.register(registration("vic@example.com", TEST_PASSWORD), &from_ip(2))
            .await
            .unwrap();
        let email = Email::parse("vic@example.com").unwrap();
        let code = fakes.identity.code_for("vic@example.com").unwrap();
        let code = crate::domain::ConfirmationCode::parse(&code).unwrap();
        let confirm = fakes.confirm();
        let attackers = crate::domain::Password::offered("Attackers-Pw-1").unwrap();
        assert!(matches!(
            confirm
                .confirm(&email, &code, &attackers)
                .await
                .unwrap_err(),
            AppError::InvalidCode
        ));
        let victims = crate::domain::Password::offered(TEST_PASSWORD).unwrap();
        assert!(
            confirm
                .confirm(&email, &code, &victims)
                .await
                .unwrap()
                .confirmed
        );
    }

    #[tokio::test]
    async fn a_wrong_code_is_refused_and_the_mailed_one_confirms() {
        let fakes = InMemoryAuth::default();
        let svc = fakes.sign_up();
        svc.register(registration("bo@example.com", TEST_PASSWORD), &from_ip(1))
            .await
            .unwrap();
        let svc = fakes.confirm();
        let email = Email::parse("bo@example.com").unwrap();
        let password = crate::domain::Password::offered(TEST_PASSWORD).unwrap();
        let wrong = crate::domain::ConfirmationCode::parse("000000").unwrap();
        assert!(matches!(
            svc.confirm(&email, &wrong, &password).await.unwrap_err(),
            AppError::InvalidCode
        ));
        let code = fakes.identity.code_for("bo@example.com").unwrap();
        let code = crate::domain::ConfirmationCode::parse(&code).unwrap();
        assert!(
            svc.confirm(&email, &code, &password)
                .await
                .unwrap()
                .confirmed
        );
        let again = svc.confirm(&email, &code, &password).await.unwrap_err();
        let unknown = svc
            .confirm(
                &Email::parse("nobody@example.com").unwrap(),
                &code,
                &password,
            )
            .await
            .unwrap_err();
        assert!(matches!(again, AppError::InvalidCode), "{again:?}");
        assert_eq!(
            again.to_string(),
            unknown.to_string(),
            "an already confirmed account answers like an unknown one"
        );
    }
}
