use gatehouse::http::{caller_endpoint, path_account};
use gatehouse::services::SessionListService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `GET /users/me/sessions` → 200 `{items}`, the caller's sessions newest
/// first (their own marked `current`); `GET /users/{user_id}/sessions` the
/// same for a caller allowed to manage users.
pub async fn handle(lists: &SessionListService, req: Request) -> Result<Response<Body>, Error> {
    let target = path_account(&req);
    Ok(caller_endpoint(&req, StatusCode::OK, |caller| async move {
        lists.list(&caller, target?.as_ref()).await
    })
    .await)
}
