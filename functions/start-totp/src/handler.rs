use gatehouse::http::bodies::TotpStartBody;
use gatehouse::http::{caller_json_endpoint, origin};
use gatehouse::services::TotpStartService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /users/me/mfa/totp` `{current_password}` → 200 `{secret, otpauth_uri,
/// qr_svg}`; nothing changes for sign-in until a code verifies it.
pub async fn handle(totp: &TotpStartService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(caller_json_endpoint(
        &req,
        StatusCode::OK,
        |caller, body: TotpStartBody| async move {
            let password = body.parse()?;
            totp.start(&caller, &password, from).await
        },
    )
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::testing::{InMemoryAuth, json_of, request_as};
    use serde_json::json;

    const EVENT: &str = include_str!("../../../events/start-totp.json");

    #[tokio::test]
    async fn the_password_starts_an_enrolment_and_a_wrong_one_is_401() {
        let fakes = InMemoryAuth::default();
        let totp = fakes.totp_start();
        let tokens = fakes.signed_in("ada@example.com").await;
        let issue = tokens.issued.clone().unwrap();
        let call = |password: &str| {
            request_as(
                EVENT,
                issue.user_id.as_str(),
                issue.issued_at,
                &tokens.access_token,
                Some(json!({"current_password": password})),
            )
        };
        let wrong = handle(&totp, call("Wrong-pass-1")).await.unwrap();
        assert_eq!(wrong.status(), 401);
        let started = handle(&totp, call("Password123")).await.unwrap();
        assert_eq!(started.status(), 200);
        let body = json_of(&started);
        let secret = body["secret"].as_str().unwrap();
        assert!(
            body["otpauth_uri"]
                .as_str()
                .unwrap()
                .contains(&format!("secret={secret}"))
        );
        assert!(body["qr_svg"].as_str().unwrap().starts_with("<?xml"));
    }
}
