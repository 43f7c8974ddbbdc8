//! The suite's last check (`scripts/check-stack-logs.py`, run by `make test`
//! after the integration tests): a 5xx no test asked for, or a panic, in a local
//! stack's log fails the run and names the request; the stack's own lines are
//! what it reads.

use crate::support::*;
use std::process::Command;

/// The scan over `log`: whether it passed, and what it printed.
fn scan(log: &str) -> (bool, String) {
    let path = target_dir().join(format!(
        "log-scan-{}-{}.log",
        std::process::id(),
        unique_email("scan")
    ));
    std::fs::write(&path, log).expect("write the log");
    let out = Command::new("python3")
        .arg(workspace_root().join("scripts/check-stack-logs.py"))
        .arg(&path)
        .output()
        .expect("run the scan");
    let _ = std::fs::remove_file(&path);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The stack's own request line for a request to a path no route has.
async fn line_for_unrouted_path() -> String {
    let path = format!(
        "/no-such-route-{}",
        unique_email("scan").replace(['@', '.'], "-")
    );
    let response = send(http().get(url(&path))).await;
    assert_eq!(response.status, 404, "{:?}", response.body);
    let log = std::fs::read_to_string(&stack().log).expect("stack log");
    log.lines()
        .find(|l| l.contains(&format!("GET {path} -> ")))
        .map(str::to_owned)
        .expect("the request's line")
}

#[tokio::test]
async fn a_5xx_no_test_asked_for_fails_the_run_naming_the_request() {
    let log = "2026-12-07T13:16:52.222167Z  INFO POST /auth/register -> 500 RegisterFunction (30 ms) request d0c0d695-4e72 \n\
               [register] {\"level\":\"ERROR\",\"api_request_id\":\"d0c0d695-4e72\",\"message\":\"request failed\"}\n";
    let (passed, said) = scan(log);
    assert!(!passed, "{said}");
    assert!(said.contains("POST /auth/register answered 500"), "{said}");
    assert!(
        said.contains("request failed"),
        "the function's own line: {said}"
    );
}

#[tokio::test]
async fn a_panic_fails_the_run() {
    let (passed, said) = scan("[login] thread 'main' panicked at shared/src/x.rs:1:1\n");
    assert!(!passed, "{said}");
}

#[tokio::test]
async fn an_asked_for_5xx_and_a_4xx_pass() {
    let log = "2026-12-07T13:16:52Z  INFO GET /probe/sleep -> 500 ProbeFunction (3001 ms) request abc [asked for]\n\
               2026-12-07T13:16:53Z  INFO GET /users/me -> 401 GetProfileFunction (0 ms) request def \n";
    let (passed, said) = scan(log);
    assert!(passed, "{said}");
}

#[tokio::test]
async fn the_stacks_own_request_lines_are_read() {
    // A 404: the scan must read the line (not pass over a format it lost).
    let line = line_for_unrouted_path().await;
    let (passed, said) = scan(&format!("{line}\n"));
    assert!(passed, "{said}");
    let as_500 = line.replacen(" -> 404 ", " -> 500 ", 1);
    assert_ne!(as_500, line, "a 404 line: {line}");
    let (passed, said) = scan(&format!("{as_500}\n"));
    assert!(!passed, "the same line as a 500 fails: {said}");
}
