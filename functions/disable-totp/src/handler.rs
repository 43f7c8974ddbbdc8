use gatehouse::http::bodies::TotpDisableBody;
use gatehouse::http::{caller_json_endpoint, origin};
use gatehouse::services::TotpDisableService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `DELETE /users/me/mfa/totp` `{current_password, mfa_code}` → 204: sign-in
/// asks for no code any more; the recovery codes are dead.
pub async fn handle(totp: &TotpDisableService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(caller_json_endpoint(
        &req,
        StatusCode::NO_CONTENT,
        |caller, body: TotpDisableBody| async move {
            let (password, mfa_code) = body.parse()?;
            totp.disable(&caller, &password, &mfa_code, from).await
        },
    )
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::testing::{InMemoryAuth, json_of, request_as};
    use serde_json::json;

    const EVENT: &str = include_str!("../../../events/disable-totp.json");

    #[tokio::test]
    async fn without_an_app_on_it_is_409() {
        let fakes = InMemoryAuth::default();
        let tokens = fakes.signed_in("ada@example.com").await;
        let issue = tokens.issued.clone().unwrap();
        let req = request_as(
            EVENT,
            issue.user_id.as_str(),
            issue.issued_at,
            &tokens.access_token,
            Some(json!({"current_password": "Password123", "mfa_code": "123456"})),
        );
        let response = handle(&fakes.totp_disable(), req).await.unwrap();
        assert_eq!(response.status(), 409);
        assert_eq!(json_of(&response)["code"], "conflict");
    }
}
