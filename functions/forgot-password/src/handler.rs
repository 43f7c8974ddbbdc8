use gatehouse::http::bodies::EmailBody;
use gatehouse::http::{json_endpoint, origin};
use gatehouse::services::ForgotPasswordService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/password/forgot` `{email}` → 202, the same whether or not the account exists.
pub async fn handle(auth: &ForgotPasswordService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(
        json_endpoint(&req, StatusCode::ACCEPTED, |body: EmailBody| async move {
            auth.forgot_password(&body.parse()?, from).await
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

    const EVENT: &str = include_str!("../../../events/forgot-password.json");

    #[tokio::test]
    async fn known_and_unknown_emails_get_the_same_202() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.forgot_password();
        let identity = fakes.identity.clone();
        fakes.signed_in("ada@example.com").await;
        let known = handle(&auth, request(EVENT, None)).await.unwrap();
        let unknown = handle(
            &auth,
            request(EVENT, Some(json!({"email": "who@example.com"}))),
        )
        .await
        .unwrap();
        assert_eq!(known.status(), 202);
        assert_eq!(unknown.status(), 202);
        assert_eq!(json_of(&known), json_of(&unknown));
        assert!(
            identity.reset_code_for("ada@example.com").is_some(),
            "a code was sent"
        );
    }

    #[tokio::test]
    async fn a_malformed_email_is_400() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.forgot_password();
        let response = handle(&auth, request(EVENT, Some(json!({"email": "nope"}))))
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }
}
