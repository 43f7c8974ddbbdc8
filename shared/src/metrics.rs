//! Business metrics as CloudWatch embedded metric format (EMF) lines on stdout:
//! Lambda ships them with the logs and CloudWatch turns them into metrics, so
//! counting costs no API call on the hot path. The local stack prints the same
//! lines into its log.
//!
//! Every metric is in the `Gatehouse` namespace with the `Stage` dimension and at
//! most one more of a handful of values (`Outcome` or `Decision`): the alarms and
//! the dashboard in `template.yaml` name exactly these sets.

use crate::telemetry::{Correlation, trace_root};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::sync::OnceLock;

pub const NAMESPACE: &str = "Gatehouse";

/// How a login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Success,
    /// Wrong password or unknown email.
    Failure,
    /// Refused for the source address's volume (password spraying) or by Cognito's own limits.
    Throttled,
    /// Refused because the account had too many failures: locked for a while.
    Locked,
}

/// What became of a notification delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationOutcome {
    Queued,
    Sent,
    Suppressed,
    Failed,
    /// Given up on by the queue: the message moves to the dead-letter queue.
    DeadLettered,
}

/// One thing worth counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Registration,
    Confirmation,
    Login(LoginOutcome),
    PermissionDecision { allowed: bool },
    Notification(NotificationOutcome),
}

impl Metric {
    /// `(metric name, extra dimension)`.
    fn parts(self) -> (&'static str, Option<(&'static str, &'static str)>) {
        use LoginOutcome as L;
        use NotificationOutcome as N;
        match self {
            Self::Registration => ("Registrations", None),
            Self::Confirmation => ("Confirmations", None),
            Self::Login(outcome) => (
                "Logins",
                Some((
                    "Outcome",
                    match outcome {
                        L::Success => "success",
                        L::Failure => "failure",
                        L::Throttled => "throttled",
                        L::Locked => "locked",
                    },
                )),
            ),
            Self::PermissionDecision { allowed } => (
                "PermissionDecisions",
                Some(("Decision", if allowed { "allow" } else { "deny" })),
            ),
            Self::Notification(outcome) => (
                "Notifications",
                Some((
                    "Outcome",
                    match outcome {
                        N::Queued => "queued",
                        N::Sent => "sent",
                        N::Suppressed => "suppressed",
                        N::Failed => "failed",
                        N::DeadLettered => "dead_lettered",
                    },
                )),
            ),
        }
    }
}

/// Where the lines go, read once: only a Lambda process (on AWS or in the local
/// stack, both set `AWS_LAMBDA_FUNCTION_NAME`) writes them; unit tests do not.
struct Sink {
    stage: String,
    function: String,
}

fn sink() -> Option<&'static Sink> {
    static SINK: OnceLock<Option<Sink>> = OnceLock::new();
    SINK.get_or_init(|| {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok()?;
        Some(Sink {
            stage: std::env::var("STAGE").unwrap_or_else(|_| "dev".into()),
            function,
        })
    })
    .as_ref()
}

/// One EMF line counting `count` of `metric`, with the function, correlation id
/// and trace id as properties (searchable in the logs, not dimensions).
pub fn line(
    metric: Metric,
    count: u64,
    stage: &str,
    function: &str,
    correlation: Option<&Correlation>,
    timestamp_ms: i64,
) -> String {
    let (name, extra) = metric.parts();
    let mut dimensions = vec!["Stage"];
    let mut doc = Map::new();
    doc.insert("Stage".into(), stage.into());
    if let Some((key, value)) = extra {
        dimensions.push(key);
        doc.insert(key.into(), value.into());
    }
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        }),
    );
    doc.insert(name.into(), count.into());
    doc.insert("function".into(), function.into());
    if let Some(correlation) = correlation {
        if !correlation.id.is_empty() {
            doc.insert("correlation_id".into(), correlation.id.clone().into());
        }
        if let Some(root) = correlation.trace_header.as_deref().and_then(trace_root) {
            doc.insert("trace_id".into(), root.into());
        }
    }
    Value::Object(doc).to_string()
}

/// Counts `count` of `metric` (nothing when `count` is 0).
pub fn record_many(metric: Metric, count: u64) {
    let Some(sink) = sink() else { return };
    if count == 0 {
        return;
    }
    let correlation = Correlation::current().or_else(|| {
        Correlation::invocation_trace_header().map(|t| Correlation {
            id: String::new(),
            trace_header: Some(t),
        })
    });
    let mut text = line(
        metric,
        count,
        &sink.stage,
        &sink.function,
        correlation.as_ref(),
        chrono::Utc::now().timestamp_millis(),
    );
    text.push('\n');
    // One write per line, so lines from concurrent work never interleave; a
    // closed stdout loses a metric, never the request.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Counts one `metric`.
pub fn record(metric: Metric) {
    record_many(metric, 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_an_emf_document_with_its_dimensions_and_value() {
        let correlation = Correlation {
            id: "req-1".into(),
            trace_header: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into()),
        };
        let text = line(
            Metric::Login(LoginOutcome::Locked),
            1,
            "prod",
            "gatehouse-prod-Login",
            Some(&correlation),
            1_700_000_000_000,
        );
        assert!(!text.contains('\n'));
        let doc: Value = serde_json::from_str(&text).unwrap();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(directive["Namespace"], "Gatehouse");
        assert_eq!(directive["Dimensions"], json!([["Stage", "Outcome"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Logins", "Unit": "Count"}])
        );
        assert_eq!(doc["Stage"], "prod");
        assert_eq!(doc["Outcome"], "locked");
        assert_eq!(doc["Logins"], 1);
        assert_eq!(doc["correlation_id"], "req-1");
        assert_eq!(doc["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        // Work no request started (a trigger) has its trace only.
        let traced_only = Correlation {
            id: String::new(),
            trace_header: correlation.trace_header.clone(),
        };
        let doc: Value = serde_json::from_str(&line(
            Metric::Registration,
            1,
            "dev",
            "f",
            Some(&traced_only),
            0,
        ))
        .unwrap();
        assert!(doc.get("correlation_id").is_none());
        assert_eq!(doc["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
    }

    #[test]
    fn every_metric_has_a_few_fixed_dimension_values() {
        let all = [
            Metric::Registration,
            Metric::Confirmation,
            Metric::Login(LoginOutcome::Success),
            Metric::Login(LoginOutcome::Failure),
            Metric::Login(LoginOutcome::Throttled),
            Metric::Login(LoginOutcome::Locked),
            Metric::PermissionDecision { allowed: true },
            Metric::PermissionDecision { allowed: false },
            Metric::Notification(NotificationOutcome::Queued),
            Metric::Notification(NotificationOutcome::Sent),
            Metric::Notification(NotificationOutcome::Suppressed),
            Metric::Notification(NotificationOutcome::Failed),
            Metric::Notification(NotificationOutcome::DeadLettered),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for metric in all {
            let doc: Value = serde_json::from_str(&line(metric, 3, "dev", "f", None, 0)).unwrap();
            let (name, extra) = metric.parts();
            assert_eq!(doc[name], 3);
            assert!(doc.get("correlation_id").is_none());
            let dims = &doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0];
            assert_eq!(dims.as_array().unwrap().len(), 1 + extra.is_some() as usize);
            assert!(seen.insert((name, extra)), "{metric:?} repeats another");
        }
    }
}
