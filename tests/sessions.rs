//! Refresh, logout, and the brute-force throttle.

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn refresh_gives_new_tokens_until_logout_then_everything_is_refused() {
    let (_, tokens) = signed_up_user("logout").await;
    let access = tokens["access_token"].as_str().expect("access token");
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh token");

    let refreshed = post("/auth/refresh", json!({"refresh_token": refresh_token})).await;
    assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    for field in ["access_token", "id_token", "expires_in"] {
        assert!(!refreshed.body[field].is_null(), "{field}");
    }
    let refreshed_access = refreshed.body["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_eq!(
        get_with_token("/users/me", &refreshed_access).await.status,
        200
    );

    let logout = send(http().post(url("/auth/logout")).bearer_auth(access)).await;
    assert_eq!(logout.status, 204, "{:?}", logout.body);

    let me = get_with_token("/users/me", access).await;
    assert_eq!(me.status, 401, "the old access token is refused");
    assert_eq!(me.body["code"], "invalid_token");
    assert_eq!(
        get_with_token("/users/me", &refreshed_access).await.status,
        401
    );
    let again = post("/auth/refresh", json!({"refresh_token": refresh_token})).await;
    assert_eq!(again.status, 401, "the refresh token is revoked");
    let logout_again = send(http().post(url("/auth/logout")).bearer_auth(access)).await;
    assert_eq!(logout_again.status, 401);
}

#[tokio::test]
async fn a_login_right_after_logout_gets_a_working_token() {
    let (email, tokens) = signed_up_user("relogin").await;
    let access = tokens["access_token"].as_str().expect("access token");
    assert_eq!(
        send(http().post(url("/auth/logout")).bearer_auth(access))
            .await
            .status,
        204
    );
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 200);
    let fresh = login.body["access_token"].as_str().expect("access token");
    assert_eq!(get_with_token("/users/me", fresh).await.status, 200);
}

#[tokio::test]
async fn an_unknown_refresh_token_is_401() {
    let response = post(
        "/auth/refresh",
        json!({"refresh_token": "not-a-real-token"}),
    )
    .await;
    assert_eq!(response.status, 401);
}

#[tokio::test]
async fn logout_needs_a_token() {
    assert_eq!(send(http().post(url("/auth/logout"))).await.status, 401);
}

#[tokio::test]
async fn six_wrong_passwords_get_429_the_same_for_an_unknown_email() {
    let (email, _) = signed_up_user("throttle").await;
    let ghost = unique_email("ghost-throttle");
    let mut last = Vec::new();
    for target in [&email, &ghost] {
        for attempt in 1..=5 {
            let response = post(
                "/auth/login",
                json!({"email": target, "password": "Wrong-Password-1"}),
            )
            .await;
            assert_eq!(response.status, 401, "attempt {attempt} for {target}");
        }
        let sixth = post(
            "/auth/login",
            json!({"email": target, "password": "Wrong-Password-1"}),
        )
        .await;
        assert_eq!(sixth.status, 429);
        let retry_after: u64 = sixth.headers["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!(retry_after > 0 && retry_after <= 900, "{retry_after}");
        last.push(sixth.body);
    }
    assert_eq!(
        last[0], last[1],
        "the 429 must not tell known from unknown emails"
    );
    // Locked out even with the right password, until the window passes.
    let right = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(right.status, 429);
}
