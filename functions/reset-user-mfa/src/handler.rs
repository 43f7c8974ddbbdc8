use gatehouse::http::{caller_endpoint, origin, path_user_id};
use gatehouse::services::MfaResetService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `DELETE /users/{user_id}/mfa` → 204, for a caller allowed to manage users:
/// the user's second factor is off (audited; the user is emailed).
pub async fn handle(resets: &MfaResetService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    let target = path_user_id(&req);
    Ok(
        caller_endpoint(&req, StatusCode::NO_CONTENT, |caller| async move {
            resets.reset(&caller, target.as_ref(), from).await
        })
        .await,
    )
}
