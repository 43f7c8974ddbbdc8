//! JSON logs, one object per line, as CloudWatch and the local stack expect.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber: JSON lines unless the function's `LoggingConfig` asks
/// for `Text` (Lambda passes it as `AWS_LAMBDA_LOG_FORMAT`). The level comes from
/// `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls) or `RUST_LOG`,
/// defaulting to `info`.
pub fn init() {
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .map(|level| level.to_lowercase())
        .unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if text {
        builder.without_time().try_init()
    } else {
        builder.json().with_current_span(false).try_init()
    };
}
