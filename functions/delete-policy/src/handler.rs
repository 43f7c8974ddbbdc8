use gatehouse::http::{caller_endpoint, origin};
use gatehouse::services::PolicyAdmin;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, RequestExt, Response};

/// `DELETE /policies/{id}` → 204; unknown → 404; a built-in one → 400.
pub async fn handle(policies: &PolicyAdmin, req: Request) -> Result<Response<Body>, Error> {
    let id = req
        .path_parameters()
        .first("id")
        .unwrap_or_default()
        .to_owned();
    let from = &origin(&req);
    Ok(
        caller_endpoint(&req, StatusCode::NO_CONTENT, |caller| async move {
            policies.delete(&caller, &id, from).await
        })
        .await,
    )
}
