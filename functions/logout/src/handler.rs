use gatehouse::http::{caller_endpoint, origin};
use gatehouse::services::LogoutService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/logout` → 204; every session of the caller ends.
pub async fn handle(auth: &LogoutService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(
        caller_endpoint(&req, StatusCode::NO_CONTENT, |caller| async move {
            auth.logout(&caller, from).await
        })
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::domain::RefreshToken;
    use gatehouse::testing::InMemoryAuth;
    use gatehouse::testing::{json_of, request_as, request_with_raw_body};

    const EVENT: &str = include_str!("../../../events/logout.json");
    /// The sample event as a route without the authorizer would send it.
    const NO_CLAIMS: &str = r#"{"version": "2.0", "routeKey": "POST /auth/logout", "rawPath": "/auth/logout",
        "rawQueryString": "", "headers": {}, "requestContext": {"http": {"method": "POST",
        "path": "/auth/logout"}, "timeEpoch": 0}, "isBase64Encoded": false}"#;

    #[tokio::test]
    async fn logout_is_204_and_ends_the_session_and_its_refresh_token() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.logout();
        let tokens = fakes.signed_in("ada@example.com").await;
        let issue = tokens.issued.clone().unwrap();
        let as_caller = || {
            request_as(
                EVENT,
                issue.user_id.as_str(),
                issue.issued_at,
                &tokens.access_token,
                None,
            )
        };
        let response = handle(&auth, as_caller()).await.unwrap();
        assert_eq!(response.status(), 204);
        assert!(response.body().is_empty());
        let again = handle(&auth, as_caller()).await.unwrap();
        assert_eq!(again.status(), 401, "the old access token is refused");
        let refresh_token = RefreshToken::parse(tokens.refresh_token.as_deref().unwrap()).unwrap();
        let refreshed = fakes.refresh().refresh(&refresh_token).await;
        assert!(refreshed.is_err(), "the refresh token is revoked");
    }

    #[tokio::test]
    async fn logout_ends_the_sessions_even_when_the_token_is_unknown_to_cognito() {
        // The sign-out is by user: an access token Cognito no longer honours (it
        // expired in flight) cannot leave the user's refresh tokens alive.
        let fakes = InMemoryAuth::default();
        let auth = fakes.logout();
        let tokens = fakes.signed_in("ada@example.com").await;
        let issue = tokens.issued.clone().unwrap();
        let stale = request_as(
            EVENT,
            issue.user_id.as_str(),
            issue.issued_at,
            "an-access-token-cognito-forgot",
            None,
        );
        let response = handle(&auth, stale).await.unwrap();
        assert_eq!(response.status(), 204);
        let refresh_token = RefreshToken::parse(tokens.refresh_token.as_deref().unwrap()).unwrap();
        assert!(fakes.refresh().refresh(&refresh_token).await.is_err());
    }

    #[tokio::test]
    async fn a_request_without_an_access_token_is_401_not_a_500() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.logout();
        let response = handle(&auth, request_with_raw_body(NO_CLAIMS, ""))
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(json_of(&response)["code"], "invalid_token");
    }
}
