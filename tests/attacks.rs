//! The security review's attacks, each performed through the local stack as an
//! attacker would: with nothing but the public API, a token of their own, or a
//! right they were given. Each test fails on the code before its fix.

use crate::support::*;
use serde_json::{Value, json};

async fn put_roles(token: &str, user: &str, roles: &[&str]) -> Response {
    send(
        http()
            .put(url(&format!("/users/{user}/roles")))
            .bearer_auth(token)
            .json(&json!({"roles": roles})),
    )
    .await
}

#[tokio::test]
async fn a_role_manager_who_is_no_admin_grants_and_removes_only_roles_it_holds() {
    let admin = confirmed_account(ADMIN_EMAILS[19]).await;
    let manager_role = unique_name("rolemgr");
    let policy = unique_name("role-managers");
    let stored = send(
        http()
            .put(url(&format!("/policies/{policy}")))
            .bearer_auth(&admin)
            .json(&json!({
                "policy": format!(r#"permit (principal in Role::"{manager_role}", action == Action::"roles:manage", resource);"#),
                "description": "role managers",
            })),
    )
    .await;
    assert_eq!(stored.status, 201, "{:?}", stored.body);
    let manager = access_token_of(&signed_up_user("role-manager").await.1);
    let manager_id = sub_of(&manager);
    assert_eq!(
        put_roles(&admin, &manager_id, &["user", &manager_role])
            .await
            .status,
        200
    );
    let victim = access_token_of(&signed_up_user("role-victim").await.1);
    let victim_id = sub_of(&victim);
    let elsewhere = unique_name("other-team");
    assert_eq!(
        put_roles(&admin, &victim_id, &["user", &elsewhere])
            .await
            .status,
        200
    );

    // Making itself admin: refused, naming the role, and not with the
    // admin-only message about removing one's own admin role.
    let escalation = put_roles(&manager, &manager_id, &["user", &manager_role, "admin"]).await;
    assert_eq!(escalation.status, 403, "{:?}", escalation.body);
    let detail = escalation.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("admin"), "{detail}");
    assert!(!detail.contains("your own admin role"), "{detail}");
    // Nor anyone else.
    let for_victim = put_roles(&manager, &victim_id, &["user", &elsewhere, "admin"]).await;
    assert_eq!(for_victim.status, 403, "{:?}", for_victim.body);
    // Removing a role it does not hold: refused too.
    let stripped = put_roles(&manager, &victim_id, &["user"]).await;
    assert_eq!(stripped.status, 403, "{:?}", stripped.body);
    assert!(
        stripped.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(&elsewhere)
    );
    // What it holds, it may hand on.
    let handed = put_roles(&manager, &victim_id, &["user", &elsewhere, &manager_role]).await;
    assert_eq!(handed.status, 200, "{:?}", handed.body);
    let roles = send(
        http()
            .get(url(&format!("/users/{manager_id}/roles")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(roles.body["roles"], json!([manager_role, "user"]));

    let removed = send(
        http()
            .delete(url(&format!("/policies/{policy}")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
}

/// Path segments an attacker tries: table keys, case tricks on reserved ids,
/// traversal, encodings, control bytes, oversized input.
fn hostile_ids() -> Vec<String> {
    let mut ids: Vec<String> = [
        "%23VERSION",
        "%23",
        "Builtin-admin",
        "BUILTIN-ADMIN",
        "builtin-admin",
        "a%2Fb",
        "a..b",
        "%00",
        "%0A",
        "%F0%9F%92%A9",
        "%20",
        "'",
        "%22",
        "-1",
        "a_b",
        "a.b",
        "UPPER",
        "%25",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    ids.push("x".repeat(300));
    ids
}

#[tokio::test]
async fn hostile_path_parameters_are_refused_and_never_a_500() {
    let admin = confirmed_account(ADMIN_EMAILS[20]).await;
    let policy =
        json!({"policy": r#"permit (principal, action == Action::"users:read", resource);"#});
    for id in hostile_ids() {
        // Policy and notification ids follow one documented pattern each: a 400.
        let put = send(
            http()
                .put(url(&format!("/policies/{id}")))
                .bearer_auth(&admin)
                .json(&policy),
        )
        .await;
        assert_eq!(put.status, 400, "PUT /policies/{id}: {:?}", put.body);
        assert_eq!(put.body["code"], "validation_failed", "PUT /policies/{id}");
        let delete = send(
            http()
                .delete(url(&format!("/policies/{id}")))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(
            delete.status, 400,
            "DELETE /policies/{id}: {:?}",
            delete.body
        );
        assert_eq!(delete.body["code"], "validation_failed");
        let notification = get_with_token(&format!("/notifications/{id}"), &admin).await;
        assert_eq!(
            notification.status, 400,
            "GET /notifications/{id}: {:?}",
            notification.body
        );
        // A user id that is not one answers as an unknown user (by design:
        // 404, or an empty trail), never a 5xx.
        for (method, path) in [
            ("GET", format!("/users/{id}")),
            ("GET", format!("/users/{id}/roles")),
            ("GET", format!("/users/{id}/events")),
            ("POST", format!("/users/{id}/disable")),
            ("POST", format!("/users/{id}/enable")),
            ("GET", format!("/docs/assets/{id}")),
        ] {
            let request = match method {
                "GET" => http().get(url(&path)),
                _ => http().post(url(&path)),
            };
            let answer = send(request.bearer_auth(&admin)).await;
            assert!(
                answer.status < 500,
                "{method} {path}: {} {:?}",
                answer.status,
                answer.body
            );
        }
        let roles = put_roles(&admin, &id, &["user"]).await;
        assert!(
            roles.status < 500,
            "PUT /users/{id}/roles: {} {:?}",
            roles.status,
            roles.body
        );
    }
}

#[tokio::test]
async fn a_sender_cannot_forge_gatehouses_own_security_notices() {
    let admin = confirmed_account(ADMIN_EMAILS[21]).await;
    let (victim_email, victim) = signed_up_user("forged-notice").await;
    let victim_id = sub_of(&access_token_of(&victim));
    for internal in ["email-changed", "password-changed", "welcome"] {
        let sent = send(
            http()
                .post(url("/notifications"))
                .bearer_auth(&admin)
                .json(&json!({
                    "recipients": [victim_id],
                    "channel": "email",
                    "template": internal,
                    "data": {},
                })),
        )
        .await;
        assert_eq!(sent.status, 400, "{internal}: {:?}", sent.body);
        assert_eq!(sent.body["field"], "template");
        assert!(
            sent.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(internal),
            "{:?}",
            sent.body
        );
    }
    let mail = mail_to(&victim_email).await;
    assert!(
        !mail
            .iter()
            .any(|m| m["subject"] == "Your Gatehouse password was changed"),
        "{mail:?}"
    );
    // A sendable one still goes.
    let sent = send(
        http()
            .post(url("/notifications"))
            .bearer_auth(&admin)
            .json(&json!({
                "recipients": [victim_id],
                "channel": "email",
                "template": "security-alert",
                "data": {"message": "a real notice"},
            })),
    )
    .await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
}

#[tokio::test]
async fn a_domain_refused_at_sign_up_is_refused_as_a_new_email_too() {
    // mailinator.com is in the template's default SignUpDeniedDomains.
    let refused_at_sign_up =
        register(&unique_email("side-door").replace("example.com", "mailinator.com")).await;
    assert_eq!(
        refused_at_sign_up.status, 400,
        "{:?}",
        refused_at_sign_up.body
    );
    let (_, tokens) = signed_up_user("side-door").await;
    let token = access_token_of(&tokens);
    for denied in ["someone@mailinator.com", "Someone@Sub.Mailinator.COM"] {
        let changed = send(
            http()
                .post(url("/users/me/email"))
                .bearer_auth(&token)
                .json(&json!({"new_email": denied, "current_password": PASSWORD})),
        )
        .await;
        assert_eq!(changed.status, 400, "{denied}: {:?}", changed.body);
        assert_eq!(changed.body["field"], "email");
        assert!(
            mail_to(&denied.to_ascii_lowercase()).await.is_empty(),
            "no code goes to {denied}"
        );
    }
}

#[tokio::test]
async fn tags_and_gmail_dots_do_not_make_another_mailbox_for_the_send_limits() {
    let local = unique_name("tagged").replace('-', "");
    // Five codes to one mailbox, each asked for under another form of it.
    let forms = [
        format!("{local}+1@gmail.com"),
        format!("{local}+2@gmail.com"),
        format!("{}.{}@gmail.com", &local[..3], &local[3..]),
        format!("{}+x@googlemail.com", local.to_ascii_uppercase()),
        format!("{local}@gmail.com"),
    ];
    for form in &forms {
        let asked = post("/auth/password/forgot", json!({"email": form})).await;
        assert_eq!(asked.status, 202, "{form}: {:?}", asked.body);
    }
    let sixth = post(
        "/auth/password/forgot",
        json!({"email": format!("{local}+sixth@gmail.com")}),
    )
    .await;
    assert_eq!(sixth.status, 429, "{:?}", sixth.body);
    assert!(sixth.headers.contains_key("retry-after"));
    // Another mailbox is another count.
    let other = post(
        "/auth/password/forgot",
        json!({"email": format!("{local}x@gmail.com")}),
    )
    .await;
    assert_eq!(other.status, 202, "{:?}", other.body);
}

#[tokio::test]
async fn an_admin_address_bootstraps_once_so_a_re_created_account_is_no_admin() {
    let email = ADMIN_EMAILS[22];
    let (tokens, recovery_codes) = enrolled_login(email).await;
    let first = access_token_of(&tokens);
    let me = get_with_token("/users/me", &first).await;
    assert!(
        me.body["roles"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("admin"))),
        "the first confirmation grants admin: {:?}",
        me.body
    );
    // The (demoted, or any) admin deletes the account and signs up again.
    let deleted = send(
        http()
            .delete(url("/users/me"))
            .bearer_auth(&first)
            .json(&json!({"current_password": PASSWORD, "mfa_code": recovery_codes[0]})),
    )
    .await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    // A plain user now: no second factor asked of them.
    let again = access_token_of(&password_login(email).await);
    assert_ne!(sub_of(&again), sub_of(&first), "a new account");
    let me = get_with_token("/users/me", &again).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["roles"], json!(["user"]), "{:?}", me.body);
    let admin_only = get_with_token("/users", &again).await;
    assert_eq!(admin_only.status, 403, "{:?}", admin_only.body);
}

const ATTACKERS_PASSWORD: &str = "Attackers-Own-7";

async fn register_with(email: &str, password: &str) -> Response {
    post(
        "/auth/register",
        json!({"email": email, "password": password}),
    )
    .await
}

async fn login_status(email: &str, password: &str) -> u16 {
    post("/auth/login", json!({"email": email, "password": password}))
        .await
        .status
}

#[tokio::test]
async fn a_pre_registered_admin_address_confirmed_by_its_owner_opens_only_to_the_owners_password() {
    let email = ADMIN_EMAILS[23];
    assert_eq!(register_with(email, ATTACKERS_PASSWORD).await.status, 201);
    // Seconds later the owner signs up, and confirms with the mailed code.
    assert_eq!(register(email).await.status, 201);
    let code = code_from_outbox(email).await;
    // The code alone, with the attacker's password, confirms nothing.
    let with_attackers = post(
        "/auth/confirm",
        json!({"email": email, "code": code, "password": ATTACKERS_PASSWORD}),
    )
    .await;
    assert_eq!(with_attackers.status, 400, "{:?}", with_attackers.body);
    assert_eq!(with_attackers.body["code"], "invalid_code");
    let confirmed = post(
        "/auth/confirm",
        json!({"email": email, "code": code, "password": PASSWORD}),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
    assert_eq!(login_status(email, ATTACKERS_PASSWORD).await, 401);
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    let me = get_with_token("/users/me", &access_token_of(&login.body)).await;
    assert_eq!(me.body["roles"], json!(["admin", "user"]), "{:?}", me.body);
    assert_eq!(accounts_for(email).await, 1);
}

#[tokio::test]
async fn an_unconfirmed_account_confers_nothing_and_its_password_opens_nothing() {
    let email = unique_email("squatted");
    assert_eq!(register_with(&email, ATTACKERS_PASSWORD).await.status, 201);
    assert_eq!(
        login_status(&email, ATTACKERS_PASSWORD).await,
        403,
        "not confirmed"
    );
    // The mailbox's owner, who never signed up, reads the code but cannot use
    // it for the attacker's registration without the attacker's password...
    let code = code_from_outbox(&email).await;
    let refused = post(
        "/auth/confirm",
        json!({"email": email, "code": code, "password": PASSWORD}),
    )
    .await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    // ... and no profile or role exists for it.
    let user = user_id_of(&email).await;
    let items = dynamodb()
        .await
        .query()
        .table_name(TABLE)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{user}")),
        )
        .send()
        .await
        .expect("query")
        .count();
    assert_eq!(
        items, 0,
        "an unconfirmed account has no profile and no role"
    );
}

#[tokio::test]
async fn when_sign_ups_race_the_owner_ends_with_its_own_password() {
    let email = unique_email("raced");
    let (attacker, owner) = tokio::join!(
        register_with(&email, ATTACKERS_PASSWORD),
        register_with(&email, PASSWORD)
    );
    assert_eq!(attacker.status, 201, "{:?}", attacker.body);
    assert_eq!(owner.status, 201, "{:?}", owner.body);
    // The owner confirms with the newest code and its own password; if the
    // attacker's sign-up came last, that code is the attacker's registration
    // and is refused, and the owner signs up again.
    let mut confirmed = 0;
    for _ in 0..3 {
        let code = code_from_outbox(&email).await;
        let answer = post(
            "/auth/confirm",
            json!({"email": email, "code": code, "password": PASSWORD}),
        )
        .await;
        confirmed = answer.status;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.body["code"], "invalid_code", "{:?}", answer.body);
        assert_eq!(register(&email).await.status, 201);
    }
    assert_eq!(confirmed, 200);
    assert_eq!(login_status(&email, ATTACKERS_PASSWORD).await, 401);
    assert_eq!(login_status(&email, PASSWORD).await, 200);
    assert_eq!(accounts_for(&email).await, 1);
}

/// A six-digit code that is not `real`.
fn wrong_code(real: &str) -> &'static str {
    if real == "000000" { "111111" } else { "000000" }
}

#[tokio::test]
async fn guessing_a_reset_code_stops_after_five_from_any_address_and_the_right_code_then_waits() {
    let (email, tokens) = signed_up_user("guessed-reset").await;
    let asked = post("/auth/password/forgot", json!({"email": email})).await;
    assert_eq!(asked.status, 202);
    let code = code_from_outbox(&email).await;
    let reset =
        |code: &str| json!({"email": email, "code": code, "new_password": "Brand-New-Pass-7"});
    for n in 0..5u8 {
        let guess = send(
            from_address(40 + n)
                .post(url("/auth/password/reset"))
                .json(&reset(wrong_code(&code))),
        )
        .await;
        assert_eq!(guess.status, 400, "guess {n}: {:?}", guess.body);
    }
    let sixth = send(
        from_address(50)
            .post(url("/auth/password/reset"))
            .json(&reset(wrong_code(&code))),
    )
    .await;
    assert_eq!(sixth.status, 429, "{:?}", sixth.body);
    assert!(sixth.headers.contains_key("retry-after"));
    let right = post("/auth/password/reset", reset(&code)).await;
    assert_eq!(
        right.status, 429,
        "the right code waits too: {:?}",
        right.body
    );
    assert_eq!(
        login_status(&email, PASSWORD).await,
        200,
        "the password did not change"
    );
    let me = sub_of(&access_token_of(&tokens));
    let trail = get_with_token(&format!("/users/{me}/events"), &access_token_of(&tokens)).await;
    let locked = trail.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "codes_locked")
        .count();
    assert_eq!(locked, 1, "noted once: {:?}", trail.body);
}

#[tokio::test]
async fn guessing_a_confirmation_code_stops_after_five() {
    let email = unique_email("guessed-confirm");
    assert_eq!(register(&email).await.status, 201);
    let code = code_from_outbox(&email).await;
    let confirm = |code: &str| json!({"email": email, "code": code, "password": PASSWORD});
    for n in 0..5u8 {
        let guess = send(
            from_address(60 + n)
                .post(url("/auth/confirm"))
                .json(&confirm(wrong_code(&code))),
        )
        .await;
        assert_eq!(guess.status, 400, "guess {n}: {:?}", guess.body);
    }
    let right = post("/auth/confirm", confirm(&code)).await;
    assert_eq!(right.status, 429, "{:?}", right.body);
    assert!(right.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn guessing_an_email_change_code_stops_after_five_and_is_noted_in_the_trail() {
    let (_, tokens) = signed_up_user("guessed-email").await;
    let token = access_token_of(&tokens);
    let new_email = unique_email("guessed-new");
    let asked = send(
        http()
            .post(url("/users/me/email"))
            .bearer_auth(&token)
            .json(&json!({"new_email": new_email, "current_password": PASSWORD})),
    )
    .await;
    assert_eq!(asked.status, 202, "{:?}", asked.body);
    let code = code_from_outbox(&new_email).await;
    let verify = |code: &'static str| {
        let token = token.clone();
        async move {
            send(
                http()
                    .post(url("/users/me/email/verify"))
                    .bearer_auth(&token)
                    .json(&json!({"code": code})),
            )
            .await
        }
    };
    for n in 0..5 {
        let guess = verify(wrong_code(&code)).await;
        assert_eq!(guess.status, 400, "guess {n}: {:?}", guess.body);
    }
    let sixth = verify(wrong_code(&code)).await;
    assert_eq!(sixth.status, 429, "{:?}", sixth.body);
    let me = sub_of(&token);
    let trail = get_with_token(&format!("/users/{me}/events"), &token).await;
    assert!(
        trail.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["action"] == "codes_locked"),
        "{:?}",
        trail.body
    );
}

/// `gatehouse-ops policies ...` against the main stack's table, with AWS
/// credentials (the emulator's) and no API: whether it succeeded, what it printed.
fn break_glass(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(target_dir().join("debug").join("gatehouse-ops"))
        .arg("policies")
        .args(args)
        .args(["--table", TABLE])
        .env("AWS_ENDPOINT_URL", &stack().moto)
        .env("AWS_ACCESS_KEY_ID", "operator")
        .env("AWS_SECRET_ACCESS_KEY", "operator")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run gatehouse-ops");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn no_policy_change_locks_every_administrator_out_and_break_glass_mends_the_store() {
    let admin = confirmed_account(ADMIN_EMAILS[24]).await;
    let put = |id: String, policy: &'static str| {
        let admin = admin.clone();
        async move {
            send(
                http()
                    .put(url(&format!("/policies/{id}")))
                    .bearer_auth(&admin)
                    .json(&json!({"policy": policy})),
            )
            .await
        }
    };
    for lockout in [
        "forbid (principal, action, resource);",
        r#"forbid (principal, action == Action::"roles:manage", resource);"#,
        r#"forbid (principal in Role::"admin", action == Action::"policies:manage", resource);"#,
    ] {
        let refused = put(unique_name("lockout"), lockout).await;
        assert_eq!(refused.status, 400, "{lockout}: {:?}", refused.body);
        assert_eq!(refused.body["field"], "policy");
        assert!(
            refused.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("manage policies and roles"),
            "{:?}",
            refused.body
        );
    }
    // The break-glass command lists and removes a stored policy without the API.
    let id = unique_name("glass");
    let stored = put(
        id.clone(),
        r#"permit (principal == User::"no-one-break-glass", action == Action::"users:read", resource);"#,
    )
    .await;
    assert_eq!(stored.status, 201, "{:?}", stored.body);
    let (listed, said) = break_glass(&["list"]);
    assert!(listed, "{said}");
    assert!(said.contains(&id), "{said}");
    let (removed, said) = break_glass(&["remove", "--id", &id]);
    assert!(removed, "{said}");
    let (again, _) = break_glass(&["remove", "--id", &id]);
    assert!(!again, "a second removal finds nothing");
    let policies = get_with_token("/policies", &admin).await;
    assert!(
        !policies.body.to_string().contains(&id),
        "{:?}",
        policies.body
    );
}

async fn check_as(token: &str, body: Value) -> Response {
    send(
        http()
            .post(url("/permissions/check"))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn the_check_endpoint_answers_as_the_endpoints_decide_and_takes_no_invented_facts() {
    let admin = confirmed_account(ADMIN_EMAILS[25]).await;
    let admin_id = sub_of(&admin);
    let (_, other) = signed_up_user("checks-other").await;
    let other = access_token_of(&other);
    let other_id = sub_of(&other);
    let sent = send(
        http()
            .post(url("/notifications"))
            .bearer_auth(&admin)
            .json(&json!({
                "recipients": [other_id],
                "channel": "email",
                "template": "security-alert",
                "data": {"message": "m"},
            })),
    )
    .await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    let notification = sent.body["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();

    // The same questions, asked of the endpoints and of the check.
    let questions = [
        (
            &other,
            format!("/notifications/{notification}"),
            "notifications:read",
            json!({"type": "Notification", "id": notification}),
        ),
        (
            &admin,
            format!("/notifications/{notification}"),
            "notifications:read",
            json!({"type": "Notification", "id": notification}),
        ),
        (
            &other,
            format!("/users/{admin_id}"),
            "users:read",
            json!({"type": "User", "id": admin_id}),
        ),
        (
            &admin,
            format!("/users/{other_id}"),
            "users:read",
            json!({"type": "User", "id": other_id}),
        ),
        (
            &other,
            format!("/users/{other_id}/roles"),
            "roles:read",
            json!({"type": "User", "id": other_id}),
        ),
    ];
    for (token, path, action, resource) in &questions {
        let endpoint = get_with_token(path, token).await;
        let check = check_as(token, json!({"action": action, "resource": resource})).await;
        assert_eq!(check.status, 200, "{:?}", check.body);
        assert_eq!(
            check.body["allowed"] == true,
            endpoint.status == 200,
            "{action} on {path}: the endpoint answered {}, the check {:?}",
            endpoint.status,
            check.body
        );
    }

    // Invented facts about a type Gatehouse owns are refused, naming the type.
    for (kind, id) in [
        ("Notification", notification.as_str()),
        ("User", admin_id.as_str()),
    ] {
        let invented = check_as(
            &other,
            json!({
                "action": "notifications:read",
                "resource": {
                    "type": kind,
                    "id": id,
                    "attributes": {"sender": {"__entity": {"type": "User", "id": other_id}}},
                },
            }),
        )
        .await;
        assert_eq!(invented.status, 400, "{kind}: {:?}", invented.body);
        assert!(
            invented.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(kind),
            "{:?}",
            invented.body
        );
    }
}

/// A German mobile number no other test uses.
fn unique_phone() -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("+4915{:09}", (nanos / 10 + n) % 1_000_000_000)
}

async fn ask_sms(token: &str, phone: &str) -> Response {
    send(
        http()
            .post(url("/users/me/phone"))
            .bearer_auth(token)
            .json(&json!({"phone_number": phone})),
    )
    .await
}

fn assert_capped(refused: &Response, what: &str) {
    assert_eq!(refused.status, 429, "{what}: {:?}", refused.body);
    let wait: u64 = refused.headers["retry-after"]
        .to_str()
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(wait > 3600, "{what}: a day's cap waits hours, not {wait} s");
}

#[tokio::test]
async fn sms_goes_only_to_numbers_in_the_allowed_countries() {
    let token = access_token_of(&signed_up_user("sms-country").await.1);
    // A satellite range (a favourite of SMS pumping) is outside the default list.
    let premium = "+881612345678";
    let far = ask_sms(&token, premium).await;
    assert_eq!(far.status, 400, "{:?}", far.body);
    assert_eq!(far.body["code"], "sms_country_not_allowed");
    assert_eq!(far.body["field"], "phone_number");
    assert!(mail_to(premium).await.is_empty(), "nothing texted there");
    let me = get_with_token("/users/me", &token).await;
    assert!(me.body["phone_number"].is_null(), "{:?}", me.body);
}

#[tokio::test]
async fn each_number_and_each_account_get_at_most_five_sms_codes_a_day() {
    let first = access_token_of(&signed_up_user("sms-first").await.1);
    let second = access_token_of(&signed_up_user("sms-second").await.1);
    let third = access_token_of(&signed_up_user("sms-third").await.1);
    // One number: five codes a day, whichever accounts ask.
    let pumped = unique_phone();
    for token in [&first, &first, &first, &second, &second] {
        assert_eq!(ask_sms(token, &pumped).await.status, 202);
    }
    assert_capped(
        &ask_sms(&third, &pumped).await,
        "a sixth code to one number",
    );
    assert_eq!(mail_to(&pumped).await.len(), 5, "five texts, no more");
    // One account: five codes a day, whichever numbers.
    for _ in 0..2 {
        assert_eq!(ask_sms(&first, &unique_phone()).await.status, 202);
    }
    let sixth = unique_phone();
    assert_capped(
        &ask_sms(&first, &sixth).await,
        "a sixth code for one account",
    );
    assert!(mail_to(&sixth).await.is_empty(), "nothing texted for it");
    // The refusals above counted nothing against the third account.
    assert_eq!(ask_sms(&third, &unique_phone()).await.status, 202);
}

#[tokio::test]
async fn cognito_called_with_a_users_own_token_sends_no_code_outside_gatehouses_limits() {
    let (email, tokens) = signed_up_user("sms-direct").await;
    let token = access_token_of(&tokens);
    let phone = unique_phone();
    assert_eq!(ask_sms(&token, &phone).await.status, 202);
    let mails_before = mail_to(&email).await.len();
    let (endpoint, _) = cognito_endpoint_and_client(&token).await;
    for attribute in ["phone_number", "email", "phone_number"] {
        let direct = call_cognito(
            &endpoint,
            "GetUserAttributeVerificationCode",
            json!({"AccessToken": token, "AttributeName": attribute}),
        )
        .await;
        assert_eq!(direct.status, 400, "{attribute}: {:?}", direct.body);
        assert_eq!(direct.body["__type"], "UserLambdaValidationException");
    }
    let texts = mail_to(&phone).await;
    assert_eq!(texts.len(), 1, "only Gatehouse's own code: {texts:?}");
    assert_eq!(mail_to(&email).await.len(), mails_before, "no code mailed");
    // Gatehouse's code still verifies: the refused calls replaced nothing.
    let code = code_in(texts[0]["text"].as_str().expect("text")).expect("a code");
    let verified = send(
        http()
            .post(url("/users/me/phone/verify"))
            .bearer_auth(&token)
            .json(&json!({"code": code})),
    )
    .await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    assert_eq!(verified.body["phone_verified"], true);
}

#[tokio::test]
async fn the_number_marked_verified_is_the_one_the_code_proved_even_after_a_racing_change() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let (_, tokens) = signed_up_user("sms-race").await;
    let token = access_token_of(&tokens);
    let proved = unique_phone();
    assert_eq!(ask_sms(&token, &proved).await.status, 202);
    // What a racing request for another number can leave: the profile names
    // that other number while Cognito (and the code) hold the first.
    let other = unique_phone();
    dynamodb()
        .await
        .update_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(format!("USER#{}", sub_of(&token))))
        .key("sk", AttributeValue::S("PROFILE".into()))
        .update_expression("SET phone_number = :other")
        .expression_attribute_values(":other", AttributeValue::S(other.clone()))
        .send()
        .await
        .expect("the racing write");
    let texts = mail_to(&proved).await;
    let code = code_in(texts[0]["text"].as_str().expect("text")).expect("a code");
    let verified = send(
        http()
            .post(url("/users/me/phone/verify"))
            .bearer_auth(&token)
            .json(&json!({"code": code})),
    )
    .await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    assert_eq!(verified.body["phone_number"], proved.as_str());
    assert_eq!(verified.body["phone_verified"], true);
    assert!(
        mail_to(&other).await.is_empty(),
        "the other number proved nothing"
    );
}
