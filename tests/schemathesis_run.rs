//! The API contract, checked by schemathesis (pinned, `.tools/st`) against a
//! stack of its own: every check in positive and negative modes, the stateful
//! links of openapi.yaml (register -> login -> the token), zero failures. What
//! is relaxed, and why, is in tests/schemathesis/schemathesis.toml.

use crate::support::*;
use serde_json::json;
use std::process::Command;

const OVERRIDES: &str = "SignUpAutoConfirmDomains=autoconfirm.example \
                         SendsPerSourceIp=100000 LoginFailuresPerSourceIp=100000 \
                         ApiThrottlingRateLimit=100000 ApiThrottlingBurstLimit=100000";

#[tokio::test]
async fn schemathesis_finds_no_failure_in_any_mode() {
    let stack = launch(
        &workspace_root().join("template.yaml"),
        &target_dir().join("debug"),
        OVERRIDES,
        "contract",
    )
    .unwrap_or_else(|why| panic!("{why}"));
    let mut users = Vec::new();
    for tag in ["contract", "contract-deletion"] {
        let email = unique_email(tag).replace("@example.com", "@autoconfirm.example");
        let registered = send(
            http()
                .post(format!("{}/auth/register", stack.url))
                .json(&json!({"email": email, "password": PASSWORD})),
        )
        .await;
        assert_eq!(registered.body["confirmed"], true, "{:?}", registered.body);
        users.push(email);
    }

    let dir = workspace_root().join("tests/schemathesis");
    let out = Command::new(tool("st", "st"))
        .current_dir(target_dir())
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &dir)
        .env("GATEHOUSE_URL", &stack.url)
        .env("GATEHOUSE_EMAIL", &users[0])
        .env("GATEHOUSE_DELETION_EMAIL", &users[1])
        .env("GATEHOUSE_PASSWORD", PASSWORD)
        .env("GATEHOUSE_AUTO_CONFIRM_DOMAIN", "autoconfirm.example")
        .arg("--config-file")
        .arg(dir.join("schemathesis.toml"))
        .arg("run")
        .arg(workspace_root().join("openapi.yaml"))
        .args(["--url", &stack.url])
        .args(["--checks", "all"])
        .args(["--mode", "all", "--generation-deterministic", "--no-color"])
        .output()
        .expect("run schemathesis (make test installs it)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The spec's five links (register -> login -> profile, refresh, password
    // change, logout) at least; schemathesis may infer more.
    let covered: usize = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("API Links:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_default();
    assert!(
        covered >= 5,
        "the stateful links were not all followed:\n{report}"
    );
}
