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
}
