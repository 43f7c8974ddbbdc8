use gatehouse::http::json_endpoint;
use gatehouse::services::{AuthService, ResetPasswordInput};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/password/reset` `{email, code, new_password}` → 204; every session ends.
pub async fn handle(auth: &AuthService, req: Request) -> Result<Response<Body>, Error> {
    Ok(
        json_endpoint(&req, StatusCode::NO_CONTENT, |input: ResetPasswordInput| {
            auth.reset_password(input)
        })
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::services::{EmailInput, LoginInput};
    use gatehouse::testing::{in_memory_auth, signed_in};
    use gatehouse::testing::{json_of, request};
    use serde_json::json;

    const EVENT: &str = include_str!("../../../events/reset-password.json");

    #[tokio::test]
    async fn the_mailed_code_sets_the_new_password() {
        let (auth, identity) = in_memory_auth();
        signed_in(&auth, &identity, "ada@example.com").await;
        auth.forgot_password(EmailInput {
            email: "ada@example.com".into(),
        })
        .await
        .unwrap();
        let code = identity.reset_code_for("ada@example.com").unwrap();
        let body =
            json!({"email": "ada@example.com", "code": code, "new_password": "NewPassword456"});
        let response = handle(&auth, request(EVENT, Some(body))).await.unwrap();
        assert_eq!(response.status(), 204);
        let login = auth
            .login(LoginInput {
                email: "ada@example.com".into(),
                password: "NewPassword456".into(),
            })
            .await;
        assert!(login.is_ok());
    }

    #[tokio::test]
    async fn a_wrong_code_or_weak_password_is_400() {
        let (auth, identity) = in_memory_auth();
        signed_in(&auth, &identity, "ada@example.com").await;
        auth.forgot_password(EmailInput {
            email: "ada@example.com".into(),
        })
        .await
        .unwrap();
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
