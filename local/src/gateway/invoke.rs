//! Lambda's Invoke API (`aws lambda invoke` against the stack), with Lambda's
//! payload limits and error answers.

use super::*;

/// Lambda's payload limits: 6 MB for a synchronous invocation, 1 MB for an
/// asynchronous one.
pub(super) const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
pub(super) const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

/// A Lambda service error, as the SDK and CLI parse it.
pub(super) fn lambda_error(status: StatusCode, kind: &str, message: &str) -> Response {
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
pub(super) fn throttled() -> Response {
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
pub(super) fn function_error(error_type: &str, message: &str) -> Response {
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
pub(super) async fn invoke_directly(
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
