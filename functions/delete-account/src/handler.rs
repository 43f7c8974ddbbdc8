use gatehouse::http::bodies::DeleteAccountBody;
use gatehouse::http::{caller_json_endpoint, origin};
use gatehouse::services::{AccountService, SteppedUp};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `DELETE /users/me` `{current_password, mfa_code?}` → 204: the profile, its
/// role assignments and the Cognito user are gone, and every session has
/// ended. With an authenticator app on, `mfa_code` is asked first.
pub async fn handle(
    accounts: &SteppedUp<AccountService>,
    req: Request,
) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(caller_json_endpoint(
        &req,
        StatusCode::NO_CONTENT,
        |caller, body: DeleteAccountBody| async move {
            let mfa_code = body.mfa_code.clone();
            let password = body.parse()?;
            accounts
                .act(&caller, mfa_code.as_deref(), from, || {
                    accounts.service().delete_own(&caller, &password, from)
                })
                .await
        },
    )
    .await)
}
