use gatehouse::http::{caller_endpoint, origin, path_account, path_session_id};
use gatehouse::services::SessionsService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `DELETE /users/me/sessions/{session_id}` → 204: that session's refresh
/// token is revoked and its access tokens refused, the others go on; 404 for
/// an id that is not the user's. `DELETE /users/{user_id}/sessions/{session_id}`
/// the same for a caller allowed to manage users (audited with them as actor).
pub async fn handle(sessions: &SessionsService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    let target = path_account(&req);
    let session = path_session_id(&req);
    Ok(
        caller_endpoint(&req, StatusCode::NO_CONTENT, |caller| async move {
            sessions
                .end(&caller, target?.as_ref(), &session?, from)
                .await
        })
        .await,
    )
}
