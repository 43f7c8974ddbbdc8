use gatehouse::http::bodies::NewEmailBody;
use gatehouse::http::{caller_json_endpoint, origin};
use gatehouse::services::{AccountService, SteppedUp};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /users/me/email` `{new_email, current_password, mfa_code?}` → 202,
/// the same whether or not the address can be used; a code goes to it when it
/// can. With an authenticator app on, `mfa_code` is asked first.
pub async fn handle(
    emails: &SteppedUp<AccountService>,
    req: Request,
) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(caller_json_endpoint(
        &req,
        StatusCode::ACCEPTED,
        |caller, body: NewEmailBody| async move {
            let mfa_code = body.mfa_code.clone();
            let (new_email, password) = body.parse()?;
            emails
                .act(&caller, mfa_code.as_deref(), from, || {
                    emails
                        .service()
                        .request_email_change(&caller, &new_email, &password, from)
                })
                .await
        },
    )
    .await)
}
