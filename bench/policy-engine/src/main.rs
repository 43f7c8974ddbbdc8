//! `make bench-policies`: the policy engine alone (no I/O), as a warm Lambda
//! runs it. For each policy-set size, policies about many principals (as a
//! real deployment's grow: per user, per role, with conditions and forbids);
//! each decision asks about one principal. Then the check service end to end
//! over an in-memory store: body parsing, the snapshot, the decision and the
//! answer's JSON, i.e. the handler's own CPU with the policy set warm.
//! Writes `bench/results/policy-engine.md`.

use gatehouse::adapters::memory::InMemoryProfileStore;
use gatehouse::domain::permissions::{PolicyDocument, PolicyEngine, Principal, Question, Resource};
use gatehouse::domain::{Caller, Email, NewProfile, Role, Subject, UserId};
use gatehouse::ports::{PolicyStore, ProfileStore};
use gatehouse::services::Permissions;
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

/// Roles grow with the deployment, as they do: one role per 20 policies, so a
/// role has about 4 policies whatever the size (users have about 1 each).
fn roles_for(n: usize) -> usize {
    (n / 20).max(1)
}

fn policies(n: usize) -> Vec<PolicyDocument> {
    let roles = roles_for(n);
    (0..n)
        .map(|i| {
            let text = match i % 10 {
                // Who may read or edit which document, per role and condition.
                0 | 1 => format!(
                    r#"permit (principal in Role::"r{}", action in [Docs::Action::"read", Docs::Action::"edit"], resource is Docs::Document) when {{ resource.classification == "c{i}" }};"#,
                    i % roles
                ),
                // An edit needs MFA for this user.
                2 => format!(
                    r#"forbid (principal == User::"u{i}", action == Docs::Action::"edit", resource) unless {{ context.mfa }};"#
                ),
                // Grants to one user on one document.
                _ => format!(
                    r#"permit (principal == User::"u{i}", action == Docs::Action::"read", resource == Docs::Document::"d{i}");"#
                ),
            };
            PolicyDocument::submitted(&format!("p{i}"), "", &text).expect("a valid policy")
        })
        .collect()
}

fn user_principal(i: usize, roles: usize) -> Principal {
    let id = UserId::parse(&format!("u{i}")).expect("id");
    let profile = gatehouse::domain::Profile {
        user_id: id.clone(),
        email: Email::parse("bench@example.com").expect("email"),
        display_name: None,
        preferences: Default::default(),
        roles: vec![
            Role::parse("user").expect("role"),
            Role::parse(&format!("r{}", i % roles)).expect("role"),
        ],
        status: gatehouse::domain::UserStatus::Active,
        phone_number: None,
        phone_verified: false,
        mfa: None,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        version: 1,
        pending_email: None,
    };
    Principal::user(id, Some(profile))
}

fn question(i: usize, roles: usize) -> Question {
    Question {
        principal: user_principal(i, roles),
        action: r#"Docs::Action::"read""#.into(),
        resource: Resource::Other {
            kind: "Docs::Document".into(),
            id: format!("d{i}"),
            attributes: json!({
                "owner": {"__entity": {"type": "User", "id": format!("u{i}")}},
                "classification": format!("c{i}"),
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        },
        context: json!({"mfa": true})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    }
}

/// Runs `f` for about `budget`, after a warm-up; the mean time per call.
fn time_per_call(budget: Duration, mut f: impl FnMut(usize)) -> Duration {
    for i in 0..200 {
        f(i);
    }
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed() < budget {
        for _ in 0..100 {
            f(calls);
            calls += 1;
        }
    }
    start.elapsed() / calls as u32
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let budget = Duration::from_secs(2);
    let mut lines = vec![
        "# Policy engine benchmark".to_owned(),
        String::new(),
        format!(
            "`make bench-policies` on {}, {}. Release build; one thread.",
            machine(),
            chrono::Utc::now().format("%Y-%m-%d")
        ),
        String::new(),
        "Stored policies: 20% per role with a condition (one role per 20 policies), 10% per-user forbids, 70% per-user grants on one document; plus the built-ins. Each decision asks about one of 100 principals spread over the set.".into(),
        String::new(),
        "| stored policies | compile the set | per decision | decisions per second |".into(),
        "|---:|---:|---:|---:|".into(),
    ];
    for n in SIZES {
        let docs = policies(n);
        let compiling = Instant::now();
        let engine = PolicyEngine::new(&docs).expect("engine");
        let compiled = compiling.elapsed();
        // 100 principals spread over the set (a prime stride, so every kind
        // of policy is about some of them).
        let questions: Vec<Question> = (0..100)
            .map(|k| question((k * 7_919) % n, roles_for(n)))
            .collect();
        let per = time_per_call(budget, |i| {
            black_box(
                engine
                    .decide(&questions[i % questions.len()])
                    .expect("decision"),
            );
        });
        let line = format!(
            "| {n} | {:.1} ms | {:.1} µs | {:.0} |",
            compiled.as_secs_f64() * 1e3,
            per.as_secs_f64() * 1e6,
            1.0 / per.as_secs_f64()
        );
        println!("{line}");
        lines.push(line);
    }

    // The check service over an in-memory store, warm: what the handler spends
    // besides the one BatchGetItem.
    let store = Arc::new(InMemoryProfileStore::default());
    let user = UserId::parse(&uuid::Uuid::new_v4().to_string()).expect("id");
    store
        .create_profile(&NewProfile {
            user_id: user.clone(),
            email: Email::parse("bench@example.com").expect("email"),
            display_name: None,
            roles: vec![Role::parse("user").expect("role")],
            admin_grant: false,
            created_at: chrono::Utc::now(),
        })
        .await
        .expect("profile");
    for doc in policies(1_000) {
        store.put_policy(&doc).await.expect("stored");
    }
    let permissions = Permissions::new(store.clone());
    let subject = Subject::User(Caller {
        user_id: user.clone(),
        username: user.as_str().to_owned(),
        groups: vec![],
        issued_at: chrono::Utc::now().timestamp(),
        access_token: gatehouse::domain::AccessToken::parse("eyJ.bench.token").expect("token"),
        session_id: None,
    });
    let body = json!({"action": "users:read", "resource": {"type": "User", "id": user.as_str()}})
        .to_string();
    let mut total = Duration::ZERO;
    let mut calls = 0u32;
    let start = Instant::now();
    while start.elapsed() < budget {
        let began = Instant::now();
        let check: gatehouse::http::bodies::CheckBody = serde_json::from_str(&body).expect("body");
        let decision = permissions
            .check(&subject, &check.parse().expect("a check"))
            .await
            .expect("decision");
        black_box(serde_json::to_string(&decision).expect("answer"));
        total += began.elapsed();
        calls += 1;
    }
    let per = total / calls;
    let line = format!(
        "\nThe check service per request, 1,000 stored policies warm, in-memory store (so no network): {:.1} µs.",
        per.as_secs_f64() * 1e6
    );
    println!("{line}");
    lines.push(line);
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/policy-engine.md");
    std::fs::write(&out, lines.join("\n") + "\n").expect("write the results");
    println!("wrote {}", out.display());
}
