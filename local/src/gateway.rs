//! API Gateway (HTTP API, payload format 2.0) in front of the functions: exactly
//! the template's routes, its JWT authorizers, and API Gateway's own answers for
//! what never reaches a function (404 for no route, 401 from the authorizer, 500
//! when a function fails, 503 when it times out). Plus the local-only endpoints:
//! `GET /_local/outbox` and Lambda's Invoke API for `aws lambda invoke`.

use crate::jwt::{Authorizer, claims_for_payload};
use crate::outbox::Outbox;
use crate::runtime::{Functions, InvokeError};
use crate::template::{Route, RouteAuth};
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
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// API Gateway's payload limit for HTTP APIs.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

pub struct Gateway {
    pub routes: Vec<Route>,
    pub authorizers: BTreeMap<String, Arc<Authorizer>>,
    pub functions: Functions,
    pub outbox: Outbox,
}

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/_local/outbox", get(outbox))
        .route("/_local/health", get(|| async { "ok" }))
        .route(
            "/2015-03-31/functions/{name}/invocations",
            post(invoke_directly),
        )
        .fallback(api)
        .with_state(gateway)
}

async fn outbox(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(gw.outbox.all()).into_response()
}

fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({"message": text}).to_string(),
    )
        .into_response()
}

/// Lambda's Invoke API: the function's result, or its error with `X-Amz-Function-Error`.
async fn invoke_directly(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let Some(host) = gw.functions.find(&name) else {
        return message(
            StatusCode::NOT_FOUND,
            &format!("Function not found: {name}"),
        );
    };
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(err) => {
            return message(
                StatusCode::BAD_REQUEST,
                &format!("Could not parse request body into json: {err}"),
            );
        }
    };
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
        }) => (
            StatusCode::OK,
            [
                ("content-type", "application/json"),
                ("x-amz-function-error", "Unhandled"),
            ],
            json!({"errorType": error_type, "errorMessage": message}).to_string(),
        )
            .into_response(),
        Err(err) => (
            StatusCode::OK,
            [
                ("content-type", "application/json"),
                ("x-amz-function-error", "Unhandled"),
            ],
            json!({"errorType": "Runtime.ExitError", "errorMessage": err.to_string()}).to_string(),
        )
            .into_response(),
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

fn find_route<'a>(
    routes: &'a [Route],
    method: &Method,
    path: &str,
) -> Option<(&'a Route, BTreeMap<String, String>)> {
    routes.iter().find_map(|route| {
        let method_ok = route.method == "ANY" || route.method == method.as_str();
        if !method_ok {
            return None;
        }
        match_path(&route.path, path).map(|params| (route, params))
    })
}

fn header_map(headers: &HeaderMap) -> (Map<String, Value>, Vec<Value>) {
    let mut joined: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| Value::String(c.trim().to_owned())));
            continue;
        }
        joined
            .entry(name.as_str().to_owned())
            .or_default()
            .push(value);
    }
    let headers = joined
        .into_iter()
        .map(|(k, v)| (k, Value::String(v.join(","))))
        .collect();
    (headers, cookies)
}

fn query_map(query: &str) -> Map<String, Value> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    map.into_iter()
        .map(|(k, v)| (k, Value::String(v.join(","))))
        .collect()
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
}

fn api_event(req: Incoming<'_>) -> Value {
    let route_key = format!("{} {}", req.route.method, req.route.path);
    let (headers, cookies) = header_map(req.headers);
    let now = Utc::now();
    let mut context = json!({
        "accountId": crate::template::ACCOUNT_ID,
        "apiId": "local",
        "domainName": req.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1"),
        "domainPrefix": "local",
        "http": {
            "method": req.method.as_str(),
            "path": req.path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": req.headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or(""),
        },
        "requestId": uuid::Uuid::new_v4().to_string(),
        "routeKey": route_key,
        "stage": "$default",
        "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
        "timeEpoch": now.timestamp_millis(),
    });
    if let Some(claims) = req.claims {
        context["authorizer"] =
            json!({"jwt": {"claims": claims_for_payload(&claims), "scopes": null}});
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.path,
        "rawQueryString": req.query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !req.query.is_empty() {
        event["queryStringParameters"] = Value::Object(query_map(req.query));
    }
    if !req.params.is_empty() {
        event["pathParameters"] = json!(req.params);
    }
    if !req.body.is_empty() {
        match std::str::from_utf8(&req.body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(BASE64.encode(&req.body));
                event["isBase64Encoded"] = json!(true);
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

async fn api(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (response, function) = route_request(&gw, req).await;
    tracing::info!(
        "{method} {path} -> {} {} ({} ms)",
        response.status().as_u16(),
        function.unwrap_or("-"),
        started.elapsed().as_millis()
    );
    response
}

async fn route_request(gw: &Gateway, req: Request) -> (Response, Option<&str>) {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let Some((route, params)) = find_route(&gw.routes, &parts.method, path) else {
        return (message(StatusCode::NOT_FOUND, "Not Found"), None);
    };
    let function = Some(route.function.as_str());
    let claims = match &route.auth {
        RouteAuth::None => None,
        RouteAuth::Jwt(name) => {
            let Some(authorizer) = gw.authorizers.get(name) else {
                tracing::error!(authorizer = %name, "route names an authorizer the template does not define");
                return (
                    message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
                    function,
                );
            };
            let header = parts
                .headers
                .get(authorizer.header.as_str())
                .and_then(|v| v.to_str().ok());
            match authorizer.authorize(header).await {
                Ok(claims) => Some(claims),
                Err(err) => {
                    tracing::info!(reason = %err, "authorizer refused the request");
                    let mut response = message(StatusCode::UNAUTHORIZED, "Unauthorized");
                    response
                        .headers_mut()
                        .insert("www-authenticate", HeaderValue::from_static("Bearer"));
                    return (response, function);
                }
            }
        }
    };
    let body = match to_bytes(body, MAX_PAYLOAD).await {
        Ok(body) => body,
        Err(_) => {
            return (
                message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
                function,
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
    });
    let response = match gw.functions.invoke(&route.function, event).await {
        Ok(value) => api_response(value),
        Err(InvokeError::Timeout(_)) => {
            message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        Err(err) => {
            tracing::error!(function = %route.function, error = %err, "invocation failed");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    };
    (response, function)
}

#[cfg(test)]
mod tests {
    use super::*;

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
