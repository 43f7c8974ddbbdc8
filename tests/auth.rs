//! Register, confirm and login through the local stack.

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn register_confirm_login_and_read_the_profile() {
    let email = unique_email("flow");
    let registered = post(
        "/auth/register",
        json!({"email": email.to_uppercase(), "password": PASSWORD, "display_name": "Ada Lovelace"}),
    )
    .await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    assert_eq!(registered.body["email"], email);
    assert_eq!(registered.body["confirmed"], false);

    let code = code_from_outbox(&email).await;
    let confirmed = post(
        "/auth/confirm",
        json!({"email": email, "code": code, "password": PASSWORD}),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
    assert_eq!(confirmed.body, json!({"confirmed": true}));

    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["token_type"], "Bearer");
    assert!(login.body["expires_in"].as_i64().is_some_and(|s| s > 0));
    for field in ["access_token", "id_token", "refresh_token"] {
        assert!(
            login.body[field].as_str().is_some_and(|t| !t.is_empty()),
            "{field}"
        );
    }
    let access = login.body["access_token"].as_str().expect("access token");
    let user_id = claims_of(access)["sub"].clone();

    let me = get_with_token("/users/me", access).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["user_id"], user_id);
    assert_eq!(me.body["email"], email);
    assert_eq!(me.body["display_name"], "Ada Lovelace");
    assert_eq!(me.body["roles"], json!(["user"]));
    assert_eq!(me.body["status"], "active");
    assert_eq!(me.body["preferences"], json!({}));
    assert!(me.body["created_at"].is_string() && me.body["updated_at"].is_string());

    // No password, code or token in any log line of the stack or the functions.
    assert_not_logged(&[
        PASSWORD,
        &code,
        access,
        login.body["refresh_token"].as_str().unwrap_or(""),
    ]);
}

#[tokio::test]
async fn registering_a_taken_email_answers_like_a_new_one_and_tells_the_owner() {
    let (email, _) = signed_up_user("taken").await;
    let fresh = register(&unique_email("fresh")).await;
    let mails_before = mail_to(&email).await.len();
    let again = post(
        "/auth/register",
        json!({"email": email.to_uppercase(), "password": "Intruder-Pass-1"}),
    )
    .await;
    assert_eq!(again.status, fresh.status);
    assert_eq!(again.body["confirmed"], fresh.body["confirmed"]);
    assert_eq!(
        again.body.as_object().map(|o| o.keys().collect::<Vec<_>>()),
        fresh.body.as_object().map(|o| o.keys().collect::<Vec<_>>())
    );
    let mails = mail_to(&email).await;
    assert_eq!(mails.len(), mails_before + 1, "the owner is told");
    let notice = mails.last().expect("notice");
    assert_eq!(
        notice["subject"],
        "Someone tried to sign up to Gatehouse with your email"
    );
    // Nothing changed: the owner's password still works, the intruder's does not.
    let owner = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(owner.status, 200);
    let intruder = post(
        "/auth/login",
        json!({"email": email, "password": "Intruder-Pass-1"}),
    )
    .await;
    assert_eq!(intruder.status, 401);
}

#[tokio::test]
async fn registering_twice_before_confirming_sends_a_fresh_confirmation_code() {
    let email = unique_email("twice-unconfirmed");
    assert_eq!(register(&email).await.status, 201);
    let first = code_from_outbox(&email).await;
    assert_eq!(register(&email).await.status, 201);
    let mails = mail_to(&email).await;
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1]["subject"], "Confirm your Gatehouse account");
    let second = code_from_outbox(&email).await;
    assert_ne!(first, second, "a new code replaces the first");
    let confirmed = post(
        "/auth/confirm",
        json!({"email": email, "code": second, "password": PASSWORD}),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let response = send(
        http()
            .post(url("/auth/register"))
            .header("content-type", "application/json")
            .body("{\"email\": "),
    )
    .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.headers["content-type"], "application/problem+json");
    assert_eq!(response.body["code"], "malformed_body");
    assert_eq!(response.body["status"], 400);
}

#[tokio::test]
async fn a_password_breaking_the_policy_is_400_naming_the_rule() {
    let response = post(
        "/auth/register",
        json!({"email": unique_email("weak"), "password": "nouppercase1"}),
    )
    .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.body["field"], "password");
    assert_eq!(
        response.body["detail"],
        "password must contain an upper-case letter"
    );
}

#[tokio::test]
async fn a_bad_email_is_400() {
    let response = post(
        "/auth/register",
        json!({"email": "not-an-email", "password": PASSWORD}),
    )
    .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.body["field"], "email");
}

#[tokio::test]
async fn a_wrong_confirmation_code_is_400_and_the_right_one_still_works() {
    let email = unique_email("code");
    assert_eq!(register(&email).await.status, 201);
    let code = code_from_outbox(&email).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = post(
        "/auth/confirm",
        json!({"email": email, "code": wrong, "password": PASSWORD}),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["code"], "invalid_code");
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(
        login.status, 403,
        "a wrong code must not confirm the account"
    );
    assert_eq!(login.body["code"], "user_not_confirmed");
    assert_eq!(
        post(
            "/auth/confirm",
            json!({"email": email, "code": code, "password": PASSWORD})
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_identical_401s() {
    let (email, _) = signed_up_user("enum").await;
    let wrong = post(
        "/auth/login",
        json!({"email": email, "password": "Wrong-Password-1"}),
    )
    .await;
    let unknown = post(
        "/auth/login",
        json!({"email": unique_email("ghost"), "password": PASSWORD}),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body["code"], "invalid_credentials");
}

#[tokio::test]
async fn an_unknown_path_is_404_and_a_known_one_with_another_method_405() {
    let response = send(http().get(url("/auth/nothing-here"))).await;
    assert_eq!(response.status, 404);
    assert_eq!(response.body["code"], "not_found");
    let wrong_method = send(http().get(url("/auth/login"))).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.headers["allow"], "POST");
    assert_eq!(wrong_method.body["code"], "method_not_allowed");
}
