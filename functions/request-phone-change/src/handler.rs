use gatehouse::http::bodies::PhoneBody;
use gatehouse::http::{caller_json_endpoint, origin};
use gatehouse::services::PhoneService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /users/me/phone` `{phone_number}` (E.164) → 202; a code goes to the
/// number by SMS.
pub async fn handle(phones: &PhoneService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(caller_json_endpoint(
        &req,
        StatusCode::ACCEPTED,
        |caller, body: PhoneBody| async move { phones.request(&caller, &body.parse()?, from).await },
    )
    .await)
}
