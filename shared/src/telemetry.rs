//! Logs, one line per event, as CloudWatch and the local stack expect.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// The filter from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls:
/// TRACE to FATAL) or `RUST_LOG` (a level), default INFO. Gatehouse's own code
/// logs at the level asked for; every other crate at INFO at most, whatever the
/// level: the Lambda runtime logs each raw event at TRACE and the SDK's HTTP and
/// signing layers log requests below INFO, and those carry passwords, tokens and
/// codes. A `Targets` filter, not `EnvFilter`: no regex engine in the binary and
/// nothing to evaluate per span (measured in docs/performance.md).
fn filter(raw: Option<String>) -> Targets {
    let level = raw
        .map(|r| r.trim().to_lowercase().replace("fatal", "error"))
        .filter(|r| !r.is_empty())
        .and_then(|r| r.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    Targets::new()
        .with_default(level.min(LevelFilter::INFO))
        .with_target("gatehouse", level)
}

/// Installs the subscriber: JSON lines unless the function's `LoggingConfig` asks
/// for `Text` (Lambda passes it as `AWS_LAMBDA_LOG_FORMAT`).
pub fn init() {
    let filter = filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL")
            .or_else(|_| std::env::var("RUST_LOG"))
            .ok(),
    );
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let _ = if text {
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .without_time()
                    .with_target(false),
            )
            .with(filter)
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(false)
                    .with_target(false),
            )
            .with(filter)
            .try_init()
    };
}

/// What ties one piece of work to the request that started it: the correlation
/// id (returned to the caller in `X-Correlation-Id`, carried by every queue
/// message) and the X-Ray trace header (SQS's `AWSTraceHeader`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Correlation {
    pub id: String,
    pub trace_header: Option<String>,
}

tokio::task_local! {
    static CURRENT: Correlation;
}

impl Correlation {
    /// The caller's own id when it is a sensible one (1-128 characters of
    /// letters, digits and `-_.:`), otherwise `fallback` (API Gateway's request
    /// id, which its access log carries too).
    pub fn from_request(
        header: Option<&str>,
        fallback: &str,
        trace_header: Option<String>,
    ) -> Self {
        let id = header
            .map(str::trim)
            .filter(|h| {
                (1..=128).contains(&h.len())
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            })
            .unwrap_or(fallback);
        Self {
            id: id.to_owned(),
            trace_header: trace_header.filter(|t| !t.is_empty()),
        }
    }

    /// The trace header Lambda gave this invocation (the runtime sets
    /// `_X_AMZN_TRACE_ID` for each event).
    pub fn invocation_trace_header() -> Option<String> {
        std::env::var("_X_AMZN_TRACE_ID")
            .ok()
            .filter(|t| !t.is_empty())
    }

    /// Runs `work` with this correlation as the current one.
    pub async fn scope<F: std::future::Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }

    /// The correlation of the work running now, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }
}

/// The `Root=` part of an X-Ray trace header: the trace's id.
pub fn trace_root(header: &str) -> Option<&str> {
    header
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn the_level_applies_to_gatehouse_and_other_crates_never_go_below_info() {
        let trace = filter(Some("TRACE".into()));
        assert!(trace.would_enable("gatehouse::services", &Level::TRACE));
        assert!(!trace.would_enable("lambda_runtime::layers::api_response", &Level::TRACE));
        assert!(!trace.would_enable("aws_smithy_runtime", &Level::DEBUG));
        assert!(trace.would_enable("lambda_runtime", &Level::INFO));
        assert!(!filter(Some("WARN".into())).would_enable("gatehouse", &Level::INFO));
        assert!(!filter(Some("WARN".into())).would_enable("hyper", &Level::INFO));
        assert!(filter(Some("FATAL".into())).would_enable("gatehouse", &Level::ERROR));
        assert!(filter(None).would_enable("gatehouse", &Level::INFO));
        assert!(!filter(Some("nonsense".into())).would_enable("gatehouse", &Level::DEBUG));
    }

    #[test]
    fn a_callers_correlation_id_is_kept_only_when_it_is_sensible() {
        let trace = Some("Root=1-abc-def;Parent=1;Sampled=1".to_owned());
        let kept = Correlation::from_request(Some("order-42:retry.1"), "api-id", trace.clone());
        assert_eq!(kept.id, "order-42:retry.1");
        assert_eq!(kept.trace_header, trace);
        for bad in [
            "",
            "   ",
            "has space",
            "new\nline",
            &"x".repeat(129),
            "{\"json\":1}",
        ] {
            assert_eq!(
                Correlation::from_request(Some(bad), "api-id", None).id,
                "api-id",
                "{bad:?}"
            );
        }
        assert_eq!(Correlation::from_request(None, "api-id", None).id, "api-id");
        assert_eq!(
            trace_root("Root=1-abc-def;Parent=1;Sampled=1"),
            Some("1-abc-def")
        );
        assert_eq!(trace_root("Parent=1"), None);
    }

    #[tokio::test]
    async fn the_current_correlation_is_the_one_in_scope() {
        assert_eq!(Correlation::current(), None);
        let c = Correlation {
            id: "a".into(),
            trace_header: None,
        };
        let seen = c.clone().scope(async { Correlation::current() }).await;
        assert_eq!(seen, Some(c));
    }
}
