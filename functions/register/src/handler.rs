use gatehouse::http::json_endpoint;
use gatehouse::services::{AuthService, RegisterInput};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/register` `{email, password, display_name?}` → 201 `{user_id, email, confirmed}`.
pub async fn handle(auth: &AuthService, req: Request) -> Result<Response<Body>, Error> {
    Ok(
        json_endpoint(&req, StatusCode::CREATED, |input: RegisterInput| {
            auth.register(input)
        })
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::adapters::memory::InMemoryIdentity;
    use gatehouse::domain::PasswordPolicy;
    use serde_json::Value;
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../../events/register.json");

    fn service() -> AuthService {
        let policy = PasswordPolicy {
            min_length: 10,
            require_lowercase: true,
            require_uppercase: true,
            require_numbers: true,
            require_symbols: false,
        };
        AuthService::new(Arc::new(InMemoryIdentity::default()), policy)
    }

    fn request_with_body(body: &str) -> Request {
        let mut event: Value = serde_json::from_str(EVENT).unwrap();
        event["body"] = Value::String(body.to_owned());
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn json(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn the_sample_event_registers_an_unconfirmed_user() {
        let req = lambda_http::request::from_str(EVENT).unwrap();
        let response = handle(&service(), req).await.unwrap();
        assert_eq!(response.status(), 201);
        let body = json(&response);
        assert_eq!(body["email"], "ada@example.com");
        assert_eq!(body["confirmed"], false);
        assert!(body["user_id"].as_str().is_some_and(|id| !id.is_empty()));
    }

    #[tokio::test]
    async fn the_same_email_twice_is_409_email_taken() {
        let svc = service();
        handle(&svc, lambda_http::request::from_str(EVENT).unwrap())
            .await
            .unwrap();
        let response = handle(&svc, lambda_http::request::from_str(EVENT).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 409);
        assert_eq!(json(&response)["code"], "email_taken");
    }

    #[tokio::test]
    async fn a_weak_password_is_400_naming_the_rule() {
        let req = request_with_body(r#"{"email":"a@example.com","password":"alllowercase1"}"#);
        let response = handle(&service(), req).await.unwrap();
        assert_eq!(response.status(), 400);
        let body = json(&response);
        assert_eq!(body["field"], "password");
        assert_eq!(body["detail"], "password must contain an upper-case letter");
    }

    #[tokio::test]
    async fn malformed_json_is_400_problem_json() {
        let response = handle(&service(), request_with_body("{not json"))
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(json(&response)["code"], "malformed_body");
    }

    #[tokio::test]
    async fn a_bad_email_is_400_on_the_email_field() {
        let req = request_with_body(r#"{"email":"nope","password":"Password123"}"#);
        let response = handle(&service(), req).await.unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(json(&response)["field"], "email");
    }
}
