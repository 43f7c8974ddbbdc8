use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPostConfirmationTriggerSource,
};
use gatehouse::domain::ConfirmedUser;
use gatehouse::domain::ProfileCreation;
use gatehouse::metrics::{self, Metric};
use gatehouse::services::Onboarding;
use lambda_runtime::{Error, LambdaEvent};
use tracing::Instrument;

type Event = CognitoEventUserPoolsPostConfirmation;

/// Creates the profile and default role of a newly confirmed user, then hands the
/// event back to Cognito. A failure is returned as `Err`, so Cognito reports it and
/// retries; a retry after success is a no-op.
pub async fn handle(profiles: &Onboarding, event: LambdaEvent<Event>) -> Result<Event, Error> {
    let event = event.payload;
    let header = &event.cognito_event_user_pools_header;
    if header.trigger_source
        != Some(CognitoEventUserPoolsPostConfirmationTriggerSource::ConfirmSignUp)
    {
        return Ok(event);
    }
    let attributes = &event.request.user_attributes;
    let attribute = |name: &str| attributes.get(name).map(String::as_str);
    let span = tracing::info_span!(
        "confirmation",
        user_id = attribute("sub").unwrap_or_default()
    );
    let user =
        ConfirmedUser::from_attributes(attribute("sub"), attribute("email"), attribute("name"))?;
    // A retried trigger finds the profile made: counted once.
    if profiles.on_confirmed(user).instrument(span).await? == ProfileCreation::Created {
        metrics::record(Metric::Confirmation);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::adapters::memory::{InMemoryProfileStore, InMemoryQueue};
    use gatehouse::domain::{Role, UserId};
    use lambda_runtime::Context;
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../../events/cognito-post-confirmation.json");

    fn event() -> LambdaEvent<Event> {
        LambdaEvent::new(serde_json::from_str(EVENT).unwrap(), Context::default())
    }

    struct Fixture {
        onboarding: Onboarding,
        profiles: gatehouse::services::ProfileService,
        queue: Arc<InMemoryQueue>,
    }

    impl Fixture {
        fn welcomes(&self) -> usize {
            self.queue.queued.lock().unwrap().len()
        }
    }

    fn service() -> Fixture {
        let store = Arc::new(InMemoryProfileStore::default());
        let queue = Arc::new(InMemoryQueue::default());
        Fixture {
            onboarding: Onboarding::new(
                gatehouse::testing::profile_creator(store.clone()),
                gatehouse::services::Notices::new(queue.clone()),
            ),
            profiles: gatehouse::testing::profile_service(store, None),
            queue,
        }
    }

    fn sample_user() -> UserId {
        let raw: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        UserId::parse(raw["request"]["userAttributes"]["sub"].as_str().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_confirmed_sign_up_creates_the_profile_and_returns_the_event() {
        let svc = service();
        let returned = handle(&svc.onboarding, event()).await.unwrap();
        assert_eq!(returned, event().payload);
        assert_eq!(svc.welcomes(), 1, "the welcome is queued");
        let profile = svc.profiles.get(&sample_user()).await.unwrap();
        assert_eq!(profile.roles, vec![Role::parse("user").unwrap()]);
        assert_eq!(profile.display_name.as_deref(), Some("Ada Lovelace"));
    }

    #[tokio::test]
    async fn delivering_the_event_twice_keeps_one_unchanged_profile() {
        let svc = service();
        handle(&svc.onboarding, event()).await.unwrap();
        let first = svc.profiles.get(&sample_user()).await.unwrap();
        handle(&svc.onboarding, event()).await.unwrap();
        assert_eq!(svc.profiles.get(&sample_user()).await.unwrap(), first);
    }

    #[tokio::test]
    async fn a_forgot_password_confirmation_creates_nothing() {
        let svc = service();
        let mut raw: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        raw["triggerSource"] = "PostConfirmation_ConfirmForgotPassword".into();
        let event = LambdaEvent::new(serde_json::from_value(raw).unwrap(), Context::default());
        handle(&svc.onboarding, event).await.unwrap();
        assert!(svc.profiles.get(&sample_user()).await.is_err());
        assert_eq!(svc.welcomes(), 0);
    }
}
