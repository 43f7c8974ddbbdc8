use gatehouse::http::bodies::ResetPasswordBody;
use gatehouse::http::{json_endpoint, origin};
use gatehouse::services::PasswordResetService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/password/reset` `{email, code, new_password}` → 204; every session ends.
pub async fn handle(auth: &PasswordResetService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(json_endpoint(
        &req,
        StatusCode::NO_CONTENT,
        |body: ResetPasswordBody| async move {
            auth.reset_password(body.parse(auth.password_policy())?, from)
                .await
        },
    )
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::domain::Email;
    use gatehouse::testing::{InMemoryAuth, credentials, from_ip};
    use gatehouse::testing::{json_of, request};
    use serde_json::json;

    const EVENT: &str = include_str!("../../../events/reset-password.json");

    /// A signed-in ada@example.com who asked for a reset code.
    async fn reset_code_sent(fakes: &InMemoryAuth) {
        fakes.signed_in("ada@example.com").await;
        fakes
            .forgot_password()
            .forgot_password(&Email::parse("ada@example.com").unwrap(), &from_ip(1))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_mailed_code_sets_the_new_password() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.password_reset();
        let identity = fakes.identity.clone();
        reset_code_sent(&fakes).await;
        let code = identity.reset_code_for("ada@example.com").unwrap();
        let body =
            json!({"email": "ada@example.com", "code": code, "new_password": "NewPassword456"});
        let response = handle(&auth, request(EVENT, Some(body))).await.unwrap();
        assert_eq!(response.status(), 204);
        let login = fakes
            .login()
            .login(
                credentials("ada@example.com", "NewPassword456"),
                &from_ip(1),
            )
            .await;
        assert!(login.is_ok());
    }

    #[tokio::test]
    async fn a_wrong_code_or_weak_password_is_400() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.password_reset();
        let identity = fakes.identity.clone();
        reset_code_sent(&fakes).await;
        let wrong = handle(&auth, request(EVENT, None)).await.unwrap();
        assert_eq!(wrong.status(), 400);
        assert_eq!(json_of(&wrong)["code"], "invalid_code");
        let code = identity.reset_code_for("ada@example.com").unwrap();
        let weak = json!({"email": "ada@example.com", "code": code, "new_password": "weak"});
        let response = handle(&auth, request(EVENT, Some(weak))).await.unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(json_of(&response)["field"], "new_password");
    }
}
