//! The local-only endpoints under `/_local/`: the outbox, code ageing, emulated
//! outages, queue depths, service clients, function environments and the
//! routes served.

use super::*;

/// Each queue's visible, in-flight and delayed messages (local only).
pub(super) async fn queue_depths(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(crate::queues::depths(&gw.queues, &gw.moto).await).into_response()
}

/// The client-credentials clients with their secrets (local only: on AWS an
/// operator reads them from Cognito), so a smoke test can act as a service.
pub(super) async fn service_clients(State(gw): State<Arc<Gateway>>) -> Response {
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
pub(super) async fn oauth_token(
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
pub(super) async fn switch_outage(State(gw): State<Arc<Gateway>>, body: Bytes) -> Response {
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
pub(super) async fn served_routes(State(gw): State<Arc<Gateway>>) -> Response {
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

pub(super) async fn outbox(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(gw.outbox.all()).into_response()
}

/// `{"email": ...}` → `{"expired": N}`: the user's pending codes now answer
/// `ExpiredCodeException`, as after their lifetime on AWS.
pub(super) async fn expire_codes(State(gw): State<Arc<Gateway>>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(email) = body["email"].as_str() else {
        return message(StatusCode::BAD_REQUEST, "the body needs an email");
    };
    axum::Json(json!({"expired": gw.codes.expire(email)})).into_response()
}

/// The environment a function runs with here (its role's credentials and the
/// stand-ins' endpoints included), so the benchmark can run a release build of it
/// as this stack would.
pub(super) async fn function_environment(
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
