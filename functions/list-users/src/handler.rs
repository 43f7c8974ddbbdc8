use gatehouse::domain::{AppError, UserQuery, UserStatus};
use gatehouse::http::caller_endpoint;
use gatehouse::services::UserListService;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, RequestExt, Response};

/// The list's parameters, parsed at the edge.
fn parse(req: &Request) -> Result<(UserQuery, Option<String>, usize), AppError> {
    let params = req.query_string_parameters();
    let limit = match params.first("limit") {
        None => UserListService::DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=UserListService::MAX_LIMIT).contains(n))
            .ok_or_else(|| AppError::validation("limit", "must be a number from 1 to 100"))?,
    };
    let status = match params.first("status") {
        None => None,
        Some("active") => Some(UserStatus::Active),
        Some("disabled") => Some(UserStatus::Disabled),
        Some(_) => return Err(AppError::validation("status", "must be active or disabled")),
    };
    let email_prefix = match params.first("email_prefix") {
        None => None,
        // Any text is a prefix; one no email has simply matches nothing.
        Some(raw) if raw.chars().count() <= 128 => Some(raw.trim().to_lowercase()),
        Some(_) => {
            return Err(AppError::validation(
                "email_prefix",
                "must be at most 128 characters",
            ));
        }
    };
    let cursor = params.first("cursor").map(str::to_owned);
    Ok((
        UserQuery {
            status,
            email_prefix,
        },
        cursor,
        limit,
    ))
}

/// `GET /users?limit=&cursor=&status=&email_prefix=` → 200 `{items, next_cursor}`
/// for a caller allowed to read users.
pub async fn handle(users: &UserListService, req: Request) -> Result<Response<Body>, Error> {
    let parsed = parse(&req);
    Ok(caller_endpoint(&req, StatusCode::OK, |caller| async move {
        let (query, cursor, limit) = parsed?;
        users.list(&caller, &query, cursor.as_deref(), limit).await
    })
    .await)
}
