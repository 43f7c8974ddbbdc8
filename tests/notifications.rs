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
        eventually(|| async {
            let mail = mail_to(&email).await;
            (mail.iter().any(alert), mail)
        })
        .await,
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
            eventually(|| async { !mail_to(email).await.is_empty() }).await,
            "{email} gets their message"
        );
    }
    // Five receives with the worker's back-off (1, 2, 4, 8 s), then the
    // queue's redrive policy moves it.
    let sqs = sqs().await;
    let dead_letters = queue_url("NotificationDeadLetterQueue").await;
    let in_dlq = eventually(|| async {
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

    // The documented redrive command brings it back to the queue, where the
    // worker meets it again (and, still poison, it ends up back here).
    let queue = queue_url("NotificationQueue").await;
    let redrive = std::process::Command::new(target_dir().join("debug/gatehouse-ops"))
        .args(["redrive", "--from", &dead_letters, "--to", &queue])
        .env("AWS_ENDPOINT_URL", &stack().moto)
        .env("AWS_ACCESS_KEY_ID", "operator")
        .env("AWS_SECRET_ACCESS_KEY", "operator")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run gatehouse-ops");
    assert!(
        redrive.status.success(),
        "{}",
        String::from_utf8_lossy(&redrive.stderr)
    );
    assert!(String::from_utf8_lossy(&redrive.stdout).starts_with("moved "));
    let peek = || async {
        sqs.receive_message()
            .queue_url(&dead_letters)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive")
            .messages()
            .iter()
            .any(|m| m.body() == Some(poison.as_str()))
    };
    assert!(!peek().await, "out of the dead-letter queue");
    assert!(
        eventually(|| async { peek().await }).await,
        "back through the queue and, five receives later, dead-lettered again"
    );
}

/// A confirmed user: their address, token and id.
async fn member(tag: &str) -> (String, String, String) {
    let (email, tokens) = signed_up_user(tag).await;
    let token = tokens["access_token"].as_str().expect("token").to_owned();
    let id = claims_of(&token)["sub"].as_str().expect("sub").to_owned();
    (email, token, id)
}

async fn send_notification(token: &str, body: Value) -> Response {
    send(
        http()
            .post(url("/notifications"))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

async fn status_of(token: &str, id: &str) -> Response {
    get_with_token(&format!("/notifications/{id}"), token).await
}

/// Waits until the notification has no delivery left; its status.
async fn finished(token: &str, id: &str) -> Value {
    let done = eventually(|| async {
        let status = status_of(token, id).await.body;
        (status["status"] == "done", status)
    })
    .await;
    let last = status_of(token, id).await.body;
    assert!(done, "the notification finishes: {last:?}");
    last
}

#[tokio::test]
async fn a_send_to_25_users_delivers_25_messages_and_counts_them() {
    let admin = confirmed_account(ADMIN_EMAILS[14]).await;
    let mut users = Vec::new();
    for i in 0..25 {
        users.push(member(&format!("fan{i}")).await);
    }
    let tag = unique("fan-out");
    let accepted = send_notification(
        &admin,
        json!({
            "recipients": users.iter().map(|(_, _, id)| id.clone()).collect::<Vec<_>>(),
            "channel": "email",
            "template": "security-alert",
            "data": {"message": tag},
        }),
    )
    .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    assert_eq!(accepted.body["accepted"], 25);
    let id = accepted.body["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let status = finished(&admin, &id).await;
    assert_eq!(
        status["counts"],
        json!({"queued": 0, "sent": 25, "suppressed": 0, "failed": 0})
    );
    for (email, _, _) in &users {
        let mine: Vec<Value> = mail_to(email)
            .await
            .into_iter()
            .filter(|m| m["text"].as_str().unwrap_or_default().contains(&tag))
            .collect();
        assert_eq!(mine.len(), 1, "{email}: one message");
    }
    // Someone else may not read it.
    let (_, stranger, _) = &users[0];
    assert_eq!(status_of(stranger, &id).await.status, 403);
}

#[tokio::test]
async fn a_role_send_reaches_its_members_and_respects_their_preferences() {
    let admin = confirmed_account(ADMIN_EMAILS[15]).await;
    let role = unique("beta").to_ascii_lowercase();
    let mut members = Vec::new();
    for i in 0..3 {
        let user = member(&format!("role{i}")).await;
        let assigned = send(
            http()
                .put(url(&format!("/users/{}/roles", user.2)))
                .bearer_auth(&admin)
                .json(&json!({"roles": ["user", role]})),
        )
        .await;
        assert_eq!(assigned.status, 200, "{:?}", assigned.body);
        members.push(user);
    }
    // One member takes email off.
    let (_, opted_out_token, _) = &members[2];
    let patched = send(
        http()
            .patch(url("/users/me"))
            .bearer_auth(opted_out_token)
            .json(&json!({"preferences": {"notification_channels": ["sms"]}})),
    )
    .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let tag = unique("role-send");
    // A dry run counts the audience (before preferences) and sends nothing.
    let dry_tag = unique("role-dry-run");
    let dry = send_notification(
        &admin,
        json!({"recipients": {"role": role}, "channel": "email", "template": "security-alert",
               "data": {"message": dry_tag}, "dry_run": true}),
    )
    .await;
    assert_eq!(dry.status, 200, "{:?}", dry.body);
    assert_eq!(dry.body, json!({"dry_run": true, "targeted": 3}));
    let accepted = send_notification(
        &admin,
        json!({"recipients": {"role": role}, "channel": "email", "template": "security-alert", "data": {"message": tag}}),
    )
    .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    assert_eq!(accepted.body["accepted"], 3);
    let id = accepted.body["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let status = finished(&admin, &id).await;
    assert_eq!(
        status["counts"],
        json!({"queued": 0, "sent": 2, "suppressed": 1, "failed": 0})
    );
    let got = |email: String| {
        let tag = tag.clone();
        async move {
            mail_to(&email)
                .await
                .iter()
                .any(|m| m["text"].as_str().unwrap_or_default().contains(&tag))
        }
    };
    assert!(got(members[0].0.clone()).await);
    assert!(!got(members[2].0.clone()).await, "opted out of email");
    let dry_run_sent = mail_to(&members[0].0)
        .await
        .iter()
        .any(|m| m.to_string().contains(&dry_tag));
    assert!(!dry_run_sent, "the dry run sent nothing");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let admin = confirmed_account(ADMIN_EMAILS[16]).await;
    let (_, _, bob) = member("idem").await;
    let body = json!({
        "recipients": [bob],
        "channel": "email",
        "template": "security-alert",
        "data": {"message": "hello"},
        "idempotency_key": unique("key"),
    });
    let first = send_notification(&admin, body.clone()).await;
    assert_eq!(first.status, 202, "{:?}", first.body);
    let again = send_notification(&admin, body.clone()).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.body, first.body, "the first answer again");
    let mut other = body;
    other["data"]["message"] = json!("changed");
    let conflict = send_notification(&admin, other).await;
    assert_eq!(conflict.status, 409, "{:?}", conflict.body);
}

#[tokio::test]
async fn an_sms_to_a_user_without_a_verified_number_fails_with_a_reason() {
    let admin = confirmed_account(ADMIN_EMAILS[26]).await;
    let (_, _, bob) = member("no-phone").await;
    let sent = send_notification(
        &admin,
        json!({"recipients": [bob], "channel": "sms", "template": "security-alert", "data": {"message": "hello"}}),
    )
    .await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    let id = sent.body["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let status = finished(&admin, &id).await;
    assert_eq!(
        status["counts"]["failed"], 1,
        "no verified number: {status:?}"
    );
}

#[tokio::test]
async fn a_send_naming_an_unknown_template_or_lacking_its_data_is_refused_at_once() {
    let admin = confirmed_account(ADMIN_EMAILS[27]).await;
    let (_, _, bob) = member("bad-send").await;
    let unknown = send_notification(
        &admin,
        json!({"recipients": [bob], "channel": "email", "template": "nope"}),
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["field"], "template");
    let missing = send_notification(
        &admin,
        json!({"recipients": [bob], "channel": "email", "template": "announcement", "data": {"headline": "h"}}),
    )
    .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body["field"], "data");
}

#[tokio::test]
async fn services_send_with_the_scope_and_users_without_the_policy_cannot() {
    let (_, user, bob) = member("svc-send").await;
    let refused = send_notification(
        &user,
        json!({"recipients": [bob], "channel": "email", "template": "security-alert", "data": {"message": "m"}}),
    )
    .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    let token = |scope: &'static str| async move {
        service_token(Some(scope)).await.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    };
    let sender = token("gatehouse/notifications.send").await;
    let sent = send_notification(
        &sender,
        json!({"recipients": [bob], "channel": "email", "template": "security-alert", "data": {"message": "from a service"}}),
    )
    .await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    let id = sent.body["notification_id"].as_str().expect("id");
    assert_eq!(
        status_of(&sender, id).await.status,
        200,
        "its sender reads it"
    );
    let checker = token("gatehouse/permissions.check").await;
    let unscoped = send_notification(
        &checker,
        json!({"recipients": [bob], "channel": "email", "template": "security-alert", "data": {"message": "m"}}),
    )
    .await;
    assert_eq!(
        unscoped.status, 403,
        "API Gateway refuses a token without the route's scope"
    );
}

#[tokio::test]
async fn a_marketing_mail_unsubscribes_in_one_click_without_login_and_later_sends_are_suppressed() {
    let admin = confirmed_account(ADMIN_EMAILS[17]).await;
    let (email, token, id) = member("unsub").await;
    let opted_in = send(
        http()
            .patch(url("/users/me"))
            .bearer_auth(&token)
            .json(&json!({"preferences": {"marketing_emails": true}})),
    )
    .await;
    assert_eq!(opted_in.status, 200, "{:?}", opted_in.body);
    let announce = |headline: String| {
        let admin = admin.clone();
        let id = id.clone();
        async move {
            let sent = send_notification(
                &admin,
                json!({"recipients": [id], "channel": "email", "template": "announcement",
                       "data": {"headline": headline, "body": "<i>news</i>"}}),
            )
            .await;
            assert_eq!(sent.status, 202, "{:?}", sent.body);
            let notification = sent.body["notification_id"]
                .as_str()
                .expect("id")
                .to_owned();
            finished(&admin, &notification).await
        }
    };
    let headline = unique("news");
    assert_eq!(announce(headline.clone()).await["counts"]["sent"], 1);
    let mail = mail_to(&email)
        .await
        .into_iter()
        .find(|m| m["subject"] == headline.as_str())
        .expect("the announcement");
    let list = mail["headers"]["List-Unsubscribe"]
        .as_str()
        .expect("List-Unsubscribe");
    assert_eq!(
        mail["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    let link = list.trim_matches(['<', '>']);
    let path = &link[link.find("/notifications/unsubscribe").expect("our path")..];
    assert!(
        mail["text"].as_str().unwrap_or_default().contains(link),
        "the link is in the text too"
    );

    // The page a person sees: one button, nothing changed yet.
    let page = send(http().get(url(path))).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .as_str()
            .unwrap_or_default()
            .contains("<form method=\"post\">")
    );
    let shot = target_dir().join("unsubscribe-page.png");
    let rendered = crate::docs_page::chromium(&[
        "--window-size=800,600",
        &format!("--screenshot={}", shot.display()),
        &url(path),
    ]);
    assert!(
        rendered.status.success() && shot.exists(),
        "the page renders in a browser"
    );
    let dom = crate::docs_page::chromium(&["--dump-dom", &url(path)]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("Unsubscribe from marketing emails?") && dom.contains("<button"),
        "{dom}"
    );
    let me = get_with_token("/users/me", &token).await;
    assert_eq!(
        me.body["preferences"]["marketing_emails"], true,
        "a GET changes nothing"
    );

    // The mail client's one-click POST: no login.
    let clicked = send(
        http()
            .post(url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click"),
    )
    .await;
    assert_eq!(clicked.status, 200);
    assert!(
        clicked
            .body
            .as_str()
            .unwrap_or_default()
            .contains("You are unsubscribed")
    );
    let me = get_with_token("/users/me", &token).await;
    assert_eq!(me.body["preferences"]["marketing_emails"], false);
    let later = announce(unique("more-news")).await;
    assert_eq!(later["counts"]["suppressed"], 1, "{later:?}");

    // A forged or altered link does nothing.
    let forged = send(http().post(url(&format!("{path}x")))).await;
    assert_eq!(forged.status, 400);
    let none = send(http().get(url("/notifications/unsubscribe?token=nope"))).await;
    assert_eq!(none.status, 400);
}

/// Publishes an SES event to the feedback topic, as SES does for the
/// configuration set's bounces and complaints.
async fn ses_reports(event: Value) {
    let topic = "arn:aws:sns:us-east-1:123456789012:gatehouse-dev-ses-feedback";
    let message = event.to_string();
    let response = http()
        .post(&stack().moto)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=ses/20260101/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(form_body(&[
            ("Action", "Publish"),
            ("Version", "2010-03-31"),
            ("TopicArn", topic),
            ("Message", &message),
        ]))
        .send()
        .await
        .expect("the emulator answers");
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
}

#[tokio::test]
async fn a_bounce_reported_by_ses_suppresses_later_sends_to_that_address() {
    let admin = confirmed_account(ADMIN_EMAILS[18]).await;
    let (email, _, id) = member("bounce").await;
    ses_reports(json!({
        "eventType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                   "bouncedRecipients": [{"emailAddress": email}]},
        "mail": {"destination": [email]}
    }))
    .await;
    let body = json!({"recipients": [id], "channel": "email", "template": "security-alert", "data": {"message": "m"}});
    // The feedback queue's worker marks the address; then sends are suppressed.
    let suppressed = eventually(|| async {
        let sent = send_notification(&admin, body.clone()).await;
        let notification = sent.body["notification_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        finished(&admin, &notification).await["counts"]["suppressed"] == 1
    })
    .await;
    assert!(suppressed, "sends to a bouncing address are suppressed");
}

#[tokio::test]
async fn a_confirmed_user_is_welcomed_once() {
    let (email, _) = signed_up_user("welcomed").await;
    let welcomes = mail_to(&email)
        .await
        .iter()
        .filter(|m| m["subject"] == "Welcome to Gatehouse")
        .count();
    assert_eq!(welcomes, 1);
}

#[tokio::test]
async fn the_owner_is_told_when_their_password_changes() {
    let (email, tokens) = signed_up_user("notices").await;
    let token = tokens["access_token"].as_str().expect("token");
    let changed = send(
        http()
            .post(url("/auth/password/change"))
            .bearer_auth(token)
            .json(&json!({"current_password": PASSWORD, "new_password": "Another-Horse-7"})),
    )
    .await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    let told = eventually(|| async {
        mail_to(&email)
            .await
            .iter()
            .any(|m| m["subject"] == "Your Gatehouse password was changed")
    })
    .await;
    assert!(told, "the owner is told of the change");
}

#[tokio::test]
async fn a_worker_that_stopped_between_claiming_and_recording_is_never_followed_by_a_second_send() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let (email, tokens) = signed_up_user("crash").await;
    let recipient = claims_of(tokens["access_token"].as_str().expect("token"))["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let notification = unique("crashed");
    let table = dynamodb().await;
    // What a worker leaves when it dies after claiming (and maybe sending):
    // a claim whose lease ran out long ago, and no outcome.
    let key = |name: &str, value: String| (name.to_owned(), AttributeValue::S(value));
    let long_ago = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - 3600)
        .to_string();
    table
        .put_item()
        .table_name(TABLE)
        .set_item(Some(
            [
                key("pk", format!("NOTIFICATION#{notification}")),
                key("sk", format!("DELIVERY#{recipient}")),
                key("entity", "delivery".into()),
                key("status", "claimed".into()),
                ("claimed_at".to_owned(), AttributeValue::N(long_ago)),
            ]
            .into_iter()
            .collect(),
        ))
        .send()
        .await
        .expect("claim written");
    let mails_before = mail_to(&email).await.len();
    enqueue(&[delivery(
        &notification,
        &recipient,
        "security-alert",
        json!({"message": "again?"}),
    )])
    .await;
    let recorded = eventually(|| async {
        let item = table
            .get_item()
            .table_name(TABLE)
            .key(
                "pk",
                AttributeValue::S(format!("NOTIFICATION#{notification}")),
            )
            .key("sk", AttributeValue::S(format!("DELIVERY#{recipient}")))
            .consistent_read(true)
            .send()
            .await
            .expect("read")
            .item
            .unwrap_or_default();
        item.get("status")
            .and_then(|s| s.as_s().ok())
            .map(String::as_str)
            == Some("failed")
            && item
                .get("reason")
                .and_then(|r| r.as_s().ok())
                .is_some_and(|r| r.contains("outcome unknown"))
    })
    .await;
    assert!(recorded, "recorded as failed with an unknown outcome");
    assert_eq!(
        mail_to(&email).await.len(),
        mails_before,
        "not sent a second time"
    );
}

#[tokio::test]
async fn a_delivery_still_queued_for_a_deleted_account_is_not_sent() {
    let (email, token, id) = member("deleted").await;
    let deleted = send(
        http()
            .delete(url("/users/me"))
            .bearer_auth(&token)
            .json(&json!({"current_password": PASSWORD})),
    )
    .await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    let notification = unique("after-delete");
    let before = mail_to(&email).await.len();
    enqueue(&[delivery(
        &notification,
        &id,
        "security-alert",
        json!({"message": "late"}),
    )])
    .await;
    let table = dynamodb().await;
    let dropped = eventually(|| async {
        let item = table
            .get_item()
            .table_name(TABLE)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("NOTIFICATION#{notification}")),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("DELIVERY#{id}")),
            )
            .consistent_read(true)
            .send()
            .await
            .expect("read")
            .item
            .unwrap_or_default();
        item.get("reason")
            .and_then(|r| r.as_s().ok())
            .map(String::as_str)
            == Some("no such user")
    })
    .await;
    assert!(dropped, "recorded as failed: no such user");
    assert_eq!(
        mail_to(&email).await.len(),
        before,
        "nothing sent to the deleted account"
    );
}
