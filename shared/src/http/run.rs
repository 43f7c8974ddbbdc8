//! The Lambda loop of every API function: the correlation span, and an answer
//! (503) before the function's deadline rather than Lambda's timeout.

use super::*;

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
pub(super) const ANSWER_RESERVE: std::time::Duration = std::time::Duration::from_millis(750);

/// How long the handler may run: the invocation's deadline less a reserve, so a
/// handler stuck on a dependency that never answers (a hung endpoint, retries
/// that add up) ends as a 503 the caller can retry, not as Lambda's timeout (a
/// 500). `None` outside Lambda (no deadline).
pub(super) fn time_left(req: &Request) -> Option<std::time::Duration> {
    let deadline_ms = req.lambda_context_ref()?.deadline;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u64::try_from(u128::from(deadline_ms).checked_sub(now_ms)?).ok()?;
    Some(std::time::Duration::from_millis(left).saturating_sub(ANSWER_RESERVE))
}
