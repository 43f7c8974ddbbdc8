use gatehouse::http::bodies::LoginMfaBody;
use gatehouse::http::{json_endpoint, origin};
use gatehouse::services::MfaLoginService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/login/mfa` `{session, code}` or `{session, recovery_code}` → 200
/// with the tokens; 401 `invalid_code` or `invalid_session`.
pub async fn handle(mfa: &MfaLoginService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(
        json_endpoint(&req, StatusCode::OK, |body: LoginMfaBody| async move {
            let (session, factor) = body.parse()?;
            mfa.complete(&session, factor, from).await
        })
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::testing::{InMemoryAuth, json_of, request};
    use serde_json::json;

    const EVENT: &str = include_str!("../../../events/login-mfa.json");

    #[tokio::test]
    async fn an_unknown_session_is_401_invalid_session() {
        let mfa = InMemoryAuth::default().mfa_login();
        let response = handle(&mfa, request(EVENT, None)).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(json_of(&response)["code"], "invalid_session");
    }

    #[tokio::test]
    async fn both_factors_or_neither_is_400() {
        let mfa = InMemoryAuth::default().mfa_login();
        for body in [
            json!({"session": "s"}),
            json!({"session": "s", "code": "123456", "recovery_code": "AAAA-AAAA-AAAA-AAAA"}),
        ] {
            let response = handle(&mfa, request(EVENT, Some(body))).await.unwrap();
            assert_eq!(response.status(), 400);
            assert_eq!(json_of(&response)["code"], "validation_failed");
        }
    }
}
