//! The request side: JSON bodies within a size limit, the caller or service
//! from the authorizer's claims, the correlation id, `If-Match`.

use super::*;

/// Bodies above this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A body declared as something other than JSON is refused (415); no
/// `Content-Type` at all is read as JSON.
pub(super) fn ensure_json(req: &Request) -> Result<(), AppError> {
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
pub(super) fn body_error(err: &serde_json::Error) -> String {
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

/// Whose account a `/users/{user_id}/...` route names: `Ok(None)` on a
/// `/users/me/...` route (no `user_id`), 404 for an id that cannot be one.
pub fn path_account(req: &Request) -> Result<Option<UserId>, AppError> {
    match req.path_parameters().first("user_id") {
        None => Ok(None),
        Some(raw) => UserId::parse(raw)
            .map(Some)
            .map_err(|_| AppError::NotFound("user")),
    }
}

/// A session id from the path: a sign-in's `origin_jti` (a UUID); anything
/// else is no session of anyone's (404).
pub fn path_session_id(req: &Request) -> Result<String, AppError> {
    req.path_parameters()
        .first("session_id")
        .filter(|raw| {
            (1..=64).contains(&raw.len())
                && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
        .ok_or(AppError::NotFound("session"))
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
        session_id: claims.get("origin_jti").cloned(),
    })
}

pub(super) const ACCESS_TOKEN_REQUIRED: AppError =
    AppError::Unauthenticated("an access token is required");

/// The JWT authorizer's claims of an access token.
pub(super) fn access_claims(
    req: &Request,
) -> Result<&std::collections::HashMap<String, String>, AppError> {
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
pub(super) fn api_request_id(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
}

/// Who is calling, for the logs: a user's id, or a service's client id.
pub(super) fn log_identity(req: &Request) -> Option<String> {
    let claims = access_claims(req).ok()?;
    claims
        .get("sub")
        .filter(|s| s.len() <= 128)
        .map(|s| s.to_owned())
}

/// API Gateway flattens array claims into one string: `[a b c]`.
pub(super) fn parse_claim_list(raw: &str) -> Vec<String> {
    raw.trim_start_matches('[')
        .trim_end_matches(']')
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
