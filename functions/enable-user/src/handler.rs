use gatehouse::http::{caller_endpoint, origin, path_user_id};
use gatehouse::services::UserAdminService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /users/{user_id}/enable` → 204, for a caller allowed to manage users.
pub async fn handle(users: &UserAdminService, req: Request) -> Result<Response<Body>, Error> {
    let from = &origin(&req);
    let target = path_user_id(&req);
    Ok(
        caller_endpoint(&req, StatusCode::NO_CONTENT, |caller| async move {
            users.enable(&caller, target.as_ref(), from).await
        })
        .await,
    )
}
