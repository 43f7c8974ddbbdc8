use gatehouse::http::bodies::SendNotificationBody;
use gatehouse::http::{MAX_BODY_BYTES, subject_json_endpoint};
use gatehouse::services::NotificationService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /notifications` `{recipients: [user_id, ...] | {role}, channel,
/// template, data, idempotency_key?}` → 202 `{notification_id, accepted}`, for
/// callers the policies allow `notifications:send` (users or services).
pub async fn handle(
    notifications: &NotificationService,
    req: Request,
) -> Result<Response<Body>, Error> {
    Ok(subject_json_endpoint(
        &req,
        StatusCode::ACCEPTED,
        MAX_BODY_BYTES * 4,
        |subject, body: SendNotificationBody| async move {
            notifications.send(&subject, body.parse()?).await
        },
    )
    .await)
}
