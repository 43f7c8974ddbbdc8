use gatehouse::http::json_endpoint;
use gatehouse::services::{AuthService, ConfirmInput};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/confirm` `{email, code}` → 200 `{confirmed: true}`.
pub async fn handle(auth: &AuthService, req: Request) -> Result<Response<Body>, Error> {
    Ok(json_endpoint(&req, StatusCode::OK, |input: ConfirmInput| {
        auth.confirm(input)
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::adapters::memory::InMemoryIdentity;
    use gatehouse::domain::PasswordPolicy;
    use gatehouse::services::RegisterInput;
    use serde_json::{Value, json};
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../../events/confirm.json");

    async fn registered() -> (AuthService, Arc<InMemoryIdentity>) {
        let identity = Arc::new(InMemoryIdentity::default());
        let policy = PasswordPolicy {
            min_length: 8,
            require_lowercase: false,
            require_uppercase: false,
            require_numbers: false,
            require_symbols: false,
        };
        let svc = AuthService::new(identity.clone(), policy);
        svc.register(RegisterInput {
            email: "ada@example.com".into(),
            password: "password123".into(),
            display_name: None,
        })
        .await
        .unwrap();
        (svc, identity)
    }

    fn request_with_code(code: &str) -> Request {
        let mut event: Value = serde_json::from_str(EVENT).unwrap();
        event["body"] =
            Value::String(json!({"email": "ada@example.com", "code": code}).to_string());
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[tokio::test]
    async fn the_right_code_confirms() {
        let (svc, identity) = registered().await;
        let code = identity.code_for("ada@example.com").unwrap();
        let response = handle(&svc, request_with_code(&code)).await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body, json!({"confirmed": true}));
    }

    #[tokio::test]
    async fn a_wrong_code_is_400_invalid_code() {
        let (svc, _) = registered().await;
        let response = handle(&svc, request_with_code("000000")).await.unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["code"], "invalid_code");
    }

    #[tokio::test]
    async fn the_sample_event_parses_and_is_answered_without_a_server_error() {
        let (svc, _) = registered().await;
        let response = handle(&svc, lambda_http::request::from_str(EVENT).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }
}
