use gatehouse::http::bodies::RecoveryCodesBody;
use gatehouse::http::{caller_json_endpoint, origin};
use gatehouse::services::RecoveryCodesService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /users/me/mfa/recovery-codes` `{mfa_code}` → 200 ten new recovery
/// codes (shown this once); the old ones are dead.
pub async fn handle(codes: &RecoveryCodesService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(caller_json_endpoint(
        &req,
        StatusCode::OK,
        |caller, body: RecoveryCodesBody| async move {
            codes.replace(&caller, &body.mfa_code, from).await
        },
    )
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::testing::{InMemoryAuth, json_of, request_as};
    use serde_json::json;

    const EVENT: &str = include_str!("../../../events/new-recovery-codes.json");

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
            Some(json!({"mfa_code": "123456"})),
        );
        let response = handle(&fakes.recovery_codes(), req).await.unwrap();
        assert_eq!(response.status(), 409);
        assert_eq!(json_of(&response)["code"], "conflict");
    }
}
