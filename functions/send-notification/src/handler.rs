use gatehouse::http::bodies::SendNotificationBody;
use gatehouse::http::{MAX_BODY_BYTES, json_body_up_to, respond, subject};
use gatehouse::services::NotificationService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// `POST /notifications` `{recipients: [user_id, ...] | {role}, channel,
/// template, data, idempotency_key?, dry_run?}` → 202 `{notification_id,
/// accepted}`, for callers the policies allow `notifications:send` (users or
/// services); with `dry_run: true`, 200 `{dry_run, targeted}` and nothing sent.
pub async fn handle(
    notifications: &NotificationService,
    req: Request,
) -> Result<Response<Body>, Error> {
    let request = subject(&req).and_then(|subject| {
        let body: SendNotificationBody = json_body_up_to(&req, MAX_BODY_BYTES * 4)?;
        Ok((subject, body.parse()?))
    });
    Ok(match request {
        Err(err) => respond::<()>(StatusCode::ACCEPTED, Err(err)),
        Ok((subject, request)) if request.dry_run => respond(
            StatusCode::OK,
            notifications.audience(&subject, &request).await,
        ),
        Ok((subject, request)) => respond(
            StatusCode::ACCEPTED,
            notifications.send(&subject, request).await,
        ),
    })
}
