use gatehouse::http::bodies::TotpVerifyBody;
use gatehouse::http::{caller_json_endpoint, origin};
use gatehouse::services::TotpVerifyService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /users/me/mfa/totp/verify` `{code}` → 200 `{totp_enabled: true,
/// recovery_codes}` (shown this once); 401 `invalid_code`.
pub async fn handle(totp: &TotpVerifyService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(caller_json_endpoint(
        &req,
        StatusCode::OK,
        |caller, body: TotpVerifyBody| async move {
            let code = body.parse()?;
            totp.verify(&caller, &code, from).await
        },
    )
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::testing::{InMemoryAuth, caller_for, from_ip, json_of, request_as};
    use serde_json::json;

    const EVENT: &str = include_str!("../../../events/verify-totp.json");

    #[tokio::test]
    async fn without_a_started_enrolment_is_409_and_a_malformed_code_400() {
        let fakes = InMemoryAuth::default();
        let totp = fakes.totp_verify();
        let tokens = fakes.signed_in("ada@example.com").await;
        let issue = tokens.issued.clone().unwrap();
        let call = |code: &str| {
            request_as(
                EVENT,
                issue.user_id.as_str(),
                issue.issued_at,
                &tokens.access_token,
                Some(json!({"code": code})),
            )
        };
        let malformed = handle(&totp, call("12ab56")).await.unwrap();
        assert_eq!(malformed.status(), 400);
        assert_eq!(json_of(&malformed)["field"], "code");
        let unstarted = handle(&totp, call("123456")).await.unwrap();
        assert_eq!(unstarted.status(), 409);
        // Started: a wrong code is 401 invalid_code.
        let password = gatehouse::domain::Password::offered("Password123").unwrap();
        fakes
            .totp_start()
            .start(&caller_for(&tokens), &password, &from_ip(1))
            .await
            .unwrap();
        let secret = fakes.identity.totp_secret_of("ada@example.com").unwrap();
        let now = chrono_step();
        let wrong = (0..1_000_000)
            .map(|n| format!("{n:06}"))
            .find(|c| (now - 1..=now + 1).all(|s| secret.code_at(s).expose() != c))
            .unwrap();
        let refused = handle(&totp, call(&wrong)).await.unwrap();
        assert_eq!(refused.status(), 401);
        assert_eq!(json_of(&refused)["code"], "invalid_code");
    }

    fn chrono_step() -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        gatehouse::domain::mfa::totp_step(now)
    }
}
