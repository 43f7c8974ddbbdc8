use gatehouse::http::json_endpoint;
use gatehouse::services::{AuthService, LoginInput};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/login` `{email, password}` → 200 with the tokens.
pub async fn handle(auth: &AuthService, req: Request) -> Result<Response<Body>, Error> {
    Ok(json_endpoint(&req, StatusCode::OK, |input: LoginInput| auth.login(input)).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::adapters::memory::InMemoryIdentity;
    use gatehouse::domain::PasswordPolicy;
    use gatehouse::services::{ConfirmInput, RegisterInput};
    use serde_json::{Value, json};
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../../events/login.json");

    async fn service_with_user(confirmed: bool) -> AuthService {
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
            password: "Password123".into(),
            display_name: None,
        })
        .await
        .unwrap();
        if confirmed {
            let code = identity.code_for("ada@example.com").unwrap();
            svc.confirm(ConfirmInput {
                email: "ada@example.com".into(),
                code,
            })
            .await
            .unwrap();
        }
        svc
    }

    fn login(email: &str, password: &str) -> Request {
        let mut event: Value = serde_json::from_str(EVENT).unwrap();
        event["body"] = Value::String(json!({"email": email, "password": password}).to_string());
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn body(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn the_sample_event_logs_in_a_confirmed_user() {
        let svc = service_with_user(true).await;
        let response = handle(&svc, lambda_http::request::from_str(EVENT).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let tokens = body(&response);
        assert_eq!(tokens["token_type"], "Bearer");
        for field in ["access_token", "id_token", "refresh_token"] {
            assert!(tokens[field].is_string(), "{field} missing");
        }
        assert_eq!(tokens["expires_in"], 3600);
    }

    #[tokio::test]
    async fn wrong_password_and_unknown_email_give_identical_answers() {
        let svc = service_with_user(true).await;
        let wrong = handle(&svc, login("ada@example.com", "nope"))
            .await
            .unwrap();
        let unknown = handle(&svc, login("who@example.com", "Password123"))
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        assert_eq!(unknown.status(), 401);
        assert_eq!(body(&wrong), body(&unknown));
        assert_eq!(body(&wrong)["code"], "invalid_credentials");
    }

    #[tokio::test]
    async fn an_unconfirmed_account_is_403() {
        let svc = service_with_user(false).await;
        let response = handle(&svc, login("ada@example.com", "Password123"))
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(body(&response)["code"], "user_not_confirmed");
    }
}
