use gatehouse::http::bodies::CheckBody;
use gatehouse::http::{MAX_BODY_BYTES, subject_json_endpoint};
use gatehouse::services::Permissions;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /permissions/check` `{principal?, action, resource, context?}` → 200
/// `{allowed, decision, determining_policies, errors}`, for a user or a service.
pub async fn handle(permissions: &Permissions, req: Request) -> Result<Response<Body>, Error> {
    Ok(subject_json_endpoint(
        &req,
        StatusCode::OK,
        MAX_BODY_BYTES,
        |subject, body: CheckBody| async move { permissions.check(&subject, &body.parse()?).await },
    )
    .await)
}
