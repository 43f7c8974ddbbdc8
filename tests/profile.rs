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
