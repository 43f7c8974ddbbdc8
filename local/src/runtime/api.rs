//! The Lambda Runtime API one function process polls: `/invocation/next` hands
//! it the oldest queued invocation (and starts the function's own clock), and
//! `/response`, `/error` and `/init/error` take its answers.

use super::{FunctionHost, InFlight, InvokeError, now_ms};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;

/// The Runtime API as one instance sees it: `gone` turns true when its process
/// has exited, so a poll it left behind gives up its place in the queue.
#[derive(Clone)]
pub(super) struct InstanceApi {
    pub(super) host: Arc<FunctionHost>,
    pub(super) instance: u64,
    pub(super) gone: watch::Receiver<bool>,
    pub(super) ready: Arc<AtomicBool>,
}

/// A new X-Ray trace header, as Lambda sends one with each invocation (the
/// runtime client puts it in `_X_AMZN_TRACE_ID`); sampled when the function's
/// tracing is active.
fn trace_id(sampled: bool) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let parent = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled={}",
        now_ms() / 1000,
        &id[..24],
        &parent[..16],
        u8::from(sampled)
    )
}

pub(super) async fn next(State(api): State<InstanceApi>) -> Response {
    let InstanceApi {
        host,
        instance,
        mut gone,
        ready,
    } = api;
    // Asking for work ends the process's cold start (Lambda's init phase).
    ready.store(true, Ordering::SeqCst);
    let mut queue = tokio::select! {
        queue = host.queue_rx.lock() => queue,
        _ = gone.wait_for(|gone| *gone) => return StatusCode::GONE.into_response(),
    };
    loop {
        let received = tokio::select! {
            received = queue.recv() => received,
            _ = gone.wait_for(|gone| *gone) => return StatusCode::GONE.into_response(),
        };
        let Some(invocation) = received else {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        };
        host.queued.fetch_sub(1, Ordering::SeqCst);
        // The caller gave up (timeout) before this was picked up.
        if invocation.reply.is_closed() {
            continue;
        }
        let mut headers = HeaderMap::new();
        let arn = format!(
            "arn:aws:lambda:{}:{}:function:{}",
            crate::template::REGION,
            crate::template::ACCOUNT_ID,
            host.spec.name
        );
        for (name, value) in [
            ("lambda-runtime-aws-request-id", invocation.id.clone()),
            (
                "lambda-runtime-deadline-ms",
                (now_ms() + host.spec.timeout.as_millis()).to_string(),
            ),
            ("lambda-runtime-invoked-function-arn", arn),
            ("lambda-runtime-trace-id", trace_id(host.spec.traced)),
            ("content-type", "application/json".to_owned()),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        host.in_flight().insert(
            invocation.id.clone(),
            InFlight {
                instance,
                reply: invocation.reply,
                _permit: invocation.permit,
            },
        );
        let _ = invocation.started.send(());
        host.watch_deadline(invocation.id);
        return (StatusCode::OK, headers, invocation.payload.to_string()).into_response();
    }
}

pub(super) async fn respond(
    State(api): State<InstanceApi>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let Some(taken) = api.host.take_in_flight(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = taken.reply.send(Ok(value));
    StatusCode::ACCEPTED
}

fn function_error(body: &[u8]) -> InvokeError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    InvokeError::Function {
        error_type: value["errorType"]
            .as_str()
            .unwrap_or("Unhandled")
            .to_owned(),
        message: value["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}

pub(super) async fn fail(
    State(api): State<InstanceApi>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let Some(taken) = api.host.take_in_flight(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let _ = taken.reply.send(Err(function_error(&body)));
    StatusCode::ACCEPTED
}

pub(super) async fn init_error(State(api): State<InstanceApi>, body: Bytes) -> StatusCode {
    let err = function_error(&body);
    tracing::error!(function = %api.host.spec.logical_id, error = %err, "cold start failed");
    StatusCode::ACCEPTED
}
