//! Access through the local stack: a caller acts only as themself, whatever ids
//! or fields they put in a body, and no field a client should not set is
//! accepted (no mass assignment).

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn fields_a_client_may_not_set_are_refused_and_change_nothing() {
    let email = unique_email("mass");
    for (field, value) in [
        ("roles", json!(["admin"])),
        ("status", json!("active")),
        ("user_id", json!("00000000-0000-4000-8000-000000000000")),
        ("email_verified", json!(true)),
    ] {
        let mut body = json!({"email": email, "password": PASSWORD});
        body[field] = value;
        let refused = post("/auth/register", body).await;
        assert_eq!(refused.status, 400, "{field}: {:?}", refused.body);
        assert_eq!(refused.body["code"], "malformed_body", "{field}");
        assert!(
            refused.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains(&format!("unknown field `{field}`"))),
            "{field}: {:?}",
            refused.body
        );
    }
    assert_eq!(accounts_for(&email).await, 0, "nothing was registered");
}

#[tokio::test]
async fn another_users_id_in_a_body_is_refused_not_obeyed() {
    let (email, mine) = signed_up_user("acting").await;
    let (_, theirs) = signed_up_user("target").await;
    let access = mine["access_token"].as_str().expect("access token");
    let their_id = claims_of(theirs["access_token"].as_str().expect("access"))["sub"].clone();
    let change = send(
        http()
            .post(url("/auth/password/change"))
            .bearer_auth(access)
            .json(&json!({"current_password": PASSWORD, "new_password": "Another-Horse-7", "user_id": their_id})),
    )
    .await;
    assert_eq!(change.status, 400, "{:?}", change.body);
    let logout = send(
        http()
            .post(url("/auth/logout"))
            .bearer_auth(access)
            .json(&json!({"user_id": their_id})),
    )
    .await;
    assert_eq!(
        logout.status, 204,
        "logout takes no body and ends only the caller's sessions"
    );
    let them = theirs["access_token"].as_str().expect("access");
    assert_eq!(
        get_with_token("/users/me", them).await.status,
        200,
        "the other user is untouched"
    );
    assert_eq!(
        post("/auth/login", json!({"email": email, "password": PASSWORD}))
            .await
            .status,
        200,
        "the caller's password did not change"
    );
}
