//! API Gateway (HTTP API, payload format 2.0) in front of the functions: exactly
//! the template's routes, its JWT authorizers, and API Gateway's own answers for
//! what never reaches a function (404 for no route, 401 from the authorizer, 500
//! when a function fails, times out or is throttled, 503 when the 30 s
//! integration timeout passes first). Plus the local-only endpoints:
//! `GET /_local/outbox`, `POST /_local/codes/expire` (ages a user's pending
//! Cognito codes past their lifetime, as waiting a day would),
//! `GET /_local/functions/<name>/environment` (for the benchmark),
//! `GET /_local/service-clients` (client ids and secrets, for the smoke test) and Lambda's
//! Invoke API for `aws lambda invoke`.

use crate::cognito::codes::Codes;
use crate::jwt::{Authorizer, claims_for_payload};
use crate::outbox::Outbox;
use crate::runtime::{Functions, InvokeError};
use crate::template::{Route, RouteAuth};
use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription,
};
use aws_lambda_events::query_map::QueryMap;
use axum::Router;
use axum::body::{Bytes, to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// API Gateway's payload limit for HTTP APIs.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// HTTP APIs wait at most this long for an integration.
const INTEGRATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct Gateway {
    pub routes: Vec<Route>,
    pub authorizers: BTreeMap<String, Arc<Authorizer>>,
    pub functions: Functions,
    pub outbox: Outbox,
    pub codes: Arc<Codes>,
    pub outage: Arc<crate::outage::Outage>,
    /// The HTTP API's access log format, if it has one.
    pub access_log_format: Option<String>,
    /// The HTTP API's route throttling, if it declares one.
    pub throttle: Option<crate::throttling::RouteThrottle>,
    /// The user pool domain's token endpoint, when the template has a
    /// client-credentials client.
    pub tokens: Option<Arc<crate::oauth::TokenEndpoint>>,
    /// The template's queues, for `GET /_local/queues`.
    pub queues: Vec<crate::provision::Queue>,
    /// The emulators, straight (local controls only).
    pub moto: crate::moto::AwsJson,
}

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/_local/outbox", get(outbox))
        .route("/_local/codes/expire", post(expire_codes))
        .route(
            "/_local/functions/{name}/environment",
            get(function_environment),
        )
        .route("/_local/health", get(|| async { "ok" }))
        .route("/_local/routes", get(served_routes))
        .route("/_local/aws/outage", post(switch_outage))
        .route("/oauth2/token", post(oauth_token))
        .route("/_local/queues", get(queue_depths))
        .route("/_local/service-clients", get(service_clients))
        .route(
            "/2015-03-31/functions/{name}/invocations",
            // Lambda's own limits answer (in the handler), not axum's 2 MB default.
            post(invoke_directly).layer(axum::extract::DefaultBodyLimit::max(
                MAX_PAYLOAD + MAX_SYNC_PAYLOAD,
            )),
        )
        .fallback(api)
        .with_state(gateway)
}

/// Each queue's visible, in-flight and delayed messages (local only).
async fn queue_depths(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(crate::queues::depths(&gw.queues, &gw.moto).await).into_response()
}

/// The client-credentials clients with their secrets (local only: on AWS an
/// operator reads them from Cognito), so a smoke test can act as a service.
async fn service_clients(State(gw): State<Arc<Gateway>>) -> Response {
    let clients: Vec<Value> = gw
        .tokens
        .iter()
        .flat_map(|t| t.clients())
        .map(|(id, client)| {
            json!({"client_id": id, "client_secret": client.secret, "scopes": client.scopes})
        })
        .collect();
    axum::Json(clients).into_response()
}

/// The Cognito domain's token endpoint (client credentials), served here.
async fn oauth_token(
    State(gw): State<Arc<Gateway>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    match &gw.tokens {
        Some(tokens) => tokens.issue(&headers, &body),
        None => message(
            StatusCode::NOT_FOUND,
            "the template declares no client-credentials client",
        ),
    }
}

/// `{"down": true|false}`: takes the emulated AWS away from the functions, or
/// brings it back (see `crate::outage`). With `"services": ["ses", ...]` only
/// those services fail instead, each call a 503 `ServiceUnavailable`. With
/// `"mode": "hung"` moto is frozen instead: it accepts and never answers.
async fn switch_outage(State(gw): State<Arc<Gateway>>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(down) = body["down"].as_bool() else {
        return message(
            StatusCode::BAD_REQUEST,
            "the body needs \"down\": true or false",
        );
    };
    match (body["mode"].as_str(), body["services"].as_array()) {
        (Some("hung"), _) => {
            if let Err(why) = gw.outage.set_hung(down) {
                return message(StatusCode::INTERNAL_SERVER_ERROR, &why);
            }
        }
        (Some(other), _) => {
            return message(
                StatusCode::BAD_REQUEST,
                &format!("unknown mode {other:?}: the only mode is \"hung\""),
            );
        }
        (None, Some(services)) => {
            for service in services.iter().filter_map(Value::as_str) {
                gw.outage.set_failing(service, down);
            }
        }
        (None, None) => gw.outage.set(down),
    }
    axum::Json(json!({"down": down, "services": body["services"], "mode": body["mode"]}))
        .into_response()
}

/// The routes this gateway serves: `[{method, path, public}]`, for the contract
/// test that holds them, the template and `openapi.yaml` to one set.
async fn served_routes(State(gw): State<Arc<Gateway>>) -> Response {
    let routes: Vec<Value> = gw
        .routes
        .iter()
        .map(|r| {
            json!({
                "method": r.method,
                "path": r.path,
                "public": matches!(r.auth, RouteAuth::None),
            })
        })
        .collect();
    axum::Json(routes).into_response()
}

async fn outbox(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(gw.outbox.all()).into_response()
}

/// `{"email": ...}` → `{"expired": N}`: the user's pending codes now answer
/// `ExpiredCodeException`, as after their lifetime on AWS.
async fn expire_codes(State(gw): State<Arc<Gateway>>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(email) = body["email"].as_str() else {
        return message(StatusCode::BAD_REQUEST, "the body needs an email");
    };
    axum::Json(json!({"expired": gw.codes.expire(email)})).into_response()
}

/// The environment a function runs with here (its role's credentials and the
/// stand-ins' endpoints included), so the benchmark can run a release build of it
/// as this stack would.
async fn function_environment(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
) -> Response {
    match gw.functions.find(&name) {
        Some(host) => axum::Json(
            host.environment()
                .iter()
                .cloned()
                .collect::<BTreeMap<String, String>>(),
        )
        .into_response(),
        None => message(
            StatusCode::NOT_FOUND,
            &format!("Function not found: {name}"),
        ),
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({"message": text}).to_string(),
    )
        .into_response()
}

/// Lambda's payload limits: 6 MB for a synchronous invocation, 1 MB for an
/// asynchronous one.
const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

/// A Lambda service error, as the SDK and CLI parse it.
fn lambda_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        [
            ("content-type", "application/json"),
            ("x-amzn-errortype", kind),
        ],
        json!({"Type": "User", "message": message}).to_string(),
    )
        .into_response()
}

/// Lambda's answer to an invocation beyond the function's reserved concurrency.
fn throttled() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            ("content-type", "application/json"),
            ("x-amzn-errortype", "TooManyRequestsException"),
        ],
        json!({
            "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
            "Type": "User",
            "message": "Rate Exceeded.",
        })
        .to_string(),
    )
        .into_response()
}

/// The function's error, as `Invoke` returns it: status 200, the error in the
/// body, `X-Amz-Function-Error: Unhandled`.
fn function_error(error_type: &str, message: &str) -> Response {
    (
        StatusCode::OK,
        [
            ("content-type", "application/json"),
            ("x-amz-function-error", "Unhandled"),
        ],
        json!({"errorType": error_type, "errorMessage": message}).to_string(),
    )
        .into_response()
}

/// Lambda's Invoke API: `RequestResponse` (the default) answers with the result or
/// the function's error; `Event` queues the invocation and answers 202 at once;
/// `DryRun` answers 204.
async fn invoke_directly(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(host) = gw.functions.find(&name).cloned() else {
        return lambda_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: {name}"),
        );
    };
    let invocation_type = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_owned();
    let limit = match invocation_type.as_str() {
        "RequestResponse" => MAX_SYNC_PAYLOAD,
        "Event" => MAX_ASYNC_PAYLOAD,
        "DryRun" => return StatusCode::NO_CONTENT.into_response(),
        other => {
            return lambda_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("Unsupported invocation type {other}"),
            );
        }
    };
    if body.len() > limit {
        return lambda_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
        );
    }
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(err) => {
            return lambda_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                &format!("Could not parse request body into json: {err}"),
            );
        }
    };
    if invocation_type == "Event" {
        let logical_id = host.logical_id().to_owned();
        tokio::spawn(async move {
            if let Err(err) = host.invoke(payload).await {
                tracing::warn!(function = %logical_id, error = %err, "asynchronous invocation failed");
            }
        });
        return StatusCode::ACCEPTED.into_response();
    }
    let started = Instant::now();
    let result = host.invoke(payload).await;
    tracing::info!(
        "INVOKE {} -> {} ({} ms)",
        host.logical_id(),
        if result.is_ok() { "ok" } else { "error" },
        started.elapsed().as_millis()
    );
    match result {
        Ok(value) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            value.to_string(),
        )
            .into_response(),
        Err(InvokeError::Function {
            error_type,
            message,
        }) => function_error(&error_type, &message),
        Err(InvokeError::Timeout(after)) => function_error(
            "Sandbox.Timedout",
            &format!("Task timed out after {:.2} seconds", after.as_secs_f64()),
        ),
        Err(InvokeError::Throttled) => throttled(),
        Err(err) => function_error("Runtime.ExitError", &err.to_string()),
    }
}

/// Matches `path` against a route template with `{name}` and `{name+}` segments.
pub fn match_path(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    let mut actual = path.trim_start_matches('/').split('/');
    let mut expected = template.trim_start_matches('/').split('/').peekable();
    while let Some(segment) = expected.next() {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            let rest: Vec<&str> = actual.by_ref().collect();
            if rest.is_empty() || expected.peek().is_some() {
                return None;
            }
            params.insert(name.to_owned(), rest.join("/"));
            return Some(params);
        }
        let value = actual.next()?;
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if !value.is_empty() => {
                params.insert(name.to_owned(), value.to_owned());
            }
            Some(_) => return None,
            None if segment == value => {}
            None => return None,
        }
    }
    actual.next().is_none().then_some(params)
}

/// How specific a route is, lowest first, as API Gateway chooses: an exact path,
/// then one with path variables (more literal segments first), then a greedy
/// `{proxy+}`, then `$default`; at the same path a method beats `ANY`. The
/// template's order never matters.
fn precedence(route: &Route) -> (u8, std::cmp::Reverse<usize>, u8) {
    let segments: Vec<&str> = route.path.trim_start_matches('/').split('/').collect();
    let class = if route.path == "$default" {
        3
    } else if segments.iter().any(|s| s.ends_with("+}")) {
        2
    } else if segments.iter().any(|s| s.starts_with('{')) {
        1
    } else {
        0
    };
    let literals = segments.iter().filter(|s| !s.starts_with('{')).count();
    let method = u8::from(route.method == "ANY");
    (class, std::cmp::Reverse(literals), method)
}

fn find_route<'a>(
    routes: &'a [Route],
    method: &Method,
    path: &str,
) -> Option<(&'a Route, BTreeMap<String, String>)> {
    routes
        .iter()
        .filter(|route| route.method == "ANY" || route.method == method.as_str())
        .filter_map(|route| {
            if route.path == "$default" {
                return Some((route, BTreeMap::new()));
            }
            match_path(&route.path, path).map(|params| (route, params))
        })
        .min_by_key(|(route, _)| precedence(route))
}

/// `%XX` escapes decoded, as API Gateway decodes path parameters.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Content types whose bodies API Gateway passes as text; every other body
/// (including one without a content type) arrives base64-encoded.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(media) = content_type.and_then(|ct| ct.split(';').next()) else {
        return false;
    };
    let media = media.trim().to_ascii_lowercase();
    media.starts_with("text/")
        || matches!(
            media.as_str(),
            "application/json" | "application/xml" | "application/javascript"
        )
        || media.ends_with("+json")
        || media.ends_with("+xml")
}

/// API Gateway's 403 when a route has `AuthorizationScopes` and the token carries
/// none of them.
fn scope_refusal(route: &Route, claims: &Map<String, Value>) -> Option<Response> {
    let granted = token_scopes(claims);
    if route.scopes.is_empty() || route.scopes.iter().any(|s| granted.contains(s)) {
        return None;
    }
    let challenge = format!(
        "Bearer scope=\"{}\" error=\"insufficient_scope\" error_description=\"the token does not have the required scopes\"",
        route.scopes.join(" ")
    );
    let mut response = message(StatusCode::FORBIDDEN, "Forbidden");
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert("www-authenticate", value);
    }
    Some(response)
}

/// The token's scopes (`scope`, space-separated, as Cognito issues it).
fn token_scopes(claims: &Map<String, Value>) -> Vec<String> {
    claims
        .get("scope")
        .and_then(Value::as_str)
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Headers as API Gateway passes them: one value per name, repeated values joined
/// with commas, cookies moved to their own list.
fn split_cookies(headers: &HeaderMap) -> (HeaderMap, Vec<String>) {
    let mut joined: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| c.trim().to_owned()));
            continue;
        }
        joined
            .entry(name.as_str().to_owned())
            .or_default()
            .push(value);
    }
    let mut out = HeaderMap::new();
    for (name, values) in joined {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name),
            HeaderValue::from_str(&values.join(",")),
        ) {
            out.insert(name, value);
        }
    }
    (out, cookies)
}

fn query_map(query: &str) -> QueryMap {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    QueryMap::from(map)
}

struct Incoming<'a> {
    route: &'a Route,
    params: BTreeMap<String, String>,
    method: &'a Method,
    path: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
    body: Bytes,
    claims: Option<Map<String, Value>>,
    source_ip: String,
    request_id: &'a str,
}

/// The payload format 2.0 event, built from the same `aws_lambda_events` types
/// the functions deserialize, so the two cannot disagree on a field.
#[allow(deprecated)] // `http_method` is set so that older readers see the real method.
fn api_event(req: Incoming<'_>) -> ApiGatewayV2httpRequest {
    let route_key = format!("{} {}", req.route.method, req.route.path);
    let (headers, cookies) = split_cookies(req.headers);
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    };
    let now = Utc::now();

    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = req.method.clone();
    http.path = Some(req.path.to_owned());
    http.protocol = Some("HTTP/1.1".into());
    http.source_ip = Some(req.source_ip.clone());
    http.user_agent = Some(header("user-agent").unwrap_or_default());

    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route_key.clone());
    context.account_id = Some(crate::template::ACCOUNT_ID.into());
    context.stage = Some("$default".into());
    context.request_id = Some(req.request_id.to_owned());
    context.apiid = Some("local".into());
    context.domain_name = Some(header("host").unwrap_or_else(|| "127.0.0.1".into()));
    context.domain_prefix = Some("local".into());
    context.time = Some(now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
    context.time_epoch = now.timestamp_millis();
    context.http = http;
    if let Some(claims) = req.claims {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        let scopes = token_scopes(&claims);
        jwt.scopes = (!scopes.is_empty()).then_some(scopes);
        jwt.claims = claims_for_payload(&claims)
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        context.authorizer = Some(authorizer);
    }

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some(route_key);
    event.raw_path = Some(req.path.to_owned());
    event.raw_query_string = Some(req.query.to_owned());
    event.http_method = req.method.clone();
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.headers = headers;
    event.query_string_parameters = query_map(req.query);
    event.path_parameters = req
        .params
        .into_iter()
        .map(|(name, value)| (name, percent_decode(&value)))
        .collect();
    event.request_context = context;
    if !req.body.is_empty() {
        let text = is_text(header("content-type").as_deref())
            .then(|| std::str::from_utf8(&req.body).ok())
            .flatten();
        match text {
            Some(text) => event.body = Some(text.to_owned()),
            None => {
                event.body = Some(BASE64.encode(&req.body));
                event.is_base64_encoded = true;
            }
        }
    }
    event
}

/// A function's answer in payload format 2.0 as an HTTP response.
fn api_response(value: Value) -> Response {
    let Some(status) = value.get("statusCode").and_then(Value::as_u64) else {
        // Format 2.0 lets a function return any JSON: it becomes a 200 body.
        let body = match value {
            Value::String(s) => s,
            other => other.to_string(),
        };
        return (StatusCode::OK, [("content-type", "application/json")], body).into_response();
    };
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok());
    let Some(status) = status else {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            headers.append(n, v);
        }
    };
    for (name, value) in value["headers"].as_object().into_iter().flatten() {
        add(name, value.as_str().unwrap_or_default());
    }
    for (name, values) in value["multiValueHeaders"].as_object().into_iter().flatten() {
        for v in values.as_array().into_iter().flatten() {
            add(name, v.as_str().unwrap_or_default());
        }
    }
    for cookie in value["cookies"].as_array().into_iter().flatten() {
        add("set-cookie", cookie.as_str().unwrap_or_default());
    }
    let text = value["body"].as_str().unwrap_or_default();
    let body = if value["isBase64Encoded"].as_bool() == Some(true) {
        BASE64.decode(text).unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    (status, headers, body).into_response()
}

/// A request header (local only) by which a test says it asks for a 5xx, so the
/// suite's final scan of the stack's log does not count it as a failure.
pub const EXPECT_ERROR_HEADER: &str = "x-gatehouse-local-expect-error";

/// Marks a request line whose 5xx was asked for (see `scripts/check-stack-logs.py`).
pub const ASKED_FOR_MARK: &str = "[asked for]";

async fn api(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // An error is asked for when the request says so, or an emulated failure
    // (outage, hang, failing service) is in force when it starts or ends.
    let mut asked_for_error = req.headers().contains_key(EXPECT_ERROR_HEADER) || gw.outage.any();
    // API Gateway's id of the request: in the event the function sees (its logs'
    // `api_request_id`), in the access log and on the stack's request line.
    let request_id = uuid::Uuid::new_v4().to_string();
    let source_ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_default();
    let (response, route) = route_request(&gw, req, &request_id).await;
    asked_for_error |= gw.outage.any();
    let mark = if asked_for_error && response.status().is_server_error() {
        ASKED_FOR_MARK
    } else {
        ""
    };
    tracing::info!(
        "{method} {path} -> {} {} ({} ms) request {request_id} {mark}",
        response.status().as_u16(),
        route.map_or("-", |r| r.function.as_str()),
        started.elapsed().as_millis()
    );
    if let Some(format) = &gw.access_log_format {
        let route_key = route.map_or_else(|| "-".into(), |r| format!("{} {}", r.method, r.path));
        // API Gateway's $context variables this stack knows; JSON-escaped, as
        // the format puts them inside quotes.
        let escape = |v: &str| {
            serde_json::to_string(v)
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned()
        };
        let line = format
            .replace("$context.requestId", &request_id)
            .replace("$context.identity.sourceIp", &escape(&source_ip))
            .replace("$context.routeKey", &escape(&route_key))
            .replace("$context.status", response.status().as_str())
            .replace(
                "$context.responseLatency",
                &started.elapsed().as_millis().to_string(),
            )
            .replace("$context.integrationErrorMessage", "");
        tracing::info!(target: "access_log", "{line}");
    }
    response
}

/// Serves one request; also the route it matched (matched once per request).
async fn route_request<'g>(
    gw: &'g Gateway,
    req: Request,
    request_id: &str,
) -> (Response, Option<&'g Route>) {
    let (parts, body) = req.into_parts();
    let source_ip = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let Some((route, params)) = find_route(&gw.routes, &parts.method, path) else {
        return (message(StatusCode::NOT_FOUND, "Not Found"), None);
    };
    let matched = Some(route);
    if let Some(throttle) = &gw.throttle
        && !throttle.admit(&format!("{} {}", route.method, route.path))
    {
        return (
            message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
            matched,
        );
    }
    let claims = match &route.auth {
        RouteAuth::None => None,
        RouteAuth::Jwt(name) => {
            let Some(authorizer) = gw.authorizers.get(name) else {
                tracing::error!(authorizer = %name, "route names an authorizer the template does not define");
                return (
                    message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
                    matched,
                );
            };
            let header = parts
                .headers
                .get(authorizer.header.as_str())
                .and_then(|v| v.to_str().ok());
            let claims = match authorizer.authorize(header).await {
                Ok(claims) => claims,
                Err(err) => {
                    tracing::info!(reason = %err, "authorizer refused the request");
                    let challenge = format!(
                        "Bearer scope=\"\" error=\"invalid_token\" error_description=\"{}\"",
                        err.description()
                    );
                    let mut response = message(StatusCode::UNAUTHORIZED, "Unauthorized");
                    if let Ok(value) = HeaderValue::from_str(&challenge) {
                        response.headers_mut().insert("www-authenticate", value);
                    }
                    return (response, matched);
                }
            };
            if let Some(refusal) = scope_refusal(route, &claims) {
                tracing::info!("authorizer refused the request: insufficient scope");
                return (refusal, matched);
            }
            Some(claims)
        }
    };
    let body = match to_bytes(body, MAX_PAYLOAD).await {
        Ok(body) => body,
        Err(_) => {
            return (
                message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
                matched,
            );
        }
    };
    let event = api_event(Incoming {
        route,
        params,
        method: &parts.method,
        path,
        query,
        headers: &parts.headers,
        body,
        claims,
        source_ip,
        request_id,
    });
    let event = match serde_json::to_value(&event) {
        Ok(event) => event,
        Err(err) => {
            tracing::error!(error = %err, "the request event could not be serialised");
            return (
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
                matched,
            );
        }
    };
    let invoked = tokio::time::timeout(
        INTEGRATION_TIMEOUT,
        gw.functions.invoke(&route.function, event),
    )
    .await;
    // API Gateway's answers (HTTP API): only its own integration limit is a 503;
    // a function that errs, outlives its own timeout or is throttled by Lambda
    // (reserved concurrency) is a 500.
    let response = match invoked {
        Ok(Ok(value)) => api_response(value),
        Err(_) => {
            tracing::error!(function = %route.function, "integration timed out after {INTEGRATION_TIMEOUT:?}");
            message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        Ok(Err(err)) => {
            tracing::error!(function = %route.function, error = %err, "invocation failed");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    };
    (response, matched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::RouteAuth;

    #[test]
    fn path_templates_match_segments_and_greedy_tails() {
        assert!(match_path("/users/me", "/users/me").is_some());
        assert!(match_path("/users/me", "/users/me/x").is_none());
        assert!(match_path("/users/me", "/users").is_none());
        let params = match_path("/users/{id}", "/users/42").unwrap();
        assert_eq!(params["id"], "42");
        assert!(match_path("/users/{id}", "/users/").is_none());
        let params = match_path("/files/{proxy+}", "/files/a/b/c").unwrap();
        assert_eq!(params["proxy"], "a/b/c");
    }

    fn route(method: &str, path: &str, function: &str) -> Route {
        Route {
            method: method.into(),
            path: path.into(),
            function: function.into(),
            auth: RouteAuth::None,
            scopes: vec![],
        }
    }

    fn chosen(routes: &[Route], method: Method, path: &str) -> Option<String> {
        find_route(routes, &method, path).map(|(r, _)| r.function.clone())
    }

    #[test]
    fn the_most_specific_route_wins_whatever_the_template_order() {
        let routes = vec![
            route("ANY", "$default", "Fallback"),
            route("ANY", "/users/{proxy+}", "Greedy"),
            route("GET", "/users/{user_id}", "GetUser"),
            route("ANY", "/users/me", "AnyMe"),
            route("GET", "/users/me", "GetMe"),
        ];
        assert_eq!(
            chosen(&routes, Method::GET, "/users/me").as_deref(),
            Some("GetMe")
        );
        assert_eq!(
            chosen(&routes, Method::POST, "/users/me").as_deref(),
            Some("AnyMe")
        );
        assert_eq!(
            chosen(&routes, Method::GET, "/users/42").as_deref(),
            Some("GetUser")
        );
        assert_eq!(
            chosen(&routes, Method::DELETE, "/users/42").as_deref(),
            Some("Greedy")
        );
        assert_eq!(
            chosen(&routes, Method::GET, "/users/42/roles").as_deref(),
            Some("Greedy")
        );
        assert_eq!(
            chosen(&routes, Method::GET, "/other").as_deref(),
            Some("Fallback")
        );
        let reversed: Vec<Route> = routes.into_iter().rev().collect();
        assert_eq!(
            chosen(&reversed, Method::GET, "/users/me").as_deref(),
            Some("GetMe")
        );
        assert_eq!(
            chosen(&reversed, Method::GET, "/users/42").as_deref(),
            Some("GetUser")
        );
    }

    #[test]
    fn path_parameters_arrive_url_decoded() {
        assert_eq!(percent_decode("a%40b.com%2Fx"), "a@b.com/x");
        assert_eq!(percent_decode("100%"), "100%", "a stray percent stays");
    }

    #[test]
    fn only_text_bodies_arrive_as_text() {
        assert!(is_text(Some("application/json; charset=utf-8")));
        assert!(is_text(Some("text/plain")));
        assert!(is_text(Some("application/problem+json")));
        assert!(!is_text(Some("application/octet-stream")));
        assert!(!is_text(Some("application/x-www-form-urlencoded")));
        assert!(!is_text(None));
    }

    #[test]
    fn a_route_with_scopes_refuses_a_token_without_one_of_them() {
        let mut admin = route("GET", "/admin", "Admin");
        admin.scopes = vec!["gatehouse/admin".into(), "gatehouse/ops".into()];
        let claims = |scope: &str| {
            json!({"scope": scope})
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        let refused =
            scope_refusal(&admin, &claims("aws.cognito.signin.user.admin")).expect("refused");
        assert_eq!(refused.status(), 403);
        assert!(
            refused.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("insufficient_scope")
        );
        assert!(scope_refusal(&admin, &claims("openid gatehouse/ops")).is_none());
        assert!(scope_refusal(&route("GET", "/open", "Open"), &claims("")).is_none());
    }

    #[test]
    fn a_function_result_without_status_is_a_200_json_body() {
        let response = api_response(json!({"ok": true}));
        assert_eq!(response.status(), 200);
    }

    #[test]
    fn structured_results_keep_status_headers_and_cookies() {
        let response = api_response(json!({
            "statusCode": 201,
            "headers": {"content-type": "application/json"},
            "cookies": ["a=b"],
            "body": "{}",
        }));
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["set-cookie"], "a=b");
    }
}
