use gatehouse::http::bodies::EmailBody;
use gatehouse::http::{json_endpoint, origin};
use gatehouse::services::SignUpService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/resend-confirmation` `{email}` → 202, the same whatever the account.
pub async fn handle(auth: &SignUpService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(
        json_endpoint(&req, StatusCode::ACCEPTED, |body: EmailBody| async move {
            auth.resend_confirmation(&body.parse()?, from).await
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

    const EVENT: &str = include_str!("../../../events/resend-confirmation.json");

    #[tokio::test]
    async fn a_new_code_replaces_the_old_one_and_unknown_emails_get_the_same_answer() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.sign_up();
        let identity = fakes.identity.clone();
        fakes.registered("ada@example.com").await;
        let first = identity.code_for("ada@example.com").unwrap();
        let known = handle(&auth, request(EVENT, None)).await.unwrap();
        let unknown = handle(
            &auth,
            request(EVENT, Some(json!({"email": "who@example.com"}))),
        )
        .await
        .unwrap();
        assert_eq!(known.status(), 202);
        assert_eq!(json_of(&known), json_of(&unknown));
        assert_ne!(identity.code_for("ada@example.com").unwrap(), first);
    }
}
