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

mod control;
mod event;
mod invoke;
mod routes;

use control::*;
use event::*;
use invoke::*;
use routes::*;

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

fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({"message": text}).to_string(),
    )
        .into_response()
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
