//! The sample events in `events/`, delivered to the real binaries through the
//! local stack's Lambda Invoke API, as `cargo lambda invoke` does.

use crate::support::*;
use serde_json::Value;
use std::process::Command;

#[tokio::test]
async fn every_sample_event_is_handled_without_a_function_error_or_5xx() {
    let dir = workspace_root().join("events");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("events/") {
        let path = entry.expect("entry").path();
        let function = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_owned();
        let event: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        let response = http()
            .post(url(&format!(
                "/2015-03-31/functions/{function}/invocations"
            )))
            .json(&event)
            .send()
            .await
            .expect("invoke");
        assert_eq!(
            response.status(),
            200,
            "{function}: the Invoke API answered"
        );
        let failed = response.headers().get("x-amz-function-error").is_some();
        let result: Value = response.json().await.expect("result");
        assert!(!failed, "{function} failed: {result}");
        if let Some(status) = result["statusCode"].as_u64() {
            assert!(status < 500, "{function} answered {status}: {result}");
        }
        checked += 1;
    }
    let functions = std::fs::read_dir(workspace_root().join("functions"))
        .expect("functions/")
        .count();
    assert_eq!(checked, functions, "one sample event per function");
}

#[test]
fn cargo_lambda_invoke_works_against_the_local_stack() {
    let port = stack().url.rsplit(':').next().expect("port").to_owned();
    let out = Command::new(tool("sam", "cargo-lambda"))
        .current_dir(workspace_root())
        .args([
            "lambda",
            "invoke",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port,
        ])
        .args([
            "cognito-custom-message",
            "--data-file",
            "events/cognito-custom-message.json",
        ])
        .output()
        .expect("run cargo lambda invoke");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("the event comes back as JSON");
    assert_eq!(
        result["response"]["emailSubject"],
        "Bestätigen Sie Ihr Gatehouse-Konto"
    );
}
