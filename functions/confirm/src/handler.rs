use gatehouse::http::bodies::ConfirmBody;
use gatehouse::http::json_endpoint;
use gatehouse::services::ConfirmService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/confirm` `{email, code, password}` → 200 `{confirmed: true}`.
pub async fn handle(auth: &ConfirmService, req: Request) -> Result<Response<Body>, Error> {
    Ok(
        json_endpoint(&req, StatusCode::OK, |body: ConfirmBody| async move {
            let (email, code, password) = body.parse()?;
            auth.confirm(&email, &code, &password).await
        })
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::testing::{InMemoryAuth, TEST_PASSWORD};
    use gatehouse::testing::{json_of, request};
    use serde_json::json;

    const EVENT: &str = include_str!("../../../events/confirm.json");

    async fn with_pending_user() -> (ConfirmService, String) {
        let fakes = InMemoryAuth::default();
        let auth = fakes.confirm();
        let identity = fakes.identity.clone();
        fakes.registered("ada@example.com").await;
        let code = identity.code_for("ada@example.com").unwrap();
        (auth, code)
    }

    fn with_code(code: &str) -> Request {
        with_code_and_password(code, TEST_PASSWORD)
    }

    fn with_code_and_password(code: &str, password: &str) -> Request {
        request(
            EVENT,
            Some(json!({"email": "ada@example.com", "code": code, "password": password})),
        )
    }

    #[tokio::test]
    async fn the_right_code_confirms() {
        let (auth, code) = with_pending_user().await;
        let response = handle(&auth, with_code(&code)).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(json_of(&response), json!({"confirmed": true}));
    }

    #[tokio::test]
    async fn the_right_code_with_another_password_is_400_invalid_code() {
        let (auth, code) = with_pending_user().await;
        let response = handle(&auth, with_code_and_password(&code, "Someone-Elses-9"))
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(json_of(&response)["code"], "invalid_code");
        let response = handle(&auth, with_code(&code)).await.unwrap();
        assert_eq!(response.status(), 200, "the registrant still confirms");
    }

    #[tokio::test]
    async fn a_wrong_code_is_400_invalid_code() {
        let (auth, _) = with_pending_user().await;
        let response = handle(&auth, with_code("000000")).await.unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(json_of(&response)["code"], "invalid_code");
    }

    #[tokio::test]
    async fn confirming_twice_answers_like_a_wrong_code() {
        let (auth, code) = with_pending_user().await;
        handle(&auth, with_code(&code)).await.unwrap();
        let response = handle(&auth, with_code(&code)).await.unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(json_of(&response)["code"], "invalid_code");
    }
}
