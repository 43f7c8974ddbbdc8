use gatehouse::http::bodies::ChangePasswordBody;
use gatehouse::http::{caller_json_endpoint, origin};
use gatehouse::services::{PasswordService, SteppedUp};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /auth/password/change` `{current_password, new_password, mfa_code?}`
/// → 204; every session ends. With an authenticator app on, `mfa_code` is
/// asked first.
pub async fn handle(
    auth: &SteppedUp<PasswordService>,
    req: Request,
) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(caller_json_endpoint(
        &req,
        StatusCode::NO_CONTENT,
        |caller, body: ChangePasswordBody| async move {
            let mfa_code = body.mfa_code.clone();
            let change = body.parse(auth.service().password_policy())?;
            auth.act(&caller, mfa_code.as_deref(), from, || {
                auth.service().change_password(&caller, change, from)
            })
            .await
        },
    )
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::testing::InMemoryAuth;
    use gatehouse::testing::{json_of, request_as};
    use serde_json::json;

    const EVENT: &str = include_str!("../../../events/change-password.json");

    #[tokio::test]
    async fn a_wrong_current_password_is_401_and_the_right_one_is_204() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.stepped_up(fakes.passwords());
        let tokens = fakes.signed_in("ada@example.com").await;
        let issue = tokens.issued.clone().unwrap();
        let call = |current: &str| {
            let body = json!({"current_password": current, "new_password": "NewPassword456"});
            request_as(
                EVENT,
                issue.user_id.as_str(),
                issue.issued_at,
                &tokens.access_token,
                Some(body),
            )
        };
        let wrong = handle(&auth, call("Wrong-pass-1")).await.unwrap();
        assert_eq!(wrong.status(), 401);
        assert_eq!(json_of(&wrong)["code"], "invalid_credentials");
        let ok = handle(&auth, call("Password123")).await.unwrap();
        assert_eq!(ok.status(), 204);
        let after = handle(&auth, call("NewPassword456")).await.unwrap();
        assert_eq!(after.status(), 401, "the old token no longer works");
    }

    #[tokio::test]
    async fn a_new_password_breaking_the_policy_is_400() {
        let fakes = InMemoryAuth::default();
        let auth = fakes.stepped_up(fakes.passwords());
        let tokens = fakes.signed_in("ada@example.com").await;
        let issue = tokens.issued.clone().unwrap();
        let body = json!({"current_password": "Password123", "new_password": "short"});
        let req = request_as(
            EVENT,
            issue.user_id.as_str(),
            issue.issued_at,
            &tokens.access_token,
            Some(body),
        );
        let response = handle(&auth, req).await.unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(json_of(&response)["field"], "new_password");
    }
}
