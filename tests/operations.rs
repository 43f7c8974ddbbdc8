//! Operating Gatehouse: the health check, correlation ids in answers and logs,
//! EMF metric lines, the trace header travelling through the queue, and the
//! smoke test that checks a deployment's main flows.

use crate::support::*;
use gatehouse::telemetry::trace_root;
use serde_json::{Value, json};
use std::process::Command;

/// The stack log's lines that explain a degraded health report: the probes'
/// failures and moto's slow answers.
fn why_degraded() -> String {
    let log = std::fs::read_to_string(&stack().log).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("health probe") || l.contains("moto answered slowly"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every JSON line a function wrote to the stack's log: `(binary, line)`.
fn function_lines() -> Vec<(String, Value)> {
    let log = std::fs::read_to_string(&stack().log).expect("stack log");
    log.lines()
        .filter_map(|line| {
            let (label, rest) = line.strip_prefix('[')?.split_once("] ")?;
            let value: Value = serde_json::from_str(rest).ok()?;
            Some((label.to_owned(), value))
        })
        .collect()
}

/// The value of `field` in any span of a tracing JSON line.
fn span_field<'a>(line: &'a Value, field: &str) -> Option<&'a str> {
    line["spans"]
        .as_array()?
        .iter()
        .find_map(|s| s[field].as_str())
}

/// The EMF lines, checked to be well formed as CloudWatch reads them.
fn metric_lines() -> Vec<(String, Value)> {
    let lines: Vec<(String, Value)> = function_lines()
        .into_iter()
        .filter(|(_, l)| l.get("_aws").is_some())
        .collect();
    for (function, line) in &lines {
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert!(line["_aws"]["Timestamp"].is_i64(), "{function}: {line}");
        assert_eq!(directive["Namespace"], "Gatehouse", "{function}: {line}");
        for dimension in directive["Dimensions"][0].as_array().expect("dimensions") {
            let name = dimension.as_str().expect("a dimension name");
            assert!(
                line[name].is_string(),
                "{function}: no value for {name}: {line}"
            );
        }
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("a metric name");
            assert!(
                line[name].as_u64().is_some_and(|n| n > 0),
                "{function}: {line}"
            );
        }
    }
    lines
}

fn metric_name(line: &Value) -> &str {
    line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
        .as_str()
        .unwrap_or_default()
}

fn correlation_id() -> String {
    // unique_email's local part is unique per run and call.
    let email = unique_email("corr");
    format!(
        "ops-{}",
        email
            .split('@')
            .next()
            .unwrap_or_default()
            .replace('+', "-")
    )
}

/// Sends the security alert to `recipient` as a service, under `correlation_id`.
async fn alert(recipient: &str, correlation_id: &str) {
    let sender = service_token(Some("gatehouse/notifications.send")).await;
    let sent = send(
        http()
            .post(url("/notifications"))
            .bearer_auth(
                sender.body["access_token"]
                    .as_str()
                    .expect("a service token"),
            )
            .header("x-correlation-id", correlation_id)
            .json(&json!({
                "recipients": [recipient],
                "channel": "email",
                "template": "security-alert",
                "data": {"message": "operations test"},
            })),
    )
    .await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
}

#[tokio::test]
async fn health_reports_the_version_and_each_dependency_and_nothing_of_the_configuration() {
    let health = send(http().get(url("/health"))).await;
    assert_eq!(health.status, 200, "{:?}", health.body);
    assert_eq!(
        health.body["status"],
        "ok",
        "{}\n{}",
        health.body,
        why_degraded()
    );
    assert_eq!(health.body["version"], env!("CARGO_PKG_VERSION"));
    for dependency in ["table", "identity", "queue"] {
        assert_eq!(
            health.body["dependencies"][dependency], "ok",
            "{dependency}"
        );
    }
    assert_eq!(health.headers["cache-control"], "no-store");
    let text = health.body.to_string();
    for secret in ["gatehouse-dev", "arn:", "http", "sqs", "us-east-1", "_"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn an_answer_carries_the_callers_correlation_id_and_so_do_the_log_lines_of_its_request() {
    let (email, tokens) = signed_up_user("correlated").await;
    let token = tokens["access_token"].as_str().expect("token");
    let id = correlation_id();
    let me = send(
        http()
            .get(url("/users/me"))
            .bearer_auth(token)
            .header("x-correlation-id", &id),
    )
    .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.headers["x-correlation-id"], id.as_str());
    let user_id = user_id_of(&email).await;

    // Without one (or with one that is no sensible id), API Gateway's request id.
    for header in [None, Some("two words"), Some("{\"json\":1}")] {
        let mut request = http().get(url("/health"));
        if let Some(h) = header {
            request = request.header("x-correlation-id", h);
        }
        let answer = send(request).await;
        let given = answer.headers["x-correlation-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            !given.is_empty() && Some(given.as_str()) != header,
            "{header:?}"
        );
        assert!(
            given
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        );
    }

    // A failure is logged under the id too, with the caller and Lambda's ids.
    let refused = send(
        http()
            .get(url("/users/not-a-user-id"))
            .bearer_auth(token)
            .header("x-correlation-id", &id),
    )
    .await;
    assert_eq!(refused.headers["x-correlation-id"], id.as_str());
    let found = eventually(|| async {
        function_lines().iter().any(|(_, line)| {
            span_field(line, "correlation_id") == Some(id.as_str())
                && span_field(line, "user_id") == Some(user_id.as_str())
                && span_field(line, "requestId").is_some()
                && span_field(line, "xrayTraceId").is_some()
        })
    })
    .await;
    assert!(
        found,
        "no log line of request {id} names its caller and Lambda's ids"
    );
}

#[tokio::test]
async fn a_flow_writes_emf_lines_with_the_expected_metrics_and_dimensions() {
    let id = correlation_id();
    let (email, tokens) = signed_up_user("metered").await;
    let token = tokens["access_token"].as_str().expect("token");
    let user_id = user_id_of(&email).await;
    let wrong = send(
        http()
            .post(url("/auth/login"))
            .header("x-correlation-id", &id)
            .json(&json!({"email": email, "password": "Wrong-password-1"})),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let right = send(
        http()
            .post(url("/auth/login"))
            .header("x-correlation-id", &id)
            .json(&json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(right.status, 200);
    let check = send(
        http()
            .post(url("/permissions/check"))
            .bearer_auth(token)
            .header("x-correlation-id", &id)
            .json(&json!({"action": "users:read", "resource": {"type": "User", "id": user_id}})),
    )
    .await;
    assert_eq!(check.body["allowed"], true, "{:?}", check.body);
    alert(&user_id, &id).await;

    // Each of this request's: the queue message carries the id to the worker.
    let expected: [(&str, &[(&str, &str)]); 5] = [
        ("Logins", &[("Outcome", "failure")]),
        ("Logins", &[("Outcome", "success")]),
        ("PermissionDecisions", &[("Decision", "allow")]),
        ("Notifications", &[("Outcome", "queued")]),
        ("Notifications", &[("Outcome", "sent")]),
    ];
    let all_there = eventually(|| async {
        let lines = metric_lines();
        expected.iter().all(|(name, dims)| {
            lines.iter().any(|(_, line)| {
                metric_name(line) == *name
                    && dims.iter().all(|(k, v)| line[*k] == *v)
                    && line["correlation_id"] == id.as_str()
            })
        })
    })
    .await;
    let lines = metric_lines();
    assert!(all_there, "missing metrics of request {id}: {lines:?}");
    // The triggers serve no request of ours: their lines carry the trace only.
    for (name, function, dimension) in [
        ("Registrations", "cognito-pre-signup", None),
        ("Confirmations", "cognito-post-confirmation", None),
        ("Notifications", "cognito-post-confirmation", Some("queued")),
    ] {
        assert!(
            lines.iter().any(|(f, line)| f == function
                && metric_name(line) == name
                && line["Stage"] == "dev"
                && line["trace_id"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("1-"))
                && dimension.is_none_or(|d| line["Outcome"] == d)),
            "{function} wrote no {name} line"
        );
    }
    let directive = &lines
        .iter()
        .find(|(_, l)| metric_name(l) == "Logins")
        .expect("a Logins line")
        .1["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Dimensions"], json!([["Stage", "Outcome"]]));
    assert_eq!(directive["Metrics"][0]["Unit"], "Count");
}

#[tokio::test]
async fn a_queued_notification_carries_the_requests_trace_header_to_the_worker() {
    let (email, _) = signed_up_user("traced").await;
    let recipient = user_id_of(&email).await;
    let id = correlation_id();
    alert(&recipient, &id).await;

    // The producer's trace, as Lambda handed it to the invocation.
    let producer_trace = function_lines()
        .into_iter()
        .find(|(f, l)| {
            f == "send-notification" && span_field(l, "correlation_id") == Some(id.as_str())
        })
        .and_then(|(_, l)| span_field(&l, "xrayTraceId").map(str::to_owned))
        .expect("the producer logged under the correlation id");
    assert!(
        producer_trace.contains("Sampled=1"),
        "tracing is active: {producer_trace}"
    );
    let root = |header: &str| trace_root(header).map(str::to_owned);
    let producer_root = root(&producer_trace).expect("a Root");

    // The worker sees the same trace header on the message, and its delivery's
    // log line and metric carry it with the correlation id.
    let delivered = eventually(|| async {
        function_lines().iter().any(|(f, l)| {
            f == "notification-delivery"
                && l["fields"]["message"] == "delivery finished"
                && span_field(l, "correlation_id") == Some(id.as_str())
        })
    })
    .await;
    assert!(delivered, "the worker logged no delivery under {id}");
    let worker_lines: Vec<Value> = function_lines()
        .into_iter()
        .filter(|(f, l)| {
            f == "notification-delivery" && span_field(l, "correlation_id") == Some(id.as_str())
        })
        .map(|(_, l)| l)
        .collect();
    for line in &worker_lines {
        let seen = span_field(line, "trace_header").expect("the message's trace header");
        assert_eq!(
            root(seen).as_deref(),
            Some(producer_root.as_str()),
            "{line}"
        );
        // The worker's own invocation is a different segment of its own.
        assert_ne!(
            span_field(line, "xrayTraceId"),
            Some(producer_trace.as_str())
        );
    }
    let sent_metric = metric_lines()
        .into_iter()
        .find(|(f, l)| f == "notification-delivery" && l["correlation_id"] == id.as_str())
        .expect("the worker's metric line")
        .1;
    assert_eq!(sent_metric["trace_id"], producer_root.as_str());
    assert_eq!(sent_metric["Outcome"], "sent");
}

fn smoke(args: &[&str]) -> std::process::Output {
    Command::new(target_dir().join("debug").join("gatehouse-ops"))
        .arg("smoke")
        .args(args)
        .env_remove("GATEHOUSE_SMOKE_CLIENT_SECRET")
        .output()
        .expect("gatehouse-ops runs (make test builds it)")
}

#[tokio::test]
async fn the_smoke_test_passes_against_the_local_stack() {
    let out = tokio::task::spawn_blocking(|| smoke(&["--base-url", &stack().url]))
        .await
        .expect("smoke");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\n{}",
        why_degraded()
    );
    for step in [
        "health",
        "register",
        "confirm",
        "login",
        "profile",
        "permission",
        "notification",
        "cleanup",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.split_whitespace().nth(1) == Some(step)),
            "no passed {step} step:\n{stdout}"
        );
    }
    // It cleans up after itself: its account is gone.
    let email = stdout
        .lines()
        .next()
        .and_then(|l| l.split(" as ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .expect("the smoke account's address")
        .to_owned();
    assert_eq!(accounts_for(&email).await, 0, "{email} is left behind");
}

#[tokio::test]
async fn a_smoke_test_against_nothing_fails_and_says_why() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = tokio::task::spawn_blocking(move || smoke(&["--base-url", &url]))
        .await
        .expect("smoke");
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL  health"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no answer"));
    // And a deployment without a say on confirmation codes is refused up front.
    let refused = smoke(&["--base-url", "https://api.example.com"]);
    assert_eq!(refused.status.code(), Some(2));
}

#[tokio::test]
async fn a_message_the_worker_gives_up_on_is_counted_as_dead_lettered_under_its_correlation_id() {
    let id = correlation_id();
    sqs()
        .await
        .send_message()
        .queue_url(queue_url("NotificationQueue").await)
        .message_body("{\"kind\": \"no delivery at all\"}")
        .message_attributes(
            "correlation_id",
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(&id)
                .build()
                .expect("attribute"),
        )
        .send()
        .await
        .expect("queued");
    // Five receives, 1 + 2 + 4 + 8 s apart: the fifth failure is the last.
    let counted = eventually(|| async {
        metric_lines().iter().any(|(f, l)| {
            f == "notification-delivery"
                && l["Outcome"] == "dead_lettered"
                && l["correlation_id"] == id.as_str()
        })
    })
    .await;
    assert!(counted, "no dead_lettered metric for {id}");
    let counted_once = metric_lines()
        .iter()
        .filter(|(_, l)| l["Outcome"] == "dead_lettered" && l["correlation_id"] == id.as_str())
        .count();
    assert_eq!(counted_once, 1);
}
