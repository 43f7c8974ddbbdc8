use gatehouse::http::bodies::CodeBody;
use gatehouse::http::{caller_json_endpoint, origin};
use gatehouse::services::EmailChangeVerification;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /users/me/email/verify` `{code}` → 200 with the profile, now at the
/// new address.
pub async fn handle(
    emails: &EmailChangeVerification,
    req: Request,
) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(
        caller_json_endpoint(&req, StatusCode::OK, |caller, body: CodeBody| async move {
            emails.verify(&caller, &body.parse()?, from).await
        })
        .await,
    )
}
