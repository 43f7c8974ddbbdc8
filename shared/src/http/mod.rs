//! HTTP plumbing shared by every API function: JSON bodies with a size limit,
//! parsed into domain values ([`bodies`]), the caller's identity from the
//! authorizer's claims, and the one place that turns an [`AppError`] into an
//! RFC 9457 problem response.

pub mod bodies;

use crate::domain::{AccessToken, AppError, Caller, Origin, Subject, UserId};
use crate::telemetry::Correlation;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::error::Error as _;
use tracing::Instrument;

/// Bodies above this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A body declared as something other than JSON is refused (415); no
/// `Content-Type` at all is read as JSON.
fn ensure_json(req: &Request) -> Result<(), AppError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media_type = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json = media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(AppError::UnsupportedMediaType)
    }
}

/// What serde says about a body that does not parse, without echoing the
/// caller's input: values and field names that are not plain identifiers are
/// left out.
fn body_error(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("(line {}, column {})", err.line(), err.column());
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => format!("is not valid JSON {at}"),
        Category::Data => {
            let full = err.to_string();
            let message = full
                .rsplit_once(" at line ")
                .map_or(full.as_str(), |(m, _)| m);
            let mut safe = String::new();
            let mut quoted = String::new();
            let mut quote = None;
            for c in message.chars() {
                match quote {
                    None if c == '"' || c == '`' => quote = Some(c),
                    None => safe.push(c),
                    Some(q) if c == q => {
                        let plain = !quoted.is_empty()
                            && quoted.len() <= 64
                            && quoted
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
                        safe.push('`');
                        safe.push_str(if plain { &quoted } else { "…" });
                        safe.push('`');
                        quoted.clear();
                        quote = None;
                    }
                    Some(_) => quoted.push(c),
                }
            }
            format!("does not fit this endpoint: {safe} {at}")
        }
    }
}

/// Parses the request body as JSON into `T`.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, AppError> {
    json_body_up_to(req, MAX_BODY_BYTES)
}

/// [`json_body`] for an endpoint that takes larger bodies (a batch).
pub fn json_body_up_to<T: DeserializeOwned>(req: &Request, limit: usize) -> Result<T, AppError> {
    ensure_json(req)?;
    let bytes: &[u8] = match req.body() {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    };
    if bytes.len() > limit {
        return Err(AppError::PayloadTooLarge { limit });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::MalformedBody("is empty".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| AppError::MalformedBody(body_error(&e)))
}

/// The `{user_id}` path parameter; `None` when it is not a user id (answered
/// as an unknown user, so a malformed id tells nothing more than an unknown one).
pub fn path_user_id(req: &Request) -> Option<UserId> {
    req.path_parameters()
        .first("user_id")
        .and_then(|raw| UserId::parse(raw).ok())
}

/// Where the request came from: API Gateway's `sourceIp` (the TCP peer; a
/// forwarded-for header is the caller's to set, so it is not trusted).
pub fn origin(req: &Request) -> Origin {
    let http = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => Some(&ctx.http),
        _ => None,
    };
    Origin {
        source_ip: http
            .and_then(|h| h.source_ip.clone())
            .unwrap_or_else(|| "unknown".into()),
        user_agent: http.and_then(|h| h.user_agent.clone()),
    }
}

/// The authenticated caller, from the JWT authorizer's claims and the bearer token.
///
/// API Gateway's JWT authorizer checks signature, issuer, audience and expiry, but
/// not `token_use`: an id token would pass it. Only access tokens are accepted
/// here, on AWS and locally alike.
pub fn caller(req: &Request) -> Result<Caller, AppError> {
    let claims = access_claims(req)?;
    // Every Cognito user access token names its user; a client-credentials
    // token (a service's) does not, and is no user.
    if !claims.contains_key("username") {
        return Err(AppError::Unauthenticated(
            "a user's access token is required",
        ));
    }
    let user_id = claims
        .get("sub")
        .and_then(|sub| UserId::parse(sub).ok())
        .ok_or(AppError::Unauthenticated("the token has no subject"))?;
    let issued_at = claims
        .get("iat")
        .and_then(|v| v.parse().ok())
        .ok_or(AppError::Unauthenticated("the token has no issue time"))?;
    let raw = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // The scheme is case-insensitive; the token must reach Cognito exactly as
    // API Gateway validated it.
    let token = match raw.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => raw.trim(),
    };
    let access_token = AccessToken::parse(token).map_err(|_| ACCESS_TOKEN_REQUIRED)?;
    let username = claims
        .get("username")
        .cloned()
        .unwrap_or_else(|| user_id.as_str().to_owned());
    Ok(Caller {
        user_id,
        username,
        groups: claims
            .get("cognito:groups")
            .map(|g| parse_claim_list(g))
            .unwrap_or_default(),
        issued_at,
        access_token,
    })
}

const ACCESS_TOKEN_REQUIRED: AppError = AppError::Unauthenticated("an access token is required");

/// The JWT authorizer's claims of an access token.
fn access_claims(req: &Request) -> Result<&std::collections::HashMap<String, String>, AppError> {
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    }
    .ok_or(ACCESS_TOKEN_REQUIRED)?;
    if claims.get("token_use").map(String::as_str) != Some("access") {
        return Err(ACCESS_TOKEN_REQUIRED);
    }
    Ok(claims)
}

/// The caller of a route services may call too: a user, or a service with a
/// client-credentials token (no `username`; its `sub` is its client id) and
/// the scopes it carries.
pub fn subject(req: &Request) -> Result<Subject, AppError> {
    let claims = access_claims(req)?;
    if claims.contains_key("username") {
        return caller(req).map(Subject::User);
    }
    match (claims.get("client_id"), claims.get("sub")) {
        (Some(client_id), Some(sub)) if client_id == sub && !client_id.is_empty() => {
            Ok(Subject::Service {
                client_id: client_id.clone(),
                scopes: claims
                    .get("scope")
                    .map(|s| s.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default(),
            })
        }
        _ => Err(AppError::Unauthenticated(
            "the token names no user or service",
        )),
    }
}

/// The response header carrying the request's correlation id.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// The request's correlation: the caller's `X-Correlation-Id` when sensible,
/// else API Gateway's request id (its access log's `requestId`), else Lambda's.
pub fn correlation(req: &Request) -> Correlation {
    let fallback = api_request_id(req)
        .or_else(|| req.lambda_context_ref().map(|c| c.request_id.clone()))
        .unwrap_or_default();
    Correlation::from_request(
        req.headers()
            .get(CORRELATION_HEADER)
            .and_then(|v| v.to_str().ok()),
        &fallback,
        Correlation::invocation_trace_header(),
    )
}

/// API Gateway's id of the request: the access log's `requestId`.
fn api_request_id(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
}

/// Who is calling, for the logs: a user's id, or a service's client id.
fn log_identity(req: &Request) -> Option<String> {
    let claims = access_claims(req).ok()?;
    claims
        .get("sub")
        .filter(|s| s.len() <= 128)
        .map(|s| s.to_owned())
}

/// `lambda_http::run` for every API function: each request runs in a span
/// naming its correlation id and caller (so every log line carries them, beside
/// the runtime's request and trace ids), with the correlation current for the
/// queue messages it sends, and the id is returned in `X-Correlation-Id`.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Result<Response<Body>, lambda_http::Error>> + Send,
{
    lambda_http::run(lambda_http::service_fn(|req: Request| {
        let correlation = correlation(&req);
        let span = tracing::info_span!(
            "request",
            correlation_id = %correlation.id,
            api_request_id = api_request_id(&req).unwrap_or_default(),
            user_id = tracing::field::Empty,
        );
        if let Some(who) = log_identity(&req) {
            span.record("user_id", who.as_str());
        }
        let header = HeaderValue::from_str(&correlation.id).ok();
        let budget = time_left(&req);
        let work = handler(req);
        async move {
            let bounded = async {
                match budget {
                    Some(budget) => match tokio::time::timeout(budget, work).await {
                        Ok(answer) => answer,
                        Err(_) => Ok(problem_response(&AppError::Unavailable(
                            "the function's time ran out while it waited on AWS".into(),
                        ))),
                    },
                    None => work.await,
                }
            };
            let mut response = correlation.scope(bounded.instrument(span)).await?;
            if let Some(header) = header {
                response.headers_mut().insert(CORRELATION_HEADER, header);
            }
            Ok::<_, lambda_http::Error>(response)
        }
    }))
    .await
}

/// What a handler keeps of the function's time for its answer.
const ANSWER_RESERVE: std::time::Duration = std::time::Duration::from_millis(750);

/// How long the handler may run: the invocation's deadline less a reserve, so a
/// handler stuck on a dependency that never answers (a hung endpoint, retries
/// that add up) ends as a 503 the caller can retry, not as Lambda's timeout (a
/// 500). `None` outside Lambda (no deadline).
fn time_left(req: &Request) -> Option<std::time::Duration> {
    let deadline_ms = req.lambda_context_ref()?.deadline;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u64::try_from(u128::from(deadline_ms).checked_sub(now_ms)?).ok()?;
    Some(std::time::Duration::from_millis(left).saturating_sub(ANSWER_RESERVE))
}

/// API Gateway flattens array claims into one string: `[a b c]`.
fn parse_claim_list(raw: &str) -> Vec<String> {
    raw.trim_start_matches('[')
        .trim_end_matches(']')
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The parts of a problem response that depend on the error.
struct ProblemKind {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
}

fn classify(err: &AppError) -> ProblemKind {
    let kind = |status, code, title| ProblemKind {
        status,
        code,
        title,
    };
    match err {
        AppError::Validation { .. } => kind(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Invalid request",
        ),
        AppError::MalformedBody(_) => kind(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            "Malformed request body",
        ),
        AppError::PayloadTooLarge { .. } => kind(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Request body too large",
        ),
        AppError::UnsupportedMediaType => kind(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
        ),
        AppError::EmailTaken => kind(
            StatusCode::CONFLICT,
            "email_taken",
            "Email already registered",
        ),
        AppError::InvalidCredentials => kind(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Invalid credentials",
        ),
        AppError::UserNotConfirmed => kind(
            StatusCode::FORBIDDEN,
            "user_not_confirmed",
            "Account not confirmed",
        ),
        AppError::InvalidCode => kind(StatusCode::BAD_REQUEST, "invalid_code", "Invalid code"),
        AppError::ExpiredCode => kind(StatusCode::BAD_REQUEST, "expired_code", "Expired code"),
        AppError::SmsCountryNotAllowed { .. } => kind(
            StatusCode::BAD_REQUEST,
            "sms_country_not_allowed",
            "SMS not sent to this country",
        ),
        AppError::Unauthenticated(_) => {
            kind(StatusCode::UNAUTHORIZED, "invalid_token", "Unauthenticated")
        }
        AppError::Forbidden(_) => kind(StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
        AppError::NotFound(_) => kind(StatusCode::NOT_FOUND, "not_found", "Not found"),
        AppError::PreconditionFailed => kind(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            "Precondition failed",
        ),
        AppError::Conflict(_) => kind(StatusCode::CONFLICT, "conflict", "Conflict"),
        AppError::MethodNotAllowed { .. } => kind(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
        ),
        AppError::TooManyRequests { .. } => kind(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many requests",
        ),
        AppError::Unavailable(_) => kind(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        ),
        AppError::Unexpected(_) => kind(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
        ),
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

/// The one mapping from errors to responses. Logs once: 5xx with the full cause
/// chain, 4xx with the code only. The body of a 5xx never shows the cause.
pub fn problem_response(err: &AppError) -> Response<Body> {
    let ProblemKind {
        status,
        code,
        title,
    } = classify(err);
    if status.is_server_error() {
        let mut chain = Vec::new();
        let mut source = err.source();
        while let Some(cause) = source {
            chain.push(cause.to_string());
            source = cause.source();
        }
        tracing::error!(code, error = %err, causes = ?chain, "request failed");
    } else {
        tracing::info!(code, status = status.as_u16(), "request refused");
    }
    let detail = if status.is_server_error() {
        "The request could not be completed. Try again later.".to_owned()
    } else {
        err.to_string()
    };
    let field = match err {
        AppError::Validation { field, .. } => Some(*field),
        AppError::SmsCountryNotAllowed { .. } => Some("phone_number"),
        _ => None,
    };
    let body = Problem {
        kind: format!("https://gatehouse.dev/problems/{code}"),
        title,
        status: status.as_u16(),
        detail,
        code,
        field,
    };
    let mut response = json_response(status, &body, "application/problem+json");
    match err {
        AppError::TooManyRequests {
            retry_after: Some(wait),
        } => {
            let secs = wait.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        AppError::MethodNotAllowed { allow } => {
            if let Ok(value) = HeaderValue::from_str(allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
        }
        // A dependency is down: worth another try shortly, not at once.
        AppError::Unavailable(_) => {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        AppError::Unauthenticated(_) => {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        _ => {}
    }
    response
}

fn json_response<T: Serialize>(
    status: StatusCode,
    body: &T,
    content_type: &'static str,
) -> Response<Body> {
    let (status, text) = match serde_json::to_string(body) {
        Ok(text) => (status, text),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"title":"Internal error","status":500,"code":"internal_error"}"#.to_owned(),
        ),
    };
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Turns a use case's result into a response: `ok` with the JSON body, or a problem.
/// A 204 has no body, whatever `T` is.
pub fn respond<T: Serialize>(ok: StatusCode, result: Result<T, AppError>) -> Response<Body> {
    match result {
        Ok(_) if ok == StatusCode::NO_CONTENT => {
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = ok;
            response
        }
        Ok(value) => json_response(ok, &value, "application/json"),
        Err(err) => problem_response(&err),
    }
}

/// The whole of a JSON-in, JSON-out endpoint: parse the body, run the use case,
/// respond. Expected failures become problem responses, never `Err`.
pub async fn json_endpoint<B, T, F, Fut>(
    req: &Request,
    ok: StatusCode,
    use_case: F,
) -> Response<Body>
where
    B: DeserializeOwned,
    T: Serialize,
    F: FnOnce(B) -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let result = match json_body::<B>(req) {
        Ok(body) => use_case(body).await,
        Err(err) => Err(err),
    };
    respond(ok, result)
}

/// A protected endpoint without a body: the caller, then the use case.
pub async fn caller_endpoint<T, F, Fut>(
    req: &Request,
    ok: StatusCode,
    use_case: F,
) -> Response<Body>
where
    T: Serialize,
    F: FnOnce(Caller) -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let result = match caller(req) {
        Ok(caller) => use_case(caller).await,
        Err(err) => Err(err),
    };
    respond(ok, result)
}

/// A profile's version as an entity tag.
fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `If-Match`: `None` when absent or `*`; the version it names otherwise. A
/// value that names no version of ours matches none (so it gets 412).
pub fn if_match(req: &Request) -> Option<u64> {
    let raw = req
        .headers()
        .get(header::IF_MATCH)?
        .to_str()
        .unwrap_or_default()
        .trim();
    if raw == "*" {
        return None;
    }
    Some(
        raw.trim_start_matches("W/")
            .trim_matches('"')
            .parse()
            .unwrap_or(u64::MAX),
    )
}

/// A protected endpoint answering with a profile, whose version goes in `ETag`.
pub async fn profile_endpoint<F, Fut>(req: &Request, use_case: F) -> Response<Body>
where
    F: FnOnce(Caller) -> Fut,
    Fut: Future<Output = Result<crate::domain::Profile, AppError>>,
{
    let result = match caller(req) {
        Ok(caller) => use_case(caller).await,
        Err(err) => Err(err),
    };
    let version = result.as_ref().ok().map(|p| p.version);
    let mut response = respond(StatusCode::OK, result);
    if let Some(version) = version {
        response.headers_mut().insert(header::ETAG, etag(version));
    }
    response
}

/// A route users and services may call, without a body.
pub async fn subject_endpoint<T, F, Fut>(
    req: &Request,
    ok: StatusCode,
    use_case: F,
) -> Response<Body>
where
    T: Serialize,
    F: FnOnce(Subject) -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let result = match subject(req) {
        Ok(subject) => use_case(subject).await,
        Err(err) => Err(err),
    };
    respond(ok, result)
}

/// A route users and services may call, with a JSON body: the subject, the
/// body, then the use case.
pub async fn subject_json_endpoint<B, T, F, Fut>(
    req: &Request,
    ok: StatusCode,
    body_limit: usize,
    use_case: F,
) -> Response<Body>
where
    B: DeserializeOwned,
    T: Serialize,
    F: FnOnce(Subject, B) -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let result = match subject(req)
        .and_then(|subject| Ok((subject, json_body_up_to::<B>(req, body_limit)?)))
    {
        Ok((subject, body)) => use_case(subject, body).await,
        Err(err) => Err(err),
    };
    respond(ok, result)
}

/// A protected endpoint with a JSON body: the caller, the body, then the use case.
pub async fn caller_json_endpoint<B, T, F, Fut>(
    req: &Request,
    ok: StatusCode,
    use_case: F,
) -> Response<Body>
where
    B: DeserializeOwned,
    T: Serialize,
    F: FnOnce(Caller, B) -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let result = match caller(req).and_then(|caller| Ok((caller, json_body::<B>(req)?))) {
        Ok((caller, body)) => use_case(caller, body).await,
        Err(err) => Err(err),
    };
    respond(ok, result)
}

#[cfg(test)]
mod body_tests {
    use super::body_error;

    fn error_for<T: serde::de::DeserializeOwned + std::fmt::Debug>(raw: &str) -> String {
        body_error(&serde_json::from_str::<T>(raw).unwrap_err())
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        count: u32,
    }

    #[test]
    fn a_body_error_never_echoes_the_callers_input() {
        let injected = error_for::<Body>(r#"{"count": "<script>alert(1)</script>"}"#);
        assert!(!injected.contains("script"), "{injected}");
        assert!(injected.starts_with("does not fit this endpoint: invalid type"));
        let field = error_for::<Body>(r#"{"count": 1, "<b>x</b>": 2}"#);
        assert!(!field.contains("<b>"), "{field}");
        let plain = error_for::<Body>(r#"{"count": 1, "extra": 2}"#);
        assert!(plain.contains("unknown field `extra`"), "{plain}");
        assert_eq!(
            error_for::<Body>("{\"count\": "),
            "is not valid JSON (line 1, column 10)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_claims_in_api_gateway_form_are_split() {
        assert_eq!(parse_claim_list("[admin user]"), vec!["admin", "user"]);
        assert_eq!(parse_claim_list("admin"), vec!["admin"]);
        assert!(parse_claim_list("[]").is_empty());
    }

    #[test]
    fn a_server_error_hides_its_cause_from_the_caller() {
        let err = AppError::unexpected("table gatehouse-secret-table is gone");
        let response = problem_response(&err);
        assert_eq!(response.status(), 500);
        let Body::Text(text) = response.body() else {
            panic!("no text body")
        };
        assert!(!text.contains("secret-table"));
        assert!(text.contains("\"code\":\"internal_error\""));
    }

    #[test]
    fn problems_use_the_problem_json_media_type() {
        let response = problem_response(&AppError::EmailTaken);
        assert_eq!(response.status(), 409);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }

    #[test]
    fn too_many_requests_says_when_to_retry() {
        let response = problem_response(&AppError::TooManyRequests {
            retry_after: Some(std::time::Duration::from_secs(90)),
        });
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "90");
    }
}
