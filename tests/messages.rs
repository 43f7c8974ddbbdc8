//! The pre sign-up and custom message triggers, as a user meets them.

use crate::support::*;
use serde_json::{Value, json};

async fn last_mail_to(email: &str) -> Value {
    let outbox = send(http().get(url("/_local/outbox"))).await;
    outbox
        .body
        .as_array()
        .and_then(|all| all.iter().rev().find(|m| m["to"] == email).cloned())
        .unwrap_or_else(|| panic!("no mail to {email}"))
}

#[tokio::test]
async fn a_deny_listed_domain_is_refused_at_sign_up_with_a_reason() {
    let response = post(
        "/auth/register",
        json!({"email": format!("someone-{}@Mailinator.com", std::process::id()), "password": PASSWORD}),
    )
    .await;
    assert_eq!(response.status, 400, "{:?}", response.body);
    assert_eq!(response.body["field"], "email");
    assert_eq!(
        response.body["detail"],
        "email addresses at mailinator.com cannot be used to sign up"
    );
}

#[tokio::test]
async fn sign_up_mail_is_branded_in_english_by_default() {
    let email = unique_email("mail-en");
    assert_eq!(register(&email).await.status, 201);
    let mail = last_mail_to(&email).await;
    assert_eq!(mail["channel"], "email");
    assert_eq!(mail["subject"], "Confirm your Gatehouse account");
    let html = mail["html"].as_str().expect("html part");
    let text = mail["text"].as_str().expect("text part");
    let code = code_from_outbox(&email).await;
    assert!(html.contains(&code) && text.contains(&code));
    assert!(html.contains("<html lang=\"en\">"));
    assert!(
        !html.contains("{####}"),
        "the code placeholder was replaced"
    );
}

#[tokio::test]
async fn a_german_user_gets_german_sign_up_and_reset_mail() {
    let email = unique_email("mail-de");
    let registered = post(
        "/auth/register",
        json!({"email": email, "password": PASSWORD, "locale": "de-AT"}),
    )
    .await;
    assert_eq!(registered.status, 201);
    let mail = last_mail_to(&email).await;
    assert_eq!(mail["subject"], "Bestätigen Sie Ihr Gatehouse-Konto");
    let code = code_from_outbox(&email).await;
    assert_eq!(
        post(
            "/auth/confirm",
            json!({"email": email, "code": code, "password": PASSWORD})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        post("/auth/password/forgot", json!({"email": email}))
            .await
            .status,
        202
    );
    let reset_mail = last_mail_to(&email).await;
    assert_eq!(
        reset_mail["subject"],
        "Setzen Sie Ihr Gatehouse-Passwort zurück"
    );
}
