//! AWS failing mid-run, on stacks of their own (an outage must not touch the
//! other tests): every endpoint answers 503 problem JSON with `Retry-After`, no
//! half-done write is left, and everything works once AWS is back; an AWS that
//! hangs (accepts and never answers) hangs nothing that does not need it.

use crate::support::*;
use serde_json::{Value, json};

struct At<'a>(&'a Stack);

impl At<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0.url)
    }

    async fn post(&self, path: &str, body: Value) -> Response {
        send(http().post(self.url(path)).json(&body)).await
    }

    async fn me(&self, token: &str) -> Response {
        send(http().get(self.url("/users/me")).bearer_auth(token)).await
    }

    async fn outage(&self, down: bool) {
        let switched = self.post("/_local/aws/outage", json!({"down": down})).await;
        assert_eq!(switched.status, 200, "{:?}", switched.body);
    }

    async fn code_for(&self, email: &str) -> String {
        let outbox = send(http().get(self.url("/_local/outbox"))).await;
        let text = outbox
            .body
            .as_array()
            .and_then(|all| all.iter().rev().find(|m| m["to"] == email))
            .and_then(|m| m["text"].as_str())
            .expect("a code was mailed")
            .to_owned();
        text.split(|c: char| !c.is_ascii_digit())
            .find(|run| run.len() == 6)
            .expect("a code")
            .to_owned()
    }

    async fn login(&self, email: &str) -> Response {
        self.post("/auth/login", json!({"email": email, "password": PASSWORD}))
            .await
    }

    /// Registers `email`, confirms it and logs in: the login's answer.
    async fn signed_up(&self, email: &str) -> Response {
        let registered = self
            .post(
                "/auth/register",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(registered.status, 201, "{:?}", registered.body);
        let code = self.code_for(email).await;
        let confirmed = self
            .post(
                "/auth/confirm",
                json!({"email": email, "code": code, "password": PASSWORD}),
            )
            .await;
        assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
        let login = self.login(email).await;
        assert_eq!(login.status, 200, "{:?}", login.body);
        login
    }
}

#[tokio::test]
async fn with_aws_down_every_endpoint_is_a_503_and_all_works_once_it_is_back() {
    let stack = launch(
        &workspace_root().join("template.yaml"),
        &target_dir().join("debug"),
        "",
        "faults",
    )
    .unwrap_or_else(|why| panic!("{why}"));
    let at = At(&stack);
    let email = unique_email("outage");
    let login = at.signed_up(&email).await;
    let token = login.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let refresh = login.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();

    at.outage(true).await;
    // The health check says which dependencies are gone, as JSON (not a
    // problem): its first probe is during the outage, so nothing cached hides it.
    let health = send(http().get(at.url("/health"))).await;
    let newcomer = unique_email("during-outage");
    let during = [
        (
            "register",
            at.post(
                "/auth/register",
                json!({"email": newcomer, "password": PASSWORD}),
            )
            .await,
        ),
        ("login", at.login(&email).await),
        ("profile", at.me(&token).await),
        (
            "refresh",
            at.post("/auth/refresh", json!({"refresh_token": refresh}))
                .await,
        ),
        (
            "forgot",
            at.post("/auth/password/forgot", json!({"email": email}))
                .await,
        ),
        (
            "logout",
            send(http().post(at.url("/auth/logout")).bearer_auth(&token)).await,
        ),
    ];
    at.outage(false).await;
    for (what, answer) in &during {
        assert_eq!(answer.status, 503, "{what}: {:?}", answer.body);
        assert_eq!(
            answer.headers["content-type"], "application/problem+json",
            "{what}"
        );
        assert_eq!(answer.body["code"], "unavailable", "{what}");
        assert!(answer.headers.contains_key("retry-after"), "{what}");
    }

    assert_eq!(health.status, 503, "{:?}", health.body);
    assert_eq!(health.body["status"], "degraded");
    for dependency in ["table", "identity", "queue"] {
        assert_eq!(
            health.body["dependencies"][dependency], "unavailable",
            "{dependency}"
        );
    }
    // The health report is reused for 5 s, so the first polls may still say 503.
    let healthy_again = eventually(|| async {
        let health = send(
            http()
                .get(at.url("/health"))
                .header(EXPECT_ERROR_HEADER, "the report of the outage may linger"),
        )
        .await;
        (health.status == 200, health.body)
    })
    .await;
    assert!(healthy_again, "health stays 503 once AWS is back");

    // Back: nothing half-done stands in the way.
    let again = at
        .post(
            "/auth/register",
            json!({"email": newcomer, "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert_eq!(
        at.post(
            "/auth/confirm",
            json!({"email": newcomer, "code": at.code_for(&newcomer).await, "password": PASSWORD})
        )
        .await
        .status,
        200,
        "the registration made during the outage left nothing behind"
    );
    assert_eq!(at.me(&token).await.status, 200);
    assert_eq!(at.login(&email).await.status, 200, "no failure was counted");
}

#[tokio::test]
async fn with_ses_failing_the_circuit_opens_nothing_is_lost_and_all_are_sent_once_it_is_back() {
    let admin_email = "breaker-admin@example.com";
    let stack = launch(
        &workspace_root().join("template.yaml"),
        &target_dir().join("debug"),
        &format!(
            // The breaker is the subject here, not the admin's second factor.
            "AdminEmails={admin_email} MfaRequiredRoles= NotificationBreakerCooldownSeconds=2 SendsPerSourceIp=100000 \
             LoginFailuresPerSourceIp=100000 ApiThrottlingRateLimit=100000 ApiThrottlingBurstLimit=100000"
        ),
        "breaker",
    )
    .unwrap_or_else(|why| panic!("{why}"));
    let at = At(&stack);
    let signed_up = |email: String| {
        let at = &at;
        async move {
            assert_eq!(
                at.post(
                    "/auth/register",
                    json!({"email": email, "password": PASSWORD})
                )
                .await
                .status,
                201
            );
            let code = at.code_for(&email).await;
            assert_eq!(
                at.post(
                    "/auth/confirm",
                    json!({"email": email, "code": code, "password": PASSWORD})
                )
                .await
                .status,
                200
            );
            let login = at.login(&email).await;
            assert_eq!(login.status, 200, "{:?}", login.body);
            login.body["access_token"]
                .as_str()
                .expect("token")
                .to_owned()
        }
    };
    let admin = signed_up(admin_email.to_owned()).await;
    let mut users = Vec::new();
    for i in 0..6 {
        let email = unique_email(&format!("breaker{i}"));
        let token = signed_up(email.clone()).await;
        users.push((
            email,
            claims_of(&token)["sub"].as_str().expect("sub").to_owned(),
        ));
    }
    let failing = at
        .post(
            "/_local/aws/outage",
            json!({"down": true, "services": ["ses"]}),
        )
        .await;
    assert_eq!(failing.status, 200, "{:?}", failing.body);
    let sent = send(
        http()
            .post(at.url("/notifications"))
            .bearer_auth(&admin)
            .json(&json!({
                "recipients": users.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>(),
                "channel": "email",
                "template": "security-alert",
                "data": {"message": "breaker"},
            })),
    )
    .await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    let id = sent.body["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let log = || std::fs::read_to_string(&stack.log).unwrap_or_default();
    assert!(
        eventually(|| async { log().contains("provider circuit opened") }).await,
        "the worker stops calling SES"
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let status = |at: &At<'_>| {
        let url = at.url(&format!("/notifications/{id}"));
        let admin = admin.clone();
        async move { send(http().get(url).bearer_auth(admin)).await.body }
    };
    let during = status(&at).await;
    assert_eq!(during["counts"]["sent"], 0, "{during:?}");
    assert_eq!(
        during["counts"]["failed"], 0,
        "nothing given up on: {during:?}"
    );
    let back = at
        .post(
            "/_local/aws/outage",
            json!({"down": false, "services": ["ses"]}),
        )
        .await;
    assert_eq!(back.status, 200);
    assert!(
        eventually(|| async { status(&at).await["status"] == "done" }).await,
        "every delivery ends once SES is back: {:?}",
        status(&at).await
    );
    assert_eq!(
        status(&at).await["counts"],
        json!({"queued": 0, "sent": 6, "suppressed": 0, "failed": 0})
    );
    let outbox = send(http().get(at.url("/_local/outbox"))).await.body;
    for (email, _) in &users {
        let mine = outbox
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["to"] == email.as_str() && m["subject"] == "Gatehouse security notice")
            .count();
        assert_eq!(mine, 1, "{email} gets it once");
    }
    let queues = send(http().get(at.url("/_local/queues"))).await.body;
    let dead = queues
        .as_array()
        .into_iter()
        .flatten()
        .find(|q| q["logical_id"] == "NotificationDeadLetterQueue")
        .expect("the DLQ");
    assert_eq!(dead["visible"], 0, "nothing dead-lettered: {queues:?}");
}

/// The request `send` makes, but a hang is a failure of its own (the stack's
/// API Gateway would answer a 503 of its own after 30 s; this says more).
async fn within(seconds: u64, request: reqwest::RequestBuilder, what: &str) -> Response {
    tokio::time::timeout(std::time::Duration::from_secs(seconds), send(request))
        .await
        .unwrap_or_else(|_| panic!("{what} hung past {seconds} s while AWS was frozen"))
}

/// Resumes moto when the test ends, even one that failed while it was frozen.
struct Thaw<'a>(&'a Stack);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        let url = format!("{}/_local/aws/outage", self.0.url);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let _ = http()
                    .post(url)
                    .json(&json!({"down": false, "mode": "hung"}))
                    .send()
                    .await;
            });
        })
        .join();
    }
}

#[tokio::test]
async fn with_aws_frozen_nothing_hangs_and_all_works_once_it_resumes() {
    let stack = launch(
        &workspace_root().join("template.yaml"),
        &target_dir().join("debug"),
        "",
        "frozen",
    )
    .unwrap_or_else(|why| panic!("{why}"));
    let at = At(&stack);
    let email = unique_email("frozen");
    let login = at.signed_up(&email).await;
    let token = login.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // moto itself stops: connections are accepted and never answered.
    let frozen = at
        .post("/_local/aws/outage", json!({"down": true, "mode": "hung"}))
        .await;
    assert_eq!(frozen.status, 200, "{:?}", frozen.body);
    let thaw = Thaw(&stack);

    // What needs no AWS answers as before: the docs page, and the authorizer.
    let docs = within(10, http().get(at.url("/docs")), "GET /docs").await;
    assert_eq!(docs.status, 200);
    let anonymous = within(10, http().get(at.url("/users/me")), "the authorizer").await;
    assert_eq!(anonymous.status, 401);
    // A key id the pool never had sends the authorizer to the JWKS, which
    // moto serves: it gives up on it and refuses the token.
    let unknown_key = "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vdC1hLWtleSJ9.eyJzdWIiOiJ4In0.c2ln";
    let forged = within(
        10,
        http().get(at.url("/users/me")).bearer_auth(unknown_key),
        "the authorizer with an unknown key id",
    )
    .await;
    assert_eq!(forged.status, 401);
    // What needs AWS gives up within its SDK timeouts: a 503 the caller may
    // retry, not API Gateway's own 503 after 30 s and not a 500.
    let needs_aws = [
        (
            "profile",
            within(
                25,
                http().get(at.url("/users/me")).bearer_auth(&token),
                "GET /users/me",
            )
            .await,
        ),
        (
            "login",
            within(
                25,
                http()
                    .post(at.url("/auth/login"))
                    .json(&json!({"email": email, "password": PASSWORD})),
                "POST /auth/login",
            )
            .await,
        ),
        (
            "register",
            within(
                25,
                http()
                    .post(at.url("/auth/register"))
                    .json(&json!({"email": unique_email("while-frozen"), "password": PASSWORD})),
                "POST /auth/register",
            )
            .await,
        ),
    ];
    for (what, answer) in &needs_aws {
        assert_eq!(answer.status, 503, "{what}: {:?}", answer.body);
        assert_eq!(
            answer.headers["content-type"], "application/problem+json",
            "{what}: the function's own answer, not API Gateway's"
        );
        assert_eq!(answer.body["code"], "unavailable", "{what}");
        assert!(answer.headers.contains_key("retry-after"), "{what}");
    }

    drop(thaw);
    let profile_again = eventually(|| async {
        let profile = send(http().get(at.url("/users/me")).bearer_auth(&token).header(
            EXPECT_ERROR_HEADER,
            "calls queued while frozen may still drain",
        ))
        .await;
        (profile.status == 200, (profile.status, profile.body))
    })
    .await;
    assert!(profile_again, "the profile answers again once AWS resumes");
    assert_eq!(at.login(&email).await.status, 200);
}
