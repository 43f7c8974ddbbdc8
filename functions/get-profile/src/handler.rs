use gatehouse::http::{Principal, respond};
use gatehouse::services::ProfileService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `GET /users/me` → 200 with the caller's profile.
pub async fn handle(profiles: &ProfileService, req: Request) -> Result<Response<Body>, Error> {
    let result = match Principal::from_request(&req) {
        Ok(principal) => profiles.get(&principal.user_id).await,
        Err(err) => Err(err),
    };
    Ok(respond(StatusCode::OK, result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::adapters::memory::InMemoryProfileStore;
    use gatehouse::domain::Role;
    use gatehouse::services::ConfirmedUser;
    use serde_json::Value;
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../../events/get-profile.json");

    async fn service_with_profile() -> ProfileService {
        let svc = ProfileService::new(
            Arc::new(InMemoryProfileStore::default()),
            Role::parse("user").unwrap(),
        );
        let event: Value = serde_json::from_str(EVENT).unwrap();
        let sub = event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
            .as_str()
            .unwrap()
            .to_owned();
        svc.on_confirmed(ConfirmedUser {
            user_id: sub,
            email: "ada@example.com".into(),
            display_name: Some("Ada".into()),
        })
        .await
        .unwrap();
        svc
    }

    fn body(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn the_sample_event_returns_the_callers_profile() {
        let svc = service_with_profile().await;
        let response = handle(&svc, lambda_http::request::from_str(EVENT).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let profile = body(&response);
        assert_eq!(profile["email"], "ada@example.com");
        assert_eq!(profile["display_name"], "Ada");
        assert_eq!(profile["roles"], serde_json::json!(["user"]));
        assert_eq!(profile["status"], "active");
        for field in ["user_id", "preferences", "created_at", "updated_at"] {
            assert!(!profile[field].is_null(), "{field} missing");
        }
    }

    #[tokio::test]
    async fn an_id_token_is_refused_with_401() {
        let svc = service_with_profile().await;
        let mut event: Value = serde_json::from_str(EVENT).unwrap();
        event["requestContext"]["authorizer"]["jwt"]["claims"]["token_use"] = "id".into();
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        let response = handle(&svc, req).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(body(&response)["code"], "invalid_token");
    }

    #[tokio::test]
    async fn a_request_without_claims_is_401() {
        let svc = service_with_profile().await;
        let mut event: Value = serde_json::from_str(EVENT).unwrap();
        event["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        assert_eq!(handle(&svc, req).await.unwrap().status(), 401);
    }
}
