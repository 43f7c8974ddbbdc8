//! Logs, one line per event, as CloudWatch and the local stack expect.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// The filter from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls:
/// TRACE to FATAL) or `RUST_LOG` (`level` or `target=level,...`), default INFO.
/// A `Targets` filter, not `EnvFilter`: no regex engine in the binary and nothing
/// to evaluate per span (measured in docs/performance.md).
fn filter(raw: Option<String>) -> Targets {
    let raw = raw
        .unwrap_or_default()
        .to_lowercase()
        .replace("fatal", "error");
    raw.parse::<Targets>()
        .ok()
        .filter(|_| !raw.trim().is_empty())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
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
    fn lambda_levels_and_rust_log_directives_both_parse() {
        assert!(filter(Some("DEBUG".into())).would_enable("x", &Level::DEBUG));
        assert!(!filter(Some("WARN".into())).would_enable("x", &Level::INFO));
        assert!(filter(Some("FATAL".into())).would_enable("x", &Level::ERROR));
        let directives = filter(Some("info,lambda_runtime=warn".into()));
        assert!(!directives.would_enable("lambda_runtime", &Level::INFO));
        assert!(directives.would_enable("gatehouse", &Level::INFO));
        assert!(filter(None).would_enable("x", &Level::INFO));
        assert!(!filter(Some("nonsense=?".into())).would_enable("x", &Level::DEBUG));
    }
}
