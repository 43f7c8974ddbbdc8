use aws_lambda_events::event::cognito::CognitoEventUserPoolsPreSignup;
use gatehouse::AppError;
use gatehouse::domain::SignUpPolicy;
use gatehouse::metrics::{self, Metric};
use lambda_runtime::{Error, LambdaEvent};

type Event = CognitoEventUserPoolsPreSignup;

/// Refuses sign-ups from denied domains (Cognito shows the returned error to the
/// caller as "PreSignUp failed with error <message>.") and, outside production,
/// auto-confirms the configured test domains.
pub async fn handle(policy: &SignUpPolicy, event: LambdaEvent<Event>) -> Result<Event, Error> {
    let mut event = event.payload;
    let email = event
        .request
        .user_attributes
        .get("email")
        .cloned()
        .or_else(|| event.cognito_event_user_pools_header.user_name.clone())
        .unwrap_or_default();
    match policy.evaluate(&email) {
        Ok(decision) => {
            event.response.auto_confirm_user = decision.auto_confirm;
            event.response.auto_verify_email = decision.auto_confirm;
            // Counted here, not at POST /auth/register: a sign-up straight
            // through Cognito's API counts too.
            metrics::record(Metric::Registration);
            Ok(event)
        }
        Err(AppError::Validation { reason, .. }) => Err(format!("email {reason}").into()),
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::domain::domain_list;
    use lambda_runtime::Context;

    const EVENT: &str = include_str!("../../../events/cognito-pre-signup.json");

    fn event_for(email: &str) -> LambdaEvent<Event> {
        let mut raw: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        raw["request"]["userAttributes"]["email"] = email.into();
        LambdaEvent::new(serde_json::from_value(raw).unwrap(), Context::default())
    }

    fn policy(production: bool) -> SignUpPolicy {
        SignUpPolicy {
            denied_domains: domain_list("mailinator.com"),
            auto_confirm_domains: domain_list("test.example"),
            production,
        }
    }

    #[tokio::test]
    async fn an_ordinary_address_passes_unconfirmed() {
        let event = handle(&policy(false), event_for("ada@example.com"))
            .await
            .unwrap();
        assert!(!event.response.auto_confirm_user);
    }

    #[tokio::test]
    async fn a_denied_domain_is_refused_with_a_clear_message() {
        let err = handle(&policy(false), event_for("Ada@Mailinator.com"))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "email addresses at mailinator.com cannot be used to sign up"
        );
    }

    #[tokio::test]
    async fn test_domains_are_auto_confirmed_but_never_in_production() {
        let dev = handle(&policy(false), event_for("bot@test.example"))
            .await
            .unwrap();
        assert!(dev.response.auto_confirm_user && dev.response.auto_verify_email);
        let prod = handle(&policy(true), event_for("bot@test.example"))
            .await
            .unwrap();
        assert!(!prod.response.auto_confirm_user);
    }

    #[tokio::test]
    async fn the_sample_event_passes() {
        let event = LambdaEvent::new(serde_json::from_str(EVENT).unwrap(), Context::default());
        assert!(handle(&policy(true), event).await.is_ok());
    }
}
