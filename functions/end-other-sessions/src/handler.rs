use gatehouse::http::{caller_endpoint, origin};
use gatehouse::services::SessionsService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `DELETE /users/me/sessions` → 204: every session of the caller but the one
/// they call with is ended.
pub async fn handle(sessions: &SessionsService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    Ok(
        caller_endpoint(&req, StatusCode::NO_CONTENT, |caller| async move {
            sessions.end_others(&caller, from).await
        })
        .await,
    )
}
