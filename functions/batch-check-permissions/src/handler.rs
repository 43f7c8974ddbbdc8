use gatehouse::http::bodies::BatchCheckBody;
use gatehouse::http::subject_json_endpoint;
use gatehouse::services::Permissions;

/// A hundred checks with their resources' attributes and contexts.
const BATCH_BODY_BYTES: usize = 256 * 1024;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /permissions/batch-check` `{checks: [...]}` (up to 100) → 200
/// `{results}`, in the order asked.
pub async fn handle(permissions: &Permissions, req: Request) -> Result<Response<Body>, Error> {
    Ok(subject_json_endpoint(
        &req,
        StatusCode::OK,
        BATCH_BODY_BYTES,
        |subject, body: BatchCheckBody| async move {
            let results = permissions.check_batch(&subject, &body.parse()?).await?;
            Ok(serde_json::json!({ "results": results }))
        },
    )
    .await)
}
