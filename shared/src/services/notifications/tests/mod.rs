use super::*;
use crate::adapters::memory::{
    InMemoryLedger, InMemoryNotifications, InMemoryProfileStore, InMemoryQueue, LedgerEntry,
    RecordingProvider, TestSigner,
};
use crate::domain::notifications::Channel;
use crate::domain::{NewProfile, Role};
use serde_json::json;

/// The producer, the status and the worker over one set of fakes.
pub(super) struct Fixture {
    pub(super) profiles: Arc<InMemoryProfileStore>,
    pub(super) ledger: Arc<InMemoryLedger>,
    pub(super) queue: Arc<InMemoryQueue>,
    pub(super) mail: Arc<RecordingProvider>,
    pub(super) sms: Arc<RecordingProvider>,
    pub(super) worker: DeliveryWorker,
    pub(super) service: NotificationService,
    pub(super) status: NotificationStatus,
}

pub(super) fn fixture() -> Fixture {
    fixture_with_daily_audience(100_000)
}

/// [`fixture`] with `daily` recipients per sender and day.
pub(super) fn fixture_with_daily_audience(daily: u64) -> Fixture {
    let profiles = Arc::new(InMemoryProfileStore::default());
    let ledger = Arc::new(InMemoryLedger::default());
    let queue = Arc::new(InMemoryQueue::default());
    let mail = Arc::new(RecordingProvider::default());
    let sms = Arc::new(RecordingProvider::default());
    let notifications = Arc::new(InMemoryNotifications {
        profiles: profiles.clone(),
        ledger: ledger.clone(),
        ..Default::default()
    });
    let permissions = Arc::new(super::super::Permissions::new(profiles.clone()));
    let service = NotificationService::new(
        permissions.clone(),
        notifications.clone(),
        queue.clone(),
        daily,
    );
    let status = NotificationStatus::new(permissions, notifications.clone());
    let worker = DeliveryWorker::new(
        profiles.clone(),
        notifications,
        ledger.clone(),
        queue.clone(),
        mail.clone(),
        sms.clone(),
        Arc::new(TestSigner),
        DeliverySettings {
            lease_secs: 60,
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(30),
            public_base_url: "https://api.example.com".into(),
            unsubscribe_valid_days: 30,
            max_receive_count: 5,
        },
    );
    Fixture {
        profiles,
        ledger,
        queue,
        mail,
        sms,
        worker,
        service,
        status,
    }
}

async fn user(f: &Fixture, preferences: serde_json::Value) -> UserId {
    let id = UserId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    f.profiles
        .create_profile(&NewProfile {
            user_id: id.clone(),
            email: Email::parse(&format!("{id}@example.com")).unwrap(),
            display_name: None,
            roles: vec![Role::parse("user").unwrap()],
            admin_grant: false,
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let profile = f.profiles.get_user(&id).await.unwrap().profile.unwrap();
    let preferences = preferences.as_object().cloned().unwrap_or_default();
    f.profiles
        .update_profile(
            &id,
            profile.version,
            None,
            &preferences.into_iter().collect(),
        )
        .await
        .unwrap();
    id
}

fn message(
    recipient: &UserId,
    channel: Channel,
    template: &str,
    data: serde_json::Value,
) -> String {
    serde_json::to_string(&QueueMessage::Deliver(Delivery::of(
        "n-1",
        recipient.clone(),
        channel,
        template,
        data.as_object().cloned().unwrap_or_default(),
    )))
    .unwrap()
}

fn outcome(f: &Fixture, recipient: &UserId) -> Option<Outcome> {
    match f
        .ledger
        .entries
        .lock()
        .unwrap()
        .get(&("n-1".to_owned(), recipient.clone()))
    {
        Some(LedgerEntry::Finished(outcome)) => Some(outcome.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn the_same_message_delivered_twice_is_sent_once() {
    let f = fixture();
    let ada = user(&f, json!({})).await;
    let body = message(
        &ada,
        Channel::Email,
        "security-alert",
        json!({"message": "hi"}),
    );
    assert_eq!(f.worker.handle(&body).await, Handled::Done);
    assert_eq!(f.worker.handle(&body).await, Handled::Done);
    assert_eq!(f.mail.sent.lock().unwrap().len(), 1);
    assert_eq!(outcome(&f, &ada).unwrap().status, DeliveryStatus::Sent);
}

#[tokio::test]
async fn opted_out_recipients_are_suppressed_with_the_reason() {
    let f = fixture();
    let no_email = user(&f, json!({"notification_channels": ["sms"]})).await;
    let no_marketing = user(&f, json!({})).await;
    f.worker
        .handle(&message(
            &no_email,
            Channel::Email,
            "security-alert",
            json!({"message": "m"}),
        ))
        .await;
    f.worker
        .handle(&message(
            &no_marketing,
            Channel::Email,
            "announcement",
            json!({"headline": "h", "body": "b"}),
        ))
        .await;
    let first = outcome(&f, &no_email).unwrap();
    assert_eq!(first.status, DeliveryStatus::Suppressed);
    assert_eq!(
        first.reason.as_deref(),
        Some(Skip::OptedOutOfChannel.reason())
    );
    assert_eq!(
        outcome(&f, &no_marketing).unwrap().reason.as_deref(),
        Some(Skip::OptedOutOfMarketing.reason())
    );
    assert!(f.mail.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_sms_to_a_profile_without_a_verified_number_fails_for_good() {
    let f = fixture();
    let ada = user(&f, json!({})).await;
    let handled = f
        .worker
        .handle(&message(
            &ada,
            Channel::Sms,
            "security-alert",
            json!({"message": "m"}),
        ))
        .await;
    assert_eq!(handled, Handled::Done, "not retried");
    let outcome = outcome(&f, &ada).unwrap();
    assert_eq!(outcome.status, DeliveryStatus::Failed);
    assert_eq!(
        outcome.reason.as_deref(),
        Some(Skip::NoVerifiedPhone.reason())
    );
    assert!(f.sms.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn marketing_mail_carries_a_working_unsubscribe_link() {
    let f = fixture();
    let ada = user(&f, json!({"marketing_emails": true})).await;
    f.worker
        .handle(&message(
            &ada,
            Channel::Email,
            "announcement",
            json!({"headline": "h", "body": "b"}),
        ))
        .await;
    let sent = f.mail.sent.lock().unwrap().clone();
    let link = sent[0].1.lines().last().unwrap().to_owned();
    let token = link.split("token=").nth(1).unwrap();
    assert!(link.starts_with("https://api.example.com/notifications/unsubscribe?token="));
    assert_eq!(
        unsubscribe_user(&TestSigner, token).await.unwrap(),
        Some(ada)
    );
    let forged = format!("{}x", token);
    assert_eq!(unsubscribe_user(&TestSigner, &forged).await.unwrap(), None);
}

#[tokio::test]
async fn a_bounce_makes_later_sends_to_the_address_suppressed() {
    let f = fixture();
    let ada = user(&f, json!({})).await;
    let profile = f.profiles.get_user(&ada).await.unwrap().profile.unwrap();
    let feedback = FeedbackService::new(f.ledger.clone());
    let event = json!({"eventType": "Bounce", "bounce": {"bounceType": "Permanent",
            "bouncedRecipients": [{"emailAddress": profile.email.as_str()}]}});
    let envelope = json!({"Type": "Notification", "Message": event.to_string()}).to_string();
    assert_eq!(feedback.handle(&envelope).await, Handled::Done);
    assert_eq!(feedback.handle("not json").await, Handled::Retry);
    f.worker
        .handle(&message(
            &ada,
            Channel::Email,
            "security-alert",
            json!({"message": "m"}),
        ))
        .await;
    let outcome = outcome(&f, &ada).unwrap();
    assert_eq!(outcome.status, DeliveryStatus::Suppressed);
    assert_eq!(
        outcome.reason.as_deref(),
        Some(Skip::Undeliverable.reason())
    );
    assert!(f.mail.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_unsubscribe_link_turns_marketing_off_and_later_marketing_is_suppressed() {
    let f = fixture();
    let ada = user(&f, json!({"marketing_emails": true, "locale": "de"})).await;
    let body = message(
        &ada,
        Channel::Email,
        "announcement",
        json!({"headline": "h", "body": "b"}),
    );
    f.worker.handle(&body).await;
    let sent = f.mail.sent.lock().unwrap().clone();
    let token = sent[0]
        .1
        .lines()
        .last()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let links = UnsubscribeService::new(f.profiles.clone(), Arc::new(TestSigner));
    links.unsubscribe(&token).await.unwrap();
    links.unsubscribe(&token).await.unwrap();
    let profile = f.profiles.get_user(&ada).await.unwrap().profile.unwrap();
    assert_eq!(profile.preferences["marketing_emails"], json!(false));
    assert_eq!(
        profile.preferences["locale"],
        json!("de"),
        "nothing else changed"
    );
    assert!(matches!(
        links.unsubscribe("forged.token").await,
        Err(AppError::Validation { field: "token", .. })
    ));
    let expired = unsubscribe_token(&TestSigner, &ada, chrono::Utc::now().timestamp() - 1)
        .await
        .unwrap();
    assert!(links.check(&expired).await.is_err(), "an expired link");
}

#[tokio::test]
async fn a_provider_that_keeps_failing_opens_the_circuit_and_deliveries_wait_in_the_queue() {
    let f = fixture();
    *f.mail.failing.lock().unwrap() = Some(true);
    let mut handled = Vec::new();
    for _ in 0..5 {
        let id = user(&f, json!({})).await;
        handled.push(
            f.worker
                .handle(&message(
                    &id,
                    Channel::Email,
                    "security-alert",
                    json!({"message": "m"}),
                ))
                .await,
        );
    }
    // Three failures open it; the rest are queued again, not attempted.
    assert_eq!(handled[..3], [Handled::Retry; 3]);
    assert_eq!(handled[3..], [Handled::Done; 2]);
    let requeued = f.queue.queued.lock().unwrap().clone();
    assert_eq!(requeued.len(), 2);
    assert!(requeued.iter().all(|(_, delay)| (1..=30).contains(delay)));
    assert!(
        f.ledger.entries.lock().unwrap().is_empty(),
        "nothing claimed is left behind"
    );
}

#[tokio::test]
async fn an_abandoned_claim_is_recorded_as_unknown_and_never_sent_again() {
    let f = fixture();
    let ada = user(&f, json!({})).await;
    f.ledger.entries.lock().unwrap().insert(
        ("n-1".into(), ada.clone()),
        LedgerEntry::Claimed {
            at: chrono::Utc::now().timestamp() - 3600,
        },
    );
    let handled = f
        .worker
        .handle(&message(
            &ada,
            Channel::Email,
            "security-alert",
            json!({"message": "m"}),
        ))
        .await;
    assert_eq!(handled, Handled::Done);
    assert!(f.mail.sent.lock().unwrap().is_empty());
    let outcome = outcome(&f, &ada).unwrap();
    assert_eq!(outcome.status, DeliveryStatus::Failed);
    assert!(outcome.reason.unwrap().contains("outcome unknown"));
}

#[tokio::test]
async fn a_message_that_is_no_delivery_stays_for_the_dead_letter_queue_backing_off() {
    let f = fixture();
    let ada = user(&f, json!({})).await;
    let batch = [
        Received {
            id: "poison".into(),
            receipt_handle: "r-1".into(),
            receive_count: 3,
            body: "{not json".into(),
            correlation: Correlation::default(),
        },
        Received {
            id: "fine".into(),
            receipt_handle: "r-2".into(),
            receive_count: 1,
            correlation: Correlation::default(),
            body: message(
                &ada,
                Channel::Email,
                "security-alert",
                json!({"message": "m"}),
            ),
        },
    ];
    assert_eq!(f.worker.handle_batch(&batch).await, ["poison"]);
    assert_eq!(*f.queue.backed_off.lock().unwrap(), [("r-1".to_owned(), 4)]);
    assert_eq!(
        f.mail.sent.lock().unwrap().len(),
        1,
        "the rest of the batch is sent"
    );
}

#[test]
fn the_back_off_doubles_and_is_capped() {
    assert_eq!((1..=5).map(back_off).collect::<Vec<_>>(), [1, 2, 4, 8, 16]);
    assert_eq!(back_off(40), 300);
}

/// The producer and the status, over the same fakes.
mod producer;
