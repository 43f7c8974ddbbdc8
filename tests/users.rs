//! Reading and administering other users through the local stack: the access
//! rule, the first administrator from `AdminEmails`, disable and enable.

use crate::support::*;
use serde_json::{Value, json};

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("access token")
}

fn user_id(tokens: &Value) -> String {
    claims_of(access(tokens))["sub"]
        .as_str()
        .expect("sub")
        .to_owned()
}

async fn admin_action(token: &str, target: &str, action: &str) -> Response {
    send(
        http()
            .post(url(&format!("/users/{target}/{action}")))
            .bearer_auth(token),
    )
    .await
}

const NOBODY: &str = "99999999-2222-4333-8444-555555555555";

#[tokio::test]
async fn an_address_in_admin_emails_becomes_admin_and_reads_anyone() {
    let admin = confirmed_login(ADMIN_EMAILS[0]).await;
    let me = get_with_token("/users/me", access(&admin)).await;
    assert_eq!(me.body["roles"], json!(["admin", "user"]));
    let (_, user) = signed_up_user("readable").await;
    let read = get_with_token(&format!("/users/{}", user_id(&user)), access(&admin)).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.body["user_id"], user_id(&user));
    assert_eq!(
        get_with_token(&format!("/users/{NOBODY}"), access(&admin))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_user_reads_only_themself_and_cannot_tell_which_ids_exist() {
    let (_, alice) = signed_up_user("alice").await;
    let (_, bob) = signed_up_user("bob").await;
    let own = get_with_token(&format!("/users/{}", user_id(&alice)), access(&alice)).await;
    assert_eq!(own.status, 200);
    assert_eq!(own.body["roles"], json!(["user"]));
    let known = get_with_token(&format!("/users/{}", user_id(&bob)), access(&alice)).await;
    let unknown = get_with_token(&format!("/users/{NOBODY}"), access(&alice)).await;
    assert_eq!(known.status, 403);
    assert_eq!(known.body, unknown.body);
    for action in ["disable", "enable"] {
        let refused = admin_action(access(&alice), &user_id(&bob), action).await;
        assert_eq!(refused.status, 403, "{action}");
    }
    assert_eq!(
        get_with_token("/users/me", access(&bob)).await.status,
        200,
        "bob is untouched"
    );
}

#[tokio::test]
async fn a_disabled_user_is_out_at_once_and_back_once_enabled() {
    let admin = confirmed_login(ADMIN_EMAILS[1]).await;
    let (email, user) = signed_up_user("disabled").await;
    let target = user_id(&user);
    let disabled = admin_action(access(&admin), &target, "disable").await;
    assert_eq!(disabled.status, 204, "{:?}", disabled.body);
    assert_eq!(
        get_with_token("/users/me", access(&user)).await.status,
        401,
        "the old access token is refused at once"
    );
    let refresh = post(
        "/auth/refresh",
        json!({"refresh_token": user["refresh_token"]}),
    )
    .await;
    assert_eq!(refresh.status, 401, "refresh is refused");
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 401, "login is refused");
    let seen = get_with_token(&format!("/users/{target}"), access(&admin)).await;
    assert_eq!(seen.body["status"], "disabled");
    assert_eq!(
        admin_action(access(&admin), &target, "disable")
            .await
            .status,
        204,
        "disabling again is harmless"
    );

    assert_eq!(
        admin_action(access(&admin), &target, "enable").await.status,
        204
    );
    let back = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(back.status, 200, "{:?}", back.body);
    let seen = get_with_token(&format!("/users/{target}"), access(&admin)).await;
    assert_eq!(seen.body["status"], "active");
}

#[tokio::test]
async fn an_admin_cannot_disable_themself_nor_an_unknown_user() {
    let admin = confirmed_login(ADMIN_EMAILS[2]).await;
    let own = admin_action(access(&admin), &user_id(&admin), "disable").await;
    assert_eq!(own.status, 400, "{:?}", own.body);
    let unknown = admin_action(access(&admin), NOBODY, "disable").await;
    assert_eq!(unknown.status, 404, "{:?}", unknown.body);
}

async fn delete_me(token: &str, password: &str) -> Response {
    send(
        http()
            .delete(url("/users/me"))
            .bearer_auth(token)
            .json(&json!({"current_password": password})),
    )
    .await
}

#[tokio::test]
async fn deleting_an_account_needs_its_password_and_leaves_nothing() {
    let (email, tokens) = signed_up_user("delete").await;
    let token = access(&tokens);
    let id = user_id(&tokens);
    let wrong = delete_me(token, "Wrong-Password-1").await;
    assert_eq!(wrong.status, 401, "{:?}", wrong.body);
    assert_eq!(
        get_with_token("/users/me", token).await.status,
        200,
        "nothing deleted"
    );

    let deleted = delete_me(token, PASSWORD).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    assert_eq!(get_with_token("/users/me", token).await.status, 401);
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 401, "the Cognito user is gone");
    assert_eq!(accounts_for(&email).await, 0);
    let refresh = post(
        "/auth/refresh",
        json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await;
    assert_eq!(refresh.status, 401);
    let items = dynamodb()
        .await
        .query()
        .table_name(TABLE)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{id}")),
        )
        .send()
        .await
        .expect("query")
        .items
        .unwrap_or_default();
    assert!(
        items
            .iter()
            .all(|i| i["sk"].as_s().ok().map(String::as_str) == Some("SESSION")),
        "only the session cut-off stays: {items:?}"
    );
    let again = delete_me(token, PASSWORD).await;
    assert_eq!(again.status, 401, "a second delete is harmless");
    // The address is free again.
    assert_eq!(register(&email).await.status, 201);
}

/// A confirmed user with a profile at `email` (auto-confirmed, then read once,
/// which creates the profile as it would for any auto-confirmed sign-up).
async fn profiled(email: String) {
    assert_eq!(register(&email).await.status, 201);
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(
        get_with_token("/users/me", access(&login.body))
            .await
            .status,
        200
    );
}

async fn list(token: &str, query: &str) -> Response {
    get_with_token(&format!("/users?{query}"), token).await
}

#[tokio::test]
async fn an_admin_pages_through_55_users_without_gap_or_duplicate() {
    let admin = confirmed_login(ADMIN_EMAILS[3]).await;
    let prefix = format!(
        "lst{}x",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let mut set = tokio::task::JoinSet::new();
    for n in 0..55 {
        set.spawn(profiled(format!("{prefix}{n:02}@{AUTO_CONFIRM_DOMAIN}")));
    }
    set.join_all().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=20&email_prefix={prefix}&cursor={c}"),
            None => format!("limit=20&email_prefix={prefix}"),
        };
        let page = list(access(&admin), &query).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        for item in page.body["items"].as_array().expect("items") {
            seen.push(item["email"].as_str().expect("email").to_owned());
        }
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "the pages never end");
    }
    let expected: Vec<String> = (0..55)
        .map(|n| format!("{prefix}{n:02}@{AUTO_CONFIRM_DOMAIN}"))
        .collect();
    assert_eq!(seen, expected, "every user once, in email order");
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn a_tampered_or_foreign_cursor_is_a_400_and_non_admins_get_403() {
    let admin = confirmed_login(ADMIN_EMAILS[4]).await;
    let first = list(access(&admin), "limit=1").await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("more than one user exists")
        .to_owned();
    assert_eq!(
        list(access(&admin), &format!("limit=1&cursor={cursor}"))
            .await
            .status,
        200
    );
    let (payload, signature) = cursor.split_once('.').expect("payload.signature");
    let mut forged = payload.as_bytes().to_vec();
    forged[3] ^= 1;
    let tampered = format!("{}.{signature}", String::from_utf8_lossy(&forged));
    for (what, query) in [
        ("tampered", format!("limit=1&cursor={tampered}")),
        (
            "foreign",
            format!("limit=1&status=disabled&cursor={cursor}"),
        ),
        ("garbage", "limit=1&cursor=not-a-cursor".to_owned()),
        ("bad limit", "limit=1000".to_owned()),
    ] {
        let refused = list(access(&admin), &query).await;
        assert_eq!(refused.status, 400, "{what}: {:?}", refused.body);
    }
    let (_, user) = signed_up_user("lister").await;
    assert_eq!(list(access(&user), "limit=5").await.status, 403);
}

async fn events_of(token: &str, user: &str) -> Response {
    get_with_token(&format!("/users/{user}/events"), token).await
}

fn actions(page: &Response) -> Vec<String> {
    page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

#[tokio::test]
async fn the_audit_trail_records_each_flow_newest_first() {
    let email = unique_email("audited");
    let tokens = confirmed_login(&email).await;
    let id = user_id(&tokens);
    let wrong = post(
        "/auth/login",
        json!({"email": email, "password": "Wrong-Password-1"}),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let changed = send(
        http()
            .post(url("/auth/password/change"))
            .bearer_auth(access(&tokens))
            .header("user-agent", "audit-test/1")
            .json(&json!({"current_password": PASSWORD, "new_password": "Another-Horse-7"})),
    )
    .await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    let login = post(
        "/auth/login",
        json!({"email": email, "password": "Another-Horse-7"}),
    )
    .await;
    let fresh = access(&login.body).to_owned();
    let logout = send(http().post(url("/auth/logout")).bearer_auth(&fresh)).await;
    assert_eq!(logout.status, 204);
    let login = post(
        "/auth/login",
        json!({"email": email, "password": "Another-Horse-7"}),
    )
    .await;
    let token = access(&login.body).to_owned();

    let page = events_of(&token, &id).await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    assert_eq!(
        actions(&page),
        [
            "login_succeeded",
            "logged_out",
            "login_succeeded",
            "password_changed",
            "login_failed",
            "login_succeeded",
            "confirmed",
            "signed_up",
        ]
    );
    let change = &page.body["items"][3];
    assert_eq!(change["source_ip"], "127.0.0.1");
    assert_eq!(change["user_agent"], "audit-test/1");
    assert!(change.get("actor").is_none(), "the user did it");

    let (_, other) = signed_up_user("not-an-auditor").await;
    assert_eq!(events_of(access(&other), &id).await.status, 403);
}

#[tokio::test]
async fn an_admins_actions_are_in_the_trail_with_the_admin_as_actor() {
    let admin = confirmed_login(ADMIN_EMAILS[5]).await;
    let (_, user) = signed_up_user("administered").await;
    let target = user_id(&user);
    assert_eq!(
        admin_action(access(&admin), &target, "disable")
            .await
            .status,
        204
    );
    assert_eq!(
        admin_action(access(&admin), &target, "enable").await.status,
        204
    );
    let page = events_of(access(&admin), &target).await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    assert_eq!(actions(&page)[..2], ["enabled", "disabled"]);
    assert_eq!(page.body["items"][0]["actor"], user_id(&admin));
}

async fn as_user(token: &str, path: &str, body: Value) -> Response {
    send(http().post(url(path)).bearer_auth(token).json(&body)).await
}

#[tokio::test]
async fn an_email_changes_only_once_the_new_address_confirms_it() {
    let (old, tokens) = signed_up_user("moving").await;
    let token = access(&tokens).to_owned();
    let new = unique_email("moved");
    // A stolen token alone does not move the account: the password is needed.
    let without = as_user(&token, "/users/me/email", json!({"new_email": new})).await;
    assert_eq!(without.status, 400, "{:?}", without.body);
    let wrong = as_user(
        &token,
        "/users/me/email",
        json!({"new_email": new, "current_password": "Wrong-Password-1"}),
    )
    .await;
    assert_eq!(wrong.status, 401, "{:?}", wrong.body);
    assert!(
        mail_to(&new).await.is_empty(),
        "nothing sent on a wrong password"
    );
    let asked = as_user(
        &token,
        "/users/me/email",
        json!({"new_email": new, "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(asked.status, 202, "{:?}", asked.body);
    let mail = mail_to(&new).await;
    assert_eq!(mail.len(), 1, "a code went to the new address");
    assert_eq!(
        mail[0]["subject"],
        "Confirm your new Gatehouse email address"
    );
    // Until the code is entered, nothing has moved.
    assert_eq!(
        post("/auth/login", json!({"email": old, "password": PASSWORD}))
            .await
            .status,
        200
    );
    assert_eq!(
        post("/auth/login", json!({"email": new, "password": PASSWORD}))
            .await
            .status,
        401
    );
    assert_eq!(get_with_token("/users/me", &token).await.body["email"], old);

    let wrong = as_user(&token, "/users/me/email/verify", json!({"code": "000000"})).await;
    assert_eq!(wrong.status, 400, "{:?}", wrong.body);
    let code = code_from_outbox(&new).await;
    let verified = as_user(&token, "/users/me/email/verify", json!({"code": code})).await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    assert_eq!(verified.body["email"], new);
    assert_eq!(
        get_with_token("/users/me", &token).await.status,
        401,
        "every session ended with the change"
    );
    let login = post("/auth/login", json!({"email": new, "password": PASSWORD})).await;
    assert_eq!(login.status, 200, "the new address is the login");
    assert_eq!(
        post("/auth/login", json!({"email": old, "password": PASSWORD}))
            .await
            .status,
        401,
        "the old one is not"
    );
    let trail = events_of(access(&login.body), &user_id(&tokens)).await;
    assert_eq!(actions(&trail)[..2], ["login_succeeded", "email_changed"]);
    // The old address hears of it, in case its owner did not do this.
    let told = eventually(|| async {
        mail_to(&old).await.iter().any(|m| {
            m["subject"] == "The email address of your Gatehouse account was changed"
                && m["text"].as_str().unwrap_or_default().contains(&old)
        })
    })
    .await;
    assert!(told, "a notice to the old address");
    assert!(
        mail_to(&new)
            .await
            .iter()
            .all(|m| m["subject"] != "The email address of your Gatehouse account was changed"),
        "not to the new one"
    );
}

#[tokio::test]
async fn an_address_in_use_gets_the_same_answer_and_nothing_changes() {
    let (taken, _) = signed_up_user("already-there").await;
    let (mine, tokens) = signed_up_user("wants-theirs").await;
    let token = access(&tokens);
    let free = as_user(
        token,
        "/users/me/email",
        json!({"new_email": unique_email("free"), "current_password": PASSWORD}),
    )
    .await;
    let mails_before = mail_to(&taken).await.len();
    let in_use = as_user(
        token,
        "/users/me/email",
        json!({"new_email": taken, "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(free.status, 202, "{:?}", free.body);
    assert_eq!(in_use.status, free.status);
    assert_eq!(in_use.body, free.body);
    assert_eq!(
        mail_to(&taken).await.len(),
        mails_before,
        "nothing sent there"
    );
    assert_eq!(get_with_token("/users/me", token).await.body["email"], mine);
    assert_eq!(
        post("/auth/login", json!({"email": taken, "password": PASSWORD}))
            .await
            .status,
        200,
        "the other account is untouched"
    );
}

#[tokio::test]
async fn a_phone_number_is_verified_with_the_code_sent_to_it_by_sms() {
    let (_, tokens) = signed_up_user("phone").await;
    let token = access(&tokens).to_owned();
    let bad = as_user(
        &token,
        "/users/me/phone",
        json!({"phone_number": "030 123456"}),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["field"], "phone_number");
    let phone = format!(
        "+4915{:09}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
    );
    let asked = as_user(&token, "/users/me/phone", json!({"phone_number": phone})).await;
    assert_eq!(asked.status, 202, "{:?}", asked.body);
    let me = get_with_token("/users/me", &token).await;
    assert_eq!(me.body["phone_number"], phone);
    assert_eq!(me.body["phone_verified"], false, "not before the code");
    let sms = mail_to(&phone).await;
    assert_eq!(sms.len(), 1, "one SMS in the outbox");
    assert_eq!(sms[0]["channel"], "sms");
    let text = sms[0]["text"].as_str().expect("text");
    assert!(text.contains("verify this phone number"), "{text}");
    let code = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .expect("a code in the SMS")
        .to_owned();
    let wrong = as_user(&token, "/users/me/phone/verify", json!({"code": "000000"})).await;
    assert_eq!(wrong.status, 400);
    let verified = as_user(&token, "/users/me/phone/verify", json!({"code": code})).await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    assert_eq!(verified.body["phone_verified"], true);
    let trail = events_of(&token, &user_id(&tokens)).await;
    assert_eq!(actions(&trail)[0], "phone_changed");
}

#[tokio::test]
async fn a_profile_whose_cognito_user_was_deleted_directly_is_cleaned_up_when_touched() {
    let admin = confirmed_login(ADMIN_EMAILS[6]).await;
    let (email, user) = signed_up_user("orphaned").await;
    let target = user_id(&user);
    delete_in_cognito(&email).await;
    let seen = get_with_token(&format!("/users/{target}"), access(&admin)).await;
    assert_eq!(seen.status, 200, "the profile outlived its Cognito user");
    let disabled = admin_action(access(&admin), &target, "disable").await;
    assert_eq!(disabled.status, 404, "{:?}", disabled.body);
    assert_eq!(
        get_with_token(&format!("/users/{target}"), access(&admin))
            .await
            .status,
        404,
        "touching it cleaned it up"
    );
}

async fn put_roles(token: &str, target: &str, roles: Value) -> Response {
    send(
        http()
            .put(url(&format!("/users/{target}/roles")))
            .bearer_auth(token)
            .json(&json!({"roles": roles})),
    )
    .await
}

#[tokio::test]
async fn an_admin_sets_roles_which_take_effect_at_once_and_are_audited() {
    let admin = confirmed_login(ADMIN_EMAILS[7]).await;
    let (_, user) = signed_up_user("promoted").await;
    let target = user_id(&user);
    let set = put_roles(access(&admin), &target, json!(["user", "admin"])).await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(set.body["roles"], json!(["admin", "user"]));
    let read = get_with_token(&format!("/users/{target}/roles"), access(&admin)).await;
    assert_eq!(read.body["roles"], json!(["admin", "user"]));
    // The promoted user may now read others, with the token they already had,
    // once their second factor is on (`admin` needs one; `MfaRequiredRoles`).
    let (_, other) = signed_up_user("seen-by-promoted").await;
    let held = get_with_token(&format!("/users/{}", user_id(&other)), access(&user)).await;
    assert_eq!(held.status, 403, "{:?}", held.body);
    assert_eq!(held.body["code"], "mfa_enrollment_required");
    turn_on_app(access(&user)).await;
    assert_eq!(
        get_with_token(&format!("/users/{}", user_id(&other)), access(&user))
            .await
            .status,
        200
    );
    let demoted = put_roles(access(&admin), &target, json!(["user"])).await;
    assert_eq!(demoted.status, 200);
    assert_eq!(
        get_with_token(&format!("/users/{}", user_id(&other)), access(&user))
            .await
            .status,
        403,
        "and may not once demoted"
    );
    let trail = events_of(access(&admin), &target).await;
    assert_eq!(
        actions(&trail)[..3],
        ["roles_changed", "totp_enabled", "roles_changed"]
    );
    assert_eq!(trail.body["items"][0]["actor"], user_id(&admin));
    // Not for non-admins, not to drop one's own admin role, not nonsense.
    assert_eq!(
        put_roles(access(&user), &target, json!(["admin"]))
            .await
            .status,
        403
    );
    let own = put_roles(access(&admin), &user_id(&admin), json!(["user"])).await;
    assert_eq!(own.status, 400, "{:?}", own.body);
    let bad = put_roles(access(&admin), &target, json!(["Not A Role!"])).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["field"], "roles");
}
