use gatehouse::http::{caller_endpoint, path_user_id};
use gatehouse::services::RoleService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `GET /users/{user_id}/roles` → 200 `{roles}`, for a caller allowed to read users.
pub async fn handle(roles: &RoleService, req: Request) -> Result<Response<Body>, Error> {
    let target = path_user_id(&req);
    Ok(caller_endpoint(&req, StatusCode::OK, |caller| async move {
        roles.roles_of(&caller, target.as_ref()).await
    })
    .await)
}
