use gatehouse::http::bodies::DeleteAccountBody;
use gatehouse::http::{caller_json_endpoint, origin};
use gatehouse::services::AccountService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `DELETE /users/me` `{current_password}` → 204: the profile, its role
/// assignments and the Cognito user are gone, and every session has ended.
pub async fn handle(accounts: &AccountService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(caller_json_endpoint(
        &req,
        StatusCode::NO_CONTENT,
        |caller, body: DeleteAccountBody| async move {
            accounts.delete_own(&caller, &body.parse()?, from).await
        },
    )
    .await)
}
