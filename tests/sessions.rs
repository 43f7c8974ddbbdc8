//! Refresh, logout, the brute-force throttle, and the sessions list: each
//! login a session that can be ended alone.

use crate::support::*;
use serde_json::{Value, json};

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

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

/// A password login from a browser of its own: the tokens.
async fn login_as(email: &str, user_agent: &str) -> Value {
    let login = send(
        http()
            .post(url("/auth/login"))
            .header("user-agent", user_agent)
            .json(&json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    login.body
}

async fn sessions_of(path: &str, token: &str) -> Vec<Value> {
    let listed = get_with_token(path, token).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    listed.body["items"].as_array().expect("items").clone()
}

fn session_id_of(tokens: &Value) -> String {
    claims_of(&access_token_of(tokens))["origin_jti"]
        .as_str()
        .expect("origin_jti")
        .to_owned()
}

async fn end(path: &str, token: &str) -> Response {
    send(http().delete(url(path)).bearer_auth(token)).await
}

#[tokio::test]
async fn ending_one_session_refuses_its_tokens_everywhere_and_leaves_the_other() {
    let (email, first) = signed_up_user("two-devices").await;
    let second = login_as(&email, FIREFOX).await;
    let (laptop, phone) = (access_token_of(&first), access_token_of(&second));
    let items = sessions_of("/users/me/sessions", &laptop).await;
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|s| s["session_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [session_id_of(&second), session_id_of(&first)],
        "newest first"
    );
    assert_eq!(items[1]["current"], true);
    assert_eq!(items[0]["current"], false);
    assert_eq!(items[0]["user_agent"], FIREFOX);
    assert_eq!(items[0]["ip"], "127.0.0.1");
    assert_eq!(items[0]["mfa"], false);

    // Another user can neither see nor end them.
    let (_, stranger) = signed_up_user("sessions-stranger").await;
    let stranger = access_token_of(&stranger);
    let theirs = get_with_token(&format!("/users/{}/sessions", sub_of(&laptop)), &stranger).await;
    assert_eq!(theirs.status, 403, "{:?}", theirs.body);
    let phone_path = format!("/users/me/sessions/{}", session_id_of(&second));
    assert_eq!(end(&phone_path, &stranger).await.status, 404);
    assert_eq!(get_with_token("/users/me", &phone).await.status, 200);

    assert_eq!(end(&phone_path, &laptop).await.status, 204);
    // Its access and refresh tokens are refused at once; the other session goes on.
    assert_eq!(get_with_token("/users/me", &phone).await.status, 401);
    let refreshed = post(
        "/auth/refresh",
        json!({"refresh_token": second["refresh_token"]}),
    )
    .await;
    assert_eq!(refreshed.status, 401, "{:?}", refreshed.body);
    assert_eq!(get_with_token("/users/me", &laptop).await.status, 200);
    let kept = post(
        "/auth/refresh",
        json!({"refresh_token": first["refresh_token"]}),
    )
    .await;
    assert_eq!(kept.status, 200, "{:?}", kept.body);
    assert_eq!(
        get_with_token("/users/me", &access_token_of(&kept.body))
            .await
            .status,
        200
    );
    let left = sessions_of("/users/me/sessions", &laptop).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(end(&phone_path, &laptop).await.status, 404, "ended already");

    // Around Gatehouse: Cognito refuses the ended refresh token too.
    let (endpoint, client_id) = cognito_endpoint_and_client(&laptop).await;
    let client_secret = client_secret_of(&client_id).await;
    let bound = second["refresh_token"].as_str().expect("refresh token");
    let (sub, raw) = bound.split_once('.').expect("<sub>.<token>");
    let direct = |token: &str| {
        json!({"ClientId": client_id, "AuthFlow": "REFRESH_TOKEN_AUTH",
               "AuthParameters": {"REFRESH_TOKEN": token,
                   "SECRET_HASH": secret_hash(&client_secret, sub, &client_id)}})
    };
    let refused = call_cognito(&endpoint, "InitiateAuth", direct(raw)).await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert!(
        refused.body.to_string().contains("NotAuthorizedException"),
        "{:?}",
        refused.body
    );
    let (_, live) = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .split_once('.')
        .expect("<sub>.<token>");
    let allowed = call_cognito(&endpoint, "InitiateAuth", direct(live)).await;
    assert_eq!(allowed.status, 200, "{:?}", allowed.body);
}

#[tokio::test]
async fn an_admin_lists_and_ends_a_users_session_and_the_trail_names_them() {
    let (email, tokens) = signed_up_user("sessions-supported").await;
    let user = access_token_of(&tokens);
    let user_id = sub_of(&user);
    let admin = confirmed_account(ADMIN_EMAILS[30]).await;
    let items = sessions_of(&format!("/users/{user_id}/sessions"), &admin).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["current"], false, "not the admin's own");
    let ended = end(
        &format!("/users/{user_id}/sessions/{}", session_id_of(&tokens)),
        &admin,
    )
    .await;
    assert_eq!(ended.status, 204, "{:?}", ended.body);
    assert_eq!(get_with_token("/users/me", &user).await.status, 401);
    let again = access_token_of(&login_as(&email, FIREFOX).await);
    let trail = get_with_token(&format!("/users/{user_id}/events"), &again).await;
    let event = trail.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["action"] == "session_ended")
        .cloned()
        .expect("the ended session is in the trail");
    assert_eq!(event["actor"], sub_of(&admin));
}

#[tokio::test]
async fn ending_every_other_session_keeps_the_callers_and_logout_clears_the_list() {
    let (email, first) = signed_up_user("sessions-others").await;
    let second = login_as(&email, FIREFOX).await;
    let third = login_as(&email, CHROME).await;
    let keeper = access_token_of(&second);
    assert_eq!(end("/users/me/sessions", &keeper).await.status, 204);
    for gone in [&first, &third] {
        assert_eq!(
            get_with_token("/users/me", &access_token_of(gone))
                .await
                .status,
            401
        );
    }
    let left = sessions_of("/users/me/sessions", &keeper).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["current"], true);
    let out = send(http().post(url("/auth/logout")).bearer_auth(&keeper)).await;
    assert_eq!(out.status, 204, "{:?}", out.body);
    let next = login_as(&email, CHROME).await;
    let listed = sessions_of("/users/me/sessions", &access_token_of(&next)).await;
    assert_eq!(listed.len(), 1, "logout forgot the others: {listed:?}");
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_emails_the_owner_once_and_a_known_one_never() {
    let (email, first) = signed_up_user("new-device").await;
    let user_id = sub_of(&access_token_of(&first));
    let noticed = |token: String| {
        let path = format!("/users/{user_id}/events");
        async move {
            get_with_token(&path, &token).await.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["action"] == "new_sign_in_noticed")
                .count()
        }
    };
    // The first sign-in ever knows no device: nothing to compare with.
    assert_eq!(noticed(access_token_of(&first)).await, 0);
    let firefox = access_token_of(&login_as(&email, FIREFOX).await);
    assert_eq!(noticed(firefox.clone()).await, 1);
    // The same browser family on the same network is known, whatever its version.
    login_as(&email, FIREFOX).await;
    login_as(&email, &FIREFOX.replace("128.0", "129.0")).await;
    assert_eq!(noticed(firefox.clone()).await, 1);
    let mail = |m: &Value| m["subject"] == "New sign-in to your Gatehouse account";
    assert!(
        eventually(|| async { mail_to(&email).await.iter().filter(|m| mail(m)).count() == 1 })
            .await,
        "the notice arrives"
    );
    let notice = mail_to(&email)
        .await
        .into_iter()
        .find(|m| mail(m))
        .expect("the notice");
    let text = notice.to_string();
    for expected in ["Firefox on Linux", "127.0.0.1", "/users/me/sessions"] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
}
