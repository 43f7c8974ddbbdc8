use gatehouse::http::bodies::RefreshBody;
use gatehouse::http::json_endpoint;
use gatehouse::services::RefreshService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/refresh` `{refresh_token}` → 200 `{access_token, id_token, expires_in}`.
pub async fn handle(auth: &RefreshService, req: Request) -> Result<Response<Body>, Error> {
    Ok(
        json_endpoint(&req, StatusCode::OK, |body: RefreshBody| async move {
            auth.refresh(&body.parse()?).await
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

    const EVENT: &str = include_str!("../../../events/refresh.json");

    #[tokio::test]
    async fn a_live_refresh_token_gets_new_tokens_but_no_new_refresh_token() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.refresh();
        let tokens = fakes.signed_in("ada@example.com").await;
        let body = json!({"refresh_token": tokens.refresh_token.unwrap()});
        let response = handle(&auth, request(EVENT, Some(body))).await.unwrap();
        assert_eq!(response.status(), 200);
        let fresh = json_of(&response);
        assert!(fresh["access_token"].is_string() && fresh["id_token"].is_string());
        assert!(fresh["expires_in"].is_number());
        assert!(fresh.get("refresh_token").is_none());
    }

    #[tokio::test]
    async fn an_unknown_refresh_token_is_401() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.refresh();
        let response = handle(&auth, request(EVENT, None)).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(json_of(&response)["code"], "invalid_token");
    }
}
