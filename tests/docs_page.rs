//! `GET /docs` in a real browser (Debian's Chromium, headless): the page renders
//! the spec with the renderer Gatehouse serves itself, and lists every operation.

use crate::support::*;
use std::process::Command;

/// Chromium as the machine's notes say to run it here: headless, no sandbox
/// (root), and none of its background connections (loopback only). Each run
/// has a profile of its own (runs in parallel must not share one), removed
/// afterwards (several MB each).
pub fn chromium(args: &[&str]) -> std::process::Output {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile = target_dir().join(format!("chromium-profile-{}-{run}", std::process::id()));
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs (make test installs it)");
    let _ = std::fs::remove_dir_all(&profile);
    output
}

#[test]
fn the_docs_page_lists_every_operation_in_a_real_browser() {
    let page = url("/docs");
    let dom = chromium(&["--virtual-time-budget=20000", "--dump-dom", &page]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("swagger-ui"), "the renderer did not run");
    let spec: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(workspace_root().join("openapi.yaml")).expect("openapi.yaml"),
    )
    .expect("YAML");
    let mut operations = 0;
    for (path, item) in spec["paths"].as_mapping().expect("paths") {
        let path = path.as_str().expect("path");
        for (method, operation) in item.as_mapping().expect("path item") {
            let method = method.as_str().expect("method");
            if method == "parameters" {
                continue;
            }
            let id = operation["operationId"].as_str().expect("operationId");
            // Swagger UI gives each operation a block with this id.
            let block = format!("operations-{}-{id}", tag_of(operation));
            assert!(
                dom.contains(&format!("id=\"{block}\"")),
                "{method} {path} ({id}) is not on the page"
            );
            operations += 1;
        }
    }
    assert!(operations >= 10);
    // A picture for people to look at: target/docs-page.png.
    let shot = target_dir().join("docs-page.png");
    let taken = chromium(&[
        "--virtual-time-budget=20000",
        "--window-size=1280,2400",
        &format!("--screenshot={}", shot.display()),
        &page,
    ]);
    assert!(taken.status.success() && shot.exists(), "no screenshot");
}

fn tag_of(operation: &serde_yaml_ng::Value) -> String {
    operation["tags"][0]
        .as_str()
        .unwrap_or("default")
        .replace(' ', "_")
}
