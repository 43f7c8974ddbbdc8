use gatehouse::http::subject_endpoint;
use gatehouse::services::NotificationStatus;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, RequestExt, Response};

/// `GET /notifications/{id}` → 200 `{status, counts: {queued, sent,
/// suppressed, failed}}`, for its sender or a caller the policies allow.
pub async fn handle(status: &NotificationStatus, req: Request) -> Result<Response<Body>, Error> {
    let id = req
        .path_parameters()
        .first("id")
        .unwrap_or_default()
        .to_owned();
    Ok(
        subject_endpoint(&req, StatusCode::OK, |subject| async move {
            status.status(&subject, &id).await
        })
        .await,
    )
}
