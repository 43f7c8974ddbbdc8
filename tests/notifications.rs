//! Notifications through the local stack: the delivery queue, the event
//! source mapping and the worker, SES and SNS into the outbox.

use crate::support::*;
use serde_json::{Value, json};

fn delivery(notification: &str, recipient: &str, template: &str, data: Value) -> String {
    json!({
        "kind": "deliver",
        "notification_id": notification,
        "recipient": recipient,
        "channel": "email",
        "template": template,
        "data": data,
    })
    .to_string()
}

fn unique(tag: &str) -> String {
    unique_email(tag)
        .split('@')
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn enqueue(bodies: &[String]) {
    let sqs = sqs().await;
    let url = queue_url("NotificationQueue").await;
    for chunk in bodies.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = sqs
            .send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("queued");
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    }
}

#[tokio::test]
async fn a_delivery_queued_twice_reaches_the_outbox_once_rendered_for_the_recipient() {
    let (email, tokens) = signed_up_user("notify-once").await;
    let recipient = claims_of(tokens["access_token"].as_str().expect("token"))["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let notification = unique("n");
    let body = delivery(
        &notification,
        &recipient,
        "security-alert",
        json!({"message": "<b>check your sessions</b>"}),
    );
    enqueue(&[body.clone(), body]).await;
    let alert = |m: &Value| m["subject"] == "Gatehouse security notice";
    assert!(
        eventually(20, || async { mail_to(&email).await.iter().any(alert) }).await,
        "the delivery reaches the outbox"
    );
    // Both copies have been handled once the queue is empty of them.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let sent: Vec<Value> = mail_to(&email).await.into_iter().filter(alert).collect();
    assert_eq!(sent.len(), 1, "one send for two deliveries: {sent:?}");
    let html = sent[0]["html"].as_str().unwrap_or_default();
    assert!(html.contains("&lt;b&gt;check your sessions"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    assert!(
        sent[0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("<b>check your sessions</b>")
    );
    assert!(
        sent[0].get("headers").is_none(),
        "no unsubscribe headers on a transactional mail"
    );
}

#[tokio::test]
async fn a_poison_message_in_a_batch_goes_to_the_dead_letter_queue_and_the_rest_are_sent() {
    let mut bodies = Vec::new();
    let mut addresses = Vec::new();
    for i in 0..9 {
        let (email, tokens) = signed_up_user(&format!("notify-batch{i}")).await;
        let recipient = claims_of(tokens["access_token"].as_str().expect("token"))["sub"]
            .as_str()
            .expect("sub")
            .to_owned();
        bodies.push(delivery(
            &unique("n"),
            &recipient,
            "security-alert",
            json!({"message": "m"}),
        ));
        addresses.push(email);
    }
    let poison = format!(
        "{{\"kind\": \"poison\", \"marker\": \"{}\"}}",
        unique("poison")
    );
    bodies.insert(4, poison.clone());
    enqueue(&bodies).await;
    for email in &addresses {
        assert!(
            eventually(20, || async { !mail_to(email).await.is_empty() }).await,
            "{email} gets their message"
        );
    }
    // Five receives with the worker's back-off (1, 2, 4, 8 s), then the
    // queue's redrive policy moves it.
    let sqs = sqs().await;
    let dead_letters = queue_url("NotificationDeadLetterQueue").await;
    let in_dlq = eventually(60, || async {
        let out = sqs
            .receive_message()
            .queue_url(&dead_letters)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive");
        out.messages()
            .iter()
            .any(|m| m.body() == Some(poison.as_str()))
    })
    .await;
    assert!(in_dlq, "the poison message is in the dead-letter queue");
}
