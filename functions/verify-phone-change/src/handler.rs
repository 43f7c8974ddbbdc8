use gatehouse::http::bodies::CodeBody;
use gatehouse::http::{caller_json_endpoint, origin};
use gatehouse::services::PhoneService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /users/me/phone/verify` `{code}` → 200 with the profile, its number
/// now verified.
pub async fn handle(phones: &PhoneService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(
        caller_json_endpoint(&req, StatusCode::OK, |caller, body: CodeBody| async move {
            phones.verify(&caller, &body.parse()?, from).await
        })
        .await,
    )
}
