//! The side doors of the security review, tried through the local stack: Cognito
//! called directly, lockout used as a weapon, sends used to flood a mailbox,
//! answers that tell which accounts exist.

use crate::support::*;
use serde_json::json;
use sha2::{Digest, Sha256};

async fn login_from(client: &reqwest::Client, email: &str, password: &str) -> Response {
    send(
        client
            .post(url("/auth/login"))
            .json(&json!({"email": email, "password": password})),
    )
    .await
}

#[tokio::test]
async fn cognito_called_directly_refuses_whoever_lacks_the_client_secret() {
    let (email, tokens) = signed_up_user("direct").await;
    let access = tokens["access_token"].as_str().expect("access token");
    let (endpoint, client_id) = cognito_endpoint_and_client(access).await;
    let sign_in = call_cognito(
        &endpoint,
        "InitiateAuth",
        json!({"ClientId": client_id, "AuthFlow": "USER_PASSWORD_AUTH",
               "AuthParameters": {"USERNAME": email, "PASSWORD": PASSWORD}}),
    )
    .await;
    assert_eq!(sign_in.status, 400, "{:?}", sign_in.body);
    assert_eq!(sign_in.body["__type"], "NotAuthorizedException");
    assert!(sign_in.body.get("AuthenticationResult").is_none());
    let wrong_hash = call_cognito(
        &endpoint,
        "InitiateAuth",
        json!({"ClientId": client_id, "AuthFlow": "USER_PASSWORD_AUTH",
               "AuthParameters": {"USERNAME": email, "PASSWORD": PASSWORD,
                                  "SECRET_HASH": "bm90IHRoZSBoYXNo"}}),
    )
    .await;
    assert_eq!(wrong_hash.body["__type"], "NotAuthorizedException");
    for (operation, body) in [
        (
            "SignUp",
            json!({"ClientId": client_id, "Username": unique_email("direct-signup"), "Password": PASSWORD}),
        ),
        (
            "ForgotPassword",
            json!({"ClientId": client_id, "Username": email}),
        ),
    ] {
        let refused = call_cognito(&endpoint, operation, body).await;
        assert_eq!(
            refused.body["__type"], "NotAuthorizedException",
            "{operation}: {:?}",
            refused.body
        );
    }
    // Gatehouse itself, with the secret, still signs in.
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
}

#[tokio::test]
async fn a_stolen_access_token_cannot_move_the_account_to_another_mailbox() {
    let (email, tokens) = signed_up_user("stolen").await;
    let access = tokens["access_token"].as_str().expect("access token");
    let (endpoint, _) = cognito_endpoint_and_client(access).await;
    let thief = unique_email("thief");
    let moved = call_cognito(
        &endpoint,
        "UpdateUserAttributes",
        json!({"AccessToken": access, "UserAttributes": [{"Name": "email", "Value": thief}]}),
    )
    .await;
    assert_eq!(moved.status, 400, "{:?}", moved.body);
    assert_eq!(moved.body["__type"], "NotAuthorizedException");
    // What the token may write, it may (so the refusal is about the email).
    let renamed = call_cognito(
        &endpoint,
        "UpdateUserAttributes",
        json!({"AccessToken": access, "UserAttributes": [{"Name": "name", "Value": "Renamed"}]}),
    )
    .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    let verified = call_cognito(
        &endpoint,
        "UpdateUserAttributes",
        json!({"AccessToken": access, "UserAttributes": [{"Name": "email_verified", "Value": "true"}]}),
    )
    .await;
    assert_eq!(verified.body["__type"], "NotAuthorizedException");
    assert_eq!(
        post("/auth/login", json!({"email": email, "password": PASSWORD}))
            .await
            .status,
        200,
        "the owner's address is still the login"
    );
    assert_eq!(
        post("/auth/login", json!({"email": thief, "password": PASSWORD}))
            .await
            .status,
        401
    );
    post("/auth/password/forgot", json!({"email": thief})).await;
    assert!(
        mail_to(&thief).await.is_empty(),
        "no reset code to the thief"
    );
}

#[tokio::test]
async fn a_lock_from_one_source_ip_leaves_the_owner_in_from_another() {
    let (email, _) = signed_up_user("weapon").await;
    let attacker = from_address(2);
    for attempt in 1..=5 {
        let wrong = login_from(&attacker, &email, "Wrong-Password-1").await;
        assert_eq!(wrong.status, 401, "attempt {attempt}");
    }
    let locked = login_from(&attacker, &email, PASSWORD).await;
    assert_eq!(locked.status, 429, "the attacker's address is locked");
    let owner = login_from(&from_address(3), &email, PASSWORD).await;
    assert_eq!(owner.status, 200, "{:?}", owner.body);
}

#[tokio::test]
async fn a_password_reset_lifts_the_login_lock() {
    let (email, _) = signed_up_user("unlock").await;
    let client = from_address(4);
    for _ in 1..=5 {
        login_from(&client, &email, "Wrong-Password-1").await;
    }
    assert_eq!(login_from(&client, &email, PASSWORD).await.status, 429);
    let forgot = post("/auth/password/forgot", json!({"email": email})).await;
    assert_eq!(forgot.status, 202);
    let code = code_from_outbox(&email).await;
    let reset = post(
        "/auth/password/reset",
        json!({"email": email, "code": code, "new_password": "Another-Horse-7"}),
    )
    .await;
    assert_eq!(reset.status, 204, "{:?}", reset.body);
    let after = login_from(&client, &email, "Another-Horse-7").await;
    assert_eq!(after.status, 200, "{:?}", after.body);
}

#[tokio::test]
async fn codes_to_one_address_are_limited_whoever_asks() {
    let email = unique_email("flood");
    for n in 0..5 {
        let asked = send(
            from_address(10 + n)
                .post(url("/auth/password/forgot"))
                .json(&json!({"email": email})),
        )
        .await;
        assert_eq!(asked.status, 202, "request {n}");
    }
    let sixth = post("/auth/password/forgot", json!({"email": email})).await;
    assert_eq!(sixth.status, 429, "{:?}", sixth.body);
    assert!(sixth.headers.contains_key("retry-after"));
    let resend = post("/auth/resend-confirmation", json!({"email": email})).await;
    assert_eq!(resend.status, 429, "the limit covers every kind of send");
}

#[tokio::test]
async fn the_table_never_holds_who_tried_to_log_in() {
    let email = unique_email("backup");
    let wrong = post(
        "/auth/login",
        json!({"email": email, "password": "Wrong-Password-1"}),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let plain_digest: String = Sha256::digest(email.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let items = dynamodb()
        .await
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    let throttle_items: Vec<_> = items
        .iter()
        .filter(|item| {
            item.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|pk| pk.starts_with("THROTTLE#"))
        })
        .collect();
    assert!(!throttle_items.is_empty(), "the attempt was counted");
    for item in throttle_items {
        let text = format!("{item:?}");
        assert!(!text.contains(&email), "{text}");
        assert!(!text.contains(&plain_digest), "an unkeyed digest: {text}");
    }
}

#[tokio::test]
async fn confirming_an_unknown_or_a_confirmed_account_answers_alike() {
    let (confirmed, _) = signed_up_user("twice").await;
    let unknown = unique_email("never-registered");
    let mut answers = Vec::new();
    for email in [&confirmed, &unknown] {
        let answer = post(
            "/auth/confirm",
            json!({"email": email, "code": "123456", "password": PASSWORD}),
        )
        .await;
        answers.push((
            answer.status,
            answer.body["code"].clone(),
            answer.body["detail"].clone(),
        ));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, 400);
}

#[tokio::test]
async fn an_unconfirmed_account_without_its_password_looks_unknown() {
    let email = unique_email("unconfirmed");
    assert_eq!(register(&email).await.status, 201);
    let unconfirmed = post(
        "/auth/login",
        json!({"email": email, "password": "Wrong-Password-1"}),
    )
    .await;
    let unknown = post(
        "/auth/login",
        json!({"email": unique_email("nobody"), "password": "Wrong-Password-1"}),
    )
    .await;
    assert_eq!(unconfirmed.status, 401);
    assert_eq!(
        (
            unconfirmed.status,
            &unconfirmed.body["code"],
            &unconfirmed.body["detail"]
        ),
        (
            unknown.status,
            &unknown.body["code"],
            &unknown.body["detail"]
        )
    );
}

#[tokio::test]
async fn a_refresh_token_bound_to_another_user_is_refused() {
    let (_, mine) = signed_up_user("bound").await;
    let (_, theirs) = signed_up_user("bound-other").await;
    let token = mine["refresh_token"].as_str().expect("refresh token");
    let other_user = claims_of(theirs["access_token"].as_str().expect("access"))["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let (_, cognito_token) = token.split_once('.').expect("bound token");
    let swapped = format!("{other_user}.{cognito_token}");
    let refused = post("/auth/refresh", json!({"refresh_token": swapped})).await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    let fine = post("/auth/refresh", json!({"refresh_token": token})).await;
    assert_eq!(fine.status, 200, "{:?}", fine.body);
}

#[tokio::test]
async fn the_access_log_names_the_source_ip_and_route_and_never_the_body() {
    let email = unique_email("access-log");
    let secret = "Access-Log-Secret-9";
    let answer = login_from(&from_address(5), &email, secret).await;
    assert_eq!(answer.status, 401);
    let log = std::fs::read_to_string(&stack().log).expect("stack log");
    assert!(
        log.lines().any(|l| l.contains(r#""ip":"127.0.0.5""#)
            && l.contains(r#""routeKey":"POST /auth/login""#)
            && l.contains(r#""status":"401""#)),
        "no access log line for the login"
    );
    assert_not_logged(&[secret, &email]);
}

#[tokio::test]
async fn the_api_throttles_each_route_as_its_stage_settings_say() {
    let stack = launch(
        &workspace_root().join("template.yaml"),
        &target_dir().join("debug"),
        "ApiThrottlingRateLimit=1 ApiThrottlingBurstLimit=3",
        "throttling",
    )
    .unwrap_or_else(|why| panic!("{why}"));
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let answer = send(http().get(format!("{}/docs", stack.url))).await;
        if answer.status == 429 {
            assert_eq!(answer.body["message"], "Too Many Requests");
        }
        statuses.push(answer.status);
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "the burst passes");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    let other_route = send(
        http()
            .post(format!("{}/auth/login", stack.url))
            .json(&json!({"email": "someone@example.com", "password": "Wrong-Password-1"})),
    )
    .await;
    assert_eq!(other_route.status, 401, "each route has its own bucket");
}

#[tokio::test]
async fn the_client_secret_is_in_no_environment_and_no_log() {
    let (_, tokens) = signed_up_user("secret-keeper").await;
    let access = tokens["access_token"].as_str().expect("access token");
    let client_id = claims_of(access)["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    let secret = client_secret_of(&client_id).await;
    assert!(secret.len() > 20);
    for function in ["LoginFunction", "RegisterFunction", "ListUsersFunction"] {
        let env = send(http().get(url(&format!("/_local/functions/{function}/environment")))).await;
        assert_eq!(env.status, 200);
        assert!(
            !env.body.to_string().contains(&secret),
            "{function}'s environment holds the secret"
        );
    }
    // Functions that read it have run by now (this test's sign-up and login).
    assert_not_logged(&[&secret]);
}
