use gatehouse::http::bodies::LoginBody;
use gatehouse::http::{json_endpoint, origin};
use gatehouse::services::LoginService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/login` `{email, password}` → 200 with the tokens.
pub async fn handle(auth: &LoginService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(
        json_endpoint(&req, StatusCode::OK, |body: LoginBody| async move {
            auth.login(body.parse()?, from).await
        })
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::testing::InMemoryAuth;
    use gatehouse::testing::{json_of, request};
    use serde_json::json;

    const EVENT: &str = include_str!("../../../events/login.json");

    async fn service_with_user(confirmed: bool) -> LoginService {
        let fakes = InMemoryAuth::default();
        fakes.registered("ada@example.com").await;
        if confirmed {
            fakes.confirmed("ada@example.com").await;
        }
        fakes.login()
    }

    fn login(email: &str, password: &str) -> Request {
        request(EVENT, Some(json!({"email": email, "password": password})))
    }

    #[tokio::test]
    async fn the_sample_event_logs_in_a_confirmed_user() {
        let auth = service_with_user(true).await;
        let response = handle(&auth, request(EVENT, None)).await.unwrap();
        assert_eq!(response.status(), 200);
        let tokens = json_of(&response);
        assert_eq!(tokens["token_type"], "Bearer");
        for field in ["access_token", "id_token", "refresh_token"] {
            assert!(tokens[field].is_string(), "{field} missing");
        }
        assert_eq!(tokens["expires_in"], 3600);
    }

    #[tokio::test]
    async fn wrong_password_and_unknown_email_give_identical_answers() {
        let auth = service_with_user(true).await;
        let wrong = handle(&auth, login("ada@example.com", "nope"))
            .await
            .unwrap();
        let unknown = handle(&auth, login("who@example.com", "Password123"))
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        assert_eq!(unknown.status(), 401);
        assert_eq!(json_of(&wrong), json_of(&unknown));
        assert_eq!(json_of(&wrong)["code"], "invalid_credentials");
    }

    #[tokio::test]
    async fn an_unconfirmed_account_is_403() {
        let auth = service_with_user(false).await;
        let response = handle(&auth, login("ada@example.com", "Password123"))
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(json_of(&response)["code"], "user_not_confirmed");
    }

    #[tokio::test]
    async fn the_sixth_failure_is_429_with_retry_after() {
        let auth = service_with_user(true).await;
        for _ in 0..5 {
            let response = handle(&auth, login("ada@example.com", "Wrong-pass-1"))
                .await
                .unwrap();
            assert_eq!(response.status(), 401);
        }
        let response = handle(&auth, login("ada@example.com", "Password123"))
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        assert!(response.headers().contains_key("retry-after"));
        assert_eq!(json_of(&response)["code"], "too_many_requests");
    }
}
