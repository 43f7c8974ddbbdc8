//! The post-confirmation trigger and the profile it creates.

use crate::support::*;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

/// How many items the user's partition holds (the stack's table is `gatehouse-<Stage>`).
async fn items_of(user_id: &str) -> i32 {
    dynamodb()
        .await
        .query()
        .table_name(TABLE)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("USER#{user_id}")))
        .send()
        .await
        .expect("query the table")
        .count()
}

#[tokio::test]
async fn a_second_delivery_of_the_post_confirmation_trigger_changes_nothing() {
    let (email, tokens) = signed_up_user("retry").await;
    let access = tokens["access_token"].as_str().expect("access token");
    let before = get_with_token("/users/me", access).await;
    assert_eq!(before.status, 200);
    let user_id = before.body["user_id"].as_str().expect("user_id").to_owned();

    // Cognito retries a trigger it thinks failed: deliver the same event again.
    let mut event: serde_json::Value =
        serde_json::from_str(include_str!("../events/cognito-post-confirmation.json"))
            .expect("sample event");
    event["userName"] = json!(user_id);
    event["request"]["userAttributes"] =
        json!({"sub": user_id, "email": email, "name": "Someone Else"});
    let invoked = http()
        .post(url(
            "/2015-03-31/functions/cognito-post-confirmation/invocations",
        ))
        .json(&event)
        .send()
        .await
        .expect("invoke");
    assert!(
        invoked.headers().get("x-amz-function-error").is_none(),
        "the retry must succeed"
    );
    let returned: serde_json::Value = invoked.json().await.expect("event back");
    assert_eq!(
        returned["userName"],
        json!(user_id),
        "the trigger hands the event back to Cognito"
    );

    let after = get_with_token("/users/me", access).await;
    assert_eq!(after.body, before.body);

    assert_eq!(
        items_of(&user_id).await,
        2,
        "one profile and one role assignment"
    );
}

#[tokio::test]
async fn an_unconfirmed_account_cannot_log_in_and_has_no_profile_yet() {
    let email = unique_email("unconfirmed");
    let registered = register(&email).await;
    assert_eq!(registered.status, 201);
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 403);
    assert_eq!(login.body["code"], "user_not_confirmed");
    let user_id = user_id_of(&email).await;
    assert_eq!(
        items_of(&user_id).await,
        0,
        "registration writes nothing to the table"
    );
}

#[tokio::test]
async fn an_auto_confirmed_user_gets_a_profile_though_no_trigger_created_it() {
    let email = format!("auto-{}@{AUTO_CONFIRM_DOMAIN}", std::process::id());
    let registered = register(&email).await;
    assert_eq!(registered.status, 201);
    assert_eq!(
        registered.body["confirmed"], true,
        "auto-confirmed by the pre sign-up trigger"
    );
    let login = post("/auth/login", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, 200);
    let me = get_with_token(
        "/users/me",
        login.body["access_token"].as_str().expect("token"),
    )
    .await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["email"], email);
    assert_eq!(me.body["roles"], json!(["user"]));
    assert_eq!(me.body["display_name"], "Test User");
}

async fn patch_me(token: &str, body: serde_json::Value, if_match: Option<&str>) -> Response {
    let mut request = http()
        .patch(url("/users/me"))
        .bearer_auth(token)
        .json(&body);
    if let Some(etag) = if_match {
        request = request.header("if-match", etag);
    }
    send(request).await
}

fn etag_of(response: &Response) -> String {
    response.headers["etag"].to_str().expect("ascii").to_owned()
}

#[tokio::test]
async fn a_profile_is_changed_and_read_back_with_its_version() {
    let (_, tokens) = signed_up_user("patch").await;
    let token = tokens["access_token"].as_str().expect("token");
    let before = get_with_token("/users/me", token).await;
    let etag = etag_of(&before);
    let changed = patch_me(
        token,
        json!({"display_name": "Grace", "preferences": {"locale": "en-GB", "timezone": "Europe/London",
               "marketing_emails": false, "notification_channels": ["email"]}}),
        Some(&etag),
    )
    .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_ne!(etag_of(&changed), etag);
    let after = get_with_token("/users/me", token).await;
    assert_eq!(after.body["display_name"], "Grace");
    assert_eq!(
        after.body["preferences"],
        json!({"locale": "en-GB", "timezone": "Europe/London", "marketing_emails": false,
               "notification_channels": ["email"]})
    );
    assert_eq!(etag_of(&after), etag_of(&changed));
    let stale = patch_me(token, json!({"display_name": "Old"}), Some(&etag)).await;
    assert_eq!(stale.status, 412, "{:?}", stale.body);
    assert_eq!(
        get_with_token("/users/me", token).await.body["display_name"],
        "Grace",
        "a stale write changed nothing"
    );
}

#[tokio::test]
async fn each_invalid_field_is_a_400_naming_it_and_changes_nothing() {
    let (_, tokens) = signed_up_user("patch-invalid").await;
    let token = tokens["access_token"].as_str().expect("token");
    let before = get_with_token("/users/me", token).await;
    for (body, field) in [
        (
            json!({"preferences": {"timezone": "Mars/Olympus"}}),
            "preferences.timezone",
        ),
        (
            json!({"preferences": {"locale": "??"}}),
            "preferences.locale",
        ),
        (
            json!({"preferences": {"marketing_emails": "yes"}}),
            "preferences.marketing_emails",
        ),
        (
            json!({"preferences": {"notification_channels": ["pigeon"]}}),
            "preferences.notification_channels",
        ),
        (json!({"roles": ["admin"]}), "roles"),
        (json!({"status": "disabled"}), "status"),
        (json!({"email": "new@example.com"}), "email"),
        (json!({"user_id": "someone"}), "user_id"),
        (json!({"favourite_colour": "blue"}), "body"),
    ] {
        let refused = patch_me(token, body.clone(), None).await;
        assert_eq!(refused.status, 400, "{body}: {:?}", refused.body);
        assert_eq!(refused.body["field"], field, "{body}");
    }
    let after = get_with_token("/users/me", token).await;
    assert_eq!(after.body, before.body);
    assert_eq!(etag_of(&after), etag_of(&before));
}

#[tokio::test]
async fn twenty_concurrent_patches_with_one_version_let_exactly_one_through() {
    let (_, tokens) = signed_up_user("patch-race").await;
    let token = tokens["access_token"].as_str().expect("token").to_owned();
    let etag = etag_of(&get_with_token("/users/me", &token).await);
    let mut set = tokio::task::JoinSet::new();
    for n in 0..20 {
        let (token, etag) = (token.clone(), etag.clone());
        set.spawn(async move {
            patch_me(
                &token,
                json!({"display_name": format!("Writer {n}")}),
                Some(&etag),
            )
            .await
            .status
        });
    }
    let statuses = set.join_all().await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        19,
        "{statuses:?}"
    );
}
