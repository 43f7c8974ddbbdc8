//! Races through the local stack: parallel requests that must end as one of them
//! would have alone.

use crate::support::*;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

/// Runs `n` requests made by `make` at once; their answers.
async fn in_parallel<F, Fut>(n: usize, make: F) -> Vec<Response>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(make());
    }
    set.join_all().await
}

#[tokio::test]
async fn fifty_parallel_registrations_of_one_email_make_one_account_and_one_profile() {
    let email = unique_email("race");
    let answers = in_parallel(50, || {
        let email = email.clone();
        async move { register(&email).await }
    })
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 429),
        "{statuses:?}"
    );
    assert!(statuses.contains(&201));
    assert_eq!(accounts_for(&email).await, 1);
    // Each sign-up that got through replaced the unconfirmed account before
    // it, so several codes were mailed; the surviving account's one confirms.
    let mut answers = Vec::new();
    for code in codes_from_outbox(&email).await.into_iter().rev() {
        let confirmed = post(
            "/auth/confirm",
            json!({"email": email, "code": code, "password": PASSWORD}),
        )
        .await;
        answers.push(confirmed.status);
        if confirmed.status == 200 {
            break;
        }
    }
    assert_eq!(answers.last(), Some(&200), "{answers:?}");
    let user_id = user_id_of(&email).await;
    let items = dynamodb()
        .await
        .query()
        .table_name(TABLE)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("USER#{user_id}")))
        .send()
        .await
        .expect("query")
        .count();
    assert_eq!(items, 2, "one profile and one role assignment");
}

#[tokio::test]
async fn twenty_parallel_wrong_passwords_test_at_most_five() {
    let (email, _) = signed_up_user("parallel-guess").await;
    let answers = in_parallel(20, || {
        let body = json!({"email": email, "password": "Wrong-Password-1"});
        async move { post("/auth/login", body).await }
    })
    .await;
    let tested = answers.iter().filter(|a| a.status == 401).count();
    let refused = answers.iter().filter(|a| a.status == 429).count();
    assert_eq!(tested + refused, 20, "only 401 or 429");
    assert!(tested <= 5, "{tested} guesses were tested");
}

#[tokio::test]
async fn fifty_parallel_role_changes_end_as_one_of_them() {
    let admin = confirmed_account(ADMIN_EMAILS[8]).await;
    let (_, user) = signed_up_user("contested").await;
    let target = claims_of(user["access_token"].as_str().expect("token"))["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    // Each request a different set: some roles of its own, some shared.
    let requested: Vec<Vec<String>> = (0..50)
        .map(|n| {
            vec![
                format!("team-{}", n % 7),
                format!("shift-{}", n % 5),
                format!("r{n}"),
            ]
        })
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for roles in requested.clone() {
        let (admin, target) = (admin.clone(), target.clone());
        set.spawn(async move {
            send(
                http()
                    .put(url(&format!("/users/{target}/roles")))
                    .bearer_auth(&admin)
                    .json(&json!({"roles": roles})),
            )
            .await
        });
    }
    let answers = set.join_all().await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200));
    let now = get_with_token(&format!("/users/{target}/roles"), &admin).await;
    let mut final_roles: Vec<String> = now.body["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .map(|r| r.as_str().expect("role").to_owned())
        .collect();
    final_roles.sort();
    assert!(
        requested.iter().any(|r| {
            let mut r = r.clone();
            r.sort();
            r == final_roles
        }),
        "{final_roles:?} is no request's set"
    );
}
