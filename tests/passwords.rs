//! Forgot, reset and change password; resend confirmation.

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn forgot_then_reset_replaces_the_password_and_ends_old_sessions() {
    let (email, tokens) = signed_up_user("reset").await;
    let old_access = tokens["access_token"].as_str().expect("access token");

    let forgot = post("/auth/password/forgot", json!({"email": email})).await;
    assert_eq!(forgot.status, 202);
    let code = code_from_outbox(&email).await;

    let wrong = post(
        "/auth/password/reset",
        json!({"email": email, "code": if code == "000000" { "111111" } else { "000000" }, "new_password": "Brand-New-Pass-7"}),
    )
    .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.body["code"], "invalid_code");

    let weak = post(
        "/auth/password/reset",
        json!({"email": email, "code": code, "new_password": "weak"}),
    )
    .await;
    assert_eq!(weak.status, 400);
    assert_eq!(weak.body["field"], "new_password");

    let reset = post(
        "/auth/password/reset",
        json!({"email": email, "code": code, "new_password": "Brand-New-Pass-7"}),
    )
    .await;
    assert_eq!(reset.status, 204, "{:?}", reset.body);

    let old = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(old.status, 401);
    let new = post(
        "/auth/login",
        json!({"email": email, "password": "Brand-New-Pass-7"}),
    )
    .await;
    assert_eq!(new.status, 200);
    assert_eq!(
        get_with_token("/users/me", old_access).await.status,
        401,
        "old token refused"
    );
    let fresh = new.body["access_token"].as_str().expect("access token");
    assert_eq!(get_with_token("/users/me", fresh).await.status, 200);
    let refresh = post(
        "/auth/refresh",
        json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await;
    assert_eq!(refresh.status, 401, "old refresh token revoked");

    let reused = post(
        "/auth/password/reset",
        json!({"email": email, "code": code, "new_password": "Another-Pass-8"}),
    )
    .await;
    assert_eq!(reused.status, 400, "a reset code works once");
    assert_not_logged(&["Brand-New-Pass-7", &code, fresh]);
}

#[tokio::test]
async fn forgot_answers_the_same_for_an_unknown_email() {
    let (email, _) = signed_up_user("forgot-same").await;
    let known = post("/auth/password/forgot", json!({"email": email})).await;
    let unknown = post(
        "/auth/password/forgot",
        json!({"email": unique_email("nobody")}),
    )
    .await;
    assert_eq!(known.status, 202);
    assert_eq!(unknown.status, 202);
    assert_eq!(known.body, unknown.body);
}

#[tokio::test]
async fn change_password_needs_the_current_one_and_ends_old_sessions() {
    let (email, tokens) = signed_up_user("change").await;
    let access = tokens["access_token"].as_str().expect("access token");
    let change = |current: &str, new: &str| {
        http()
            .post(url("/auth/password/change"))
            .bearer_auth(access)
            .json(&json!({"current_password": current, "new_password": new}))
    };
    let wrong = send(change("Not-My-Password-1", "Changed-Pass-9")).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["code"], "invalid_credentials");
    let weak = send(change(PASSWORD, "short")).await;
    assert_eq!(weak.status, 400);
    let ok = send(change(PASSWORD, "Changed-Pass-9")).await;
    assert_eq!(ok.status, 204, "{:?}", ok.body);

    assert_eq!(get_with_token("/users/me", access).await.status, 401);
    assert_eq!(
        post("/auth/login", json!({"email": email, "password": PASSWORD}))
            .await
            .status,
        401
    );
    assert_eq!(
        post(
            "/auth/login",
            json!({"email": email, "password": "Changed-Pass-9"})
        )
        .await
        .status,
        200
    );
    let refresh = post(
        "/auth/refresh",
        json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await;
    assert_eq!(refresh.status, 401);
    assert_not_logged(&["Changed-Pass-9", "Not-My-Password-1", access]);
}

#[tokio::test]
async fn change_password_needs_a_token() {
    let response = post(
        "/auth/password/change",
        json!({"current_password": "a", "new_password": "b"}),
    )
    .await;
    assert_eq!(response.status, 401);
}

#[tokio::test]
async fn resend_sends_a_new_code_and_answers_the_same_for_anyone() {
    let email = unique_email("resend");
    let nobody = unique_email("nobody");
    assert_eq!(register(&email).await.status, 201);
    let first = code_from_outbox(&email).await;
    let known = post("/auth/resend-confirmation", json!({"email": email})).await;
    let unknown = post("/auth/resend-confirmation", json!({"email": nobody})).await;
    assert_eq!(known.status, 202);
    assert_eq!(unknown.status, 202);
    assert_eq!(known.body, unknown.body);
    assert_eq!(
        mail_to(&email).await.len(),
        2,
        "the sign-up mail and the resent one"
    );
    assert!(
        mail_to(&nobody).await.is_empty(),
        "nothing goes to an unknown address"
    );
    let second = code_from_outbox(&email).await;
    let stale = post(
        "/auth/confirm",
        json!({"email": email, "code": first, "password": PASSWORD}),
    )
    .await;
    assert_eq!(stale.status, 400, "the resent code replaces the first");
    assert_eq!(
        post(
            "/auth/confirm",
            json!({"email": email, "code": second, "password": PASSWORD})
        )
        .await
        .status,
        200
    );
    let confirmed = post("/auth/resend-confirmation", json!({"email": email})).await;
    assert_eq!(confirmed.status, 202);
    assert_eq!(confirmed.body, unknown.body);
    assert_eq!(
        mail_to(&email).await.len(),
        2,
        "a confirmed account is sent nothing"
    );
}

#[tokio::test]
async fn an_expired_sign_up_code_is_400_expired_code_and_a_new_one_works() {
    let email = unique_email("expired-signup");
    assert_eq!(register(&email).await.status, 201);
    let code = code_from_outbox(&email).await;
    expire_codes(&email).await;
    let expired = post(
        "/auth/confirm",
        json!({"email": email, "code": code, "password": PASSWORD}),
    )
    .await;
    assert_eq!(expired.status, 400);
    assert_eq!(expired.body["code"], "expired_code");
    assert_eq!(
        post("/auth/resend-confirmation", json!({"email": email}))
            .await
            .status,
        202
    );
    let fresh = code_from_outbox(&email).await;
    let confirmed = post(
        "/auth/confirm",
        json!({"email": email, "code": fresh, "password": PASSWORD}),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
}

#[tokio::test]
async fn an_expired_reset_code_is_400_expired_code_and_the_password_stays() {
    let (email, _) = signed_up_user("expired-reset").await;
    assert_eq!(
        post("/auth/password/forgot", json!({"email": email}))
            .await
            .status,
        202
    );
    let code = code_from_outbox(&email).await;
    expire_codes(&email).await;
    let expired = post(
        "/auth/password/reset",
        json!({"email": email, "code": code, "new_password": "Another-Horse-7"}),
    )
    .await;
    assert_eq!(expired.status, 400);
    assert_eq!(expired.body["code"], "expired_code");
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 200, "the old password still works");
}
