use gatehouse::http::bodies::NewEmailBody;
use gatehouse::http::{caller_json_endpoint, origin};
use gatehouse::services::AccountService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /users/me/email` `{new_email, current_password}` → 202, the same
/// whether or not the address can be used; a code goes to it when it can.
pub async fn handle(emails: &AccountService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(caller_json_endpoint(
        &req,
        StatusCode::ACCEPTED,
        |caller, body: NewEmailBody| async move {
            let (new_email, password) = body.parse()?;
            emails
                .request_email_change(&caller, &new_email, &password, from)
                .await
        },
    )
    .await)
}
