use gatehouse::http::json_endpoint;
use gatehouse::services::{AuthService, RefreshInput};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/refresh` `{refresh_token}` → 200 `{access_token, id_token, expires_in}`.
pub async fn handle(auth: &AuthService, req: Request) -> Result<Response<Body>, Error> {
    Ok(json_endpoint(&req, StatusCode::OK, |input: RefreshInput| {
        auth.refresh(input)
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::testing::{in_memory_auth, signed_in};
    use gatehouse::testing::{json_of, request};
    use serde_json::json;

    const EVENT: &str = include_str!("../../../events/refresh.json");

    #[tokio::test]
    async fn a_live_refresh_token_gets_new_tokens_but_no_new_refresh_token() {
        let (auth, identity) = in_memory_auth();
        let tokens = signed_in(&auth, &identity, "ada@example.com").await;
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
        let (auth, _) = in_memory_auth();
        let response = handle(&auth, request(EVENT, None)).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(json_of(&response)["code"], "invalid_token");
    }
}
