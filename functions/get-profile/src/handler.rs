use gatehouse::http::profile_endpoint;
use gatehouse::services::ProfileService;
use lambda_http::{Body, Error, Request, Response};

/// `GET /users/me` → 200 with the caller's profile.
pub async fn handle(profiles: &ProfileService, req: Request) -> Result<Response<Body>, Error> {
    Ok(profile_endpoint(
        &req,
        |caller| async move { profiles.get_own(&caller).await },
    )
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::adapters::memory::InMemoryProfileStore;
    use gatehouse::domain::ConfirmedUser;
    use gatehouse::domain::UserId;
    use gatehouse::ports::SessionStore;
    use gatehouse::testing::{json_of, request, request_as};
    use serde_json::Value;
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../../events/get-profile.json");
    const USER: &str = "8f452769-9947-4d75-8113-c328cafb5d5f";

    async fn service_with_profile() -> (ProfileService, Arc<InMemoryProfileStore>) {
        let store = Arc::new(InMemoryProfileStore::default());
        gatehouse::testing::profile_creator(store.clone())
            .create(
                ConfirmedUser::from_attributes(Some(USER), Some("ada@example.com"), Some("Ada"))
                    .unwrap(),
            )
            .await
            .unwrap();
        (
            gatehouse::testing::profile_service(store.clone(), None),
            store,
        )
    }

    #[tokio::test]
    async fn the_sample_event_returns_the_callers_profile() {
        let (svc, _) = service_with_profile().await;
        let response = handle(&svc, request(EVENT, None)).await.unwrap();
        assert_eq!(response.status(), 200);
        let profile = json_of(&response);
        assert_eq!(profile["user_id"], USER);
        assert_eq!(profile["email"], "ada@example.com");
        assert_eq!(profile["display_name"], "Ada");
        assert_eq!(profile["roles"], serde_json::json!(["user"]));
        assert_eq!(profile["status"], "active");
        for field in ["preferences", "created_at", "updated_at"] {
            assert!(!profile[field].is_null(), "{field} missing");
        }
    }

    #[tokio::test]
    async fn an_id_token_is_refused_with_401() {
        let (svc, _) = service_with_profile().await;
        let mut event: Value = serde_json::from_str(EVENT).unwrap();
        event["requestContext"]["authorizer"]["jwt"]["claims"]["token_use"] = "id".into();
        let response = handle(&svc, request(&event.to_string(), None))
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(json_of(&response)["code"], "invalid_token");
    }

    #[tokio::test]
    async fn a_request_without_claims_is_401() {
        let (svc, _) = service_with_profile().await;
        let mut event: Value = serde_json::from_str(EVENT).unwrap();
        event["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");
        let response = handle(&svc, request(&event.to_string(), None))
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }

    #[tokio::test]
    async fn a_token_issued_before_logout_is_401() {
        let (svc, store) = service_with_profile().await;
        let user = UserId::parse(USER).unwrap();
        store
            .sessions
            .revoke_sessions(&user, 2_000_000_000)
            .await
            .unwrap();
        let old = request_as(EVENT, USER, 1_999_999_999, "t", None);
        assert_eq!(handle(&svc, old).await.unwrap().status(), 401);
        let new = request_as(EVENT, USER, 2_000_000_000, "t", None);
        assert_eq!(handle(&svc, new).await.unwrap().status(), 200);
    }
}
