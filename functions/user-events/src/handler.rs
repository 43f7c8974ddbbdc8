use gatehouse::http::{caller_endpoint, path_user_id};
use gatehouse::services::AuditTrailService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, RequestExt, Response};

/// `GET /users/{user_id}/events?cursor=` → 200 `{items, next_cursor}`, newest
/// first, for the user themself or a caller allowed to read users.
pub async fn handle(trail: &AuditTrailService, req: Request) -> Result<Response<Body>, Error> {
    let target = path_user_id(&req);
    let cursor = req
        .query_string_parameters()
        .first("cursor")
        .map(str::to_owned);
    Ok(caller_endpoint(&req, StatusCode::OK, |caller| async move {
        trail
            .events(&caller, target.as_ref(), cursor.as_deref())
            .await
    })
    .await)
}
