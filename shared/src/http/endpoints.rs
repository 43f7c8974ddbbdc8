//! The shapes of an endpoint: parse, call the use case, answer JSON (or a
//! problem), with the caller or service the request carries.

use super::*;

pub(super) fn json_response<T: Serialize>(
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
pub(super) fn etag(version: u64) -> HeaderValue {
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
