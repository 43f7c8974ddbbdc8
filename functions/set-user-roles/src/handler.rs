use gatehouse::http::bodies::RolesBody;
use gatehouse::http::{caller_json_endpoint, origin, path_user_id};
use gatehouse::services::RoleService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `PUT /users/{user_id}/roles` `{roles}` → 200 `{roles}`: the user's role
/// assignments become exactly these (admins).
pub async fn handle(roles: &RoleService, req: Request) -> Result<Response<Body>, Error> {
    let target = path_user_id(&req);
    let from = &origin(&req);
    Ok(
        caller_json_endpoint(&req, StatusCode::OK, |caller, body: RolesBody| async move {
            roles
                .set_roles(&caller, target.as_ref(), body.parse()?, from)
                .await
        })
        .await,
    )
}
