//! Delivering notifications: the worker behind the delivery queue.
//!
//! Each message is one recipient's delivery. The worker loads the recipient's
//! profile, skips (and records why) a recipient who opted out or whose address
//! bounces, renders the template in their language, claims the delivery in the
//! ledger, sends, and records the outcome. A redelivered message finds its
//! delivery finished and does nothing; a claim whose worker stopped between
//! sending and recording is never sent again (see [`Claim::Abandoned`]).
//! A circuit breaker per provider stops calling one that keeps failing: its
//! messages are queued again for later (as new messages, so a provider outage
//! does not spend their receive count toward the dead-letter queue).

use crate::domain::notifications::{
    Channel, Delivery, RecipientView, Skip, Templates, language_of, skip_for,
};
use crate::domain::{AppError, Email, UserId};
use crate::ports::notify::{
    Claim, DeliveryLedger, DeliveryQueue, DeliveryStatus, Mailer, Outcome, QueueMessage,
    SendFailure, SmsSender,
};
use crate::ports::{ProfileStore, TokenSigner};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Stops calling a provider that keeps failing. Closed: calls go through;
/// after `threshold` transient failures in a row it opens for `cooldown`; then
/// one trial call decides (a success closes it, a failure opens it again).
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Default)]
struct BreakerState {
    failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(BreakerState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(how long it stays open)` while open.
    pub fn allow(&self) -> Result<(), Duration> {
        match self.state().open_until {
            Some(until) if until > Instant::now() => Err(until - Instant::now()),
            _ => Ok(()),
        }
    }

    pub fn succeeded(&self) {
        let mut state = self.state();
        state.failures = 0;
        state.open_until = None;
    }

    pub fn failed(&self) {
        let mut state = self.state();
        state.failures += 1;
        // A failed trial after a cooldown opens it again at once.
        if state.failures >= self.threshold || state.open_until.is_some() {
            state.open_until = Some(Instant::now() + self.cooldown);
            tracing::warn!(
                failures = state.failures,
                cooldown_secs = self.cooldown.as_secs(),
                "provider circuit opened"
            );
        }
    }
}

/// How the worker treats failures; from the deployment's configuration.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// A claim's lease: longer than a delivery can take (the queue's visibility
    /// timeout), so a live claim is never taken for an abandoned one.
    pub lease_secs: i64,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    /// Where users reach the API, for the unsubscribe link.
    pub public_base_url: String,
    /// How long an unsubscribe link works.
    pub unsubscribe_valid_days: i64,
}

/// A message as the queue handed it over.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub receipt_handle: String,
    /// `ApproximateReceiveCount`: 1 the first time.
    pub receive_count: u32,
    pub body: String,
}

/// The wait before a message's next try: doubling from 1 s, at most 5 minutes.
pub fn back_off(receive_count: u32) -> u32 {
    1u32.checked_shl(receive_count.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(300)
}

/// What became of one queue message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Finished (sent, skipped, failed for good, or queued again for later):
    /// the message can go.
    Done,
    /// Not finished: the message stays on the queue for another try.
    Retry,
}

pub struct DeliveryWorker {
    profiles: Arc<dyn ProfileStore>,
    ledger: Arc<dyn DeliveryLedger>,
    queue: Arc<dyn DeliveryQueue>,
    mailer: Arc<dyn Mailer>,
    sms: Arc<dyn SmsSender>,
    links: Arc<dyn TokenSigner>,
    settings: DeliverySettings,
    email_breaker: Breaker,
    sms_breaker: Breaker,
}

impl DeliveryWorker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        profiles: Arc<dyn ProfileStore>,
        ledger: Arc<dyn DeliveryLedger>,
        queue: Arc<dyn DeliveryQueue>,
        mailer: Arc<dyn Mailer>,
        sms: Arc<dyn SmsSender>,
        links: Arc<dyn TokenSigner>,
        settings: DeliverySettings,
    ) -> Self {
        Self {
            email_breaker: Breaker::new(settings.breaker_threshold, settings.breaker_cooldown),
            sms_breaker: Breaker::new(settings.breaker_threshold, settings.breaker_cooldown),
            profiles,
            ledger,
            queue,
            mailer,
            sms,
            links,
            settings,
        }
    }

    fn breaker(&self, channel: Channel) -> &Breaker {
        match channel {
            Channel::Email => &self.email_breaker,
            Channel::Sms => &self.sms_breaker,
        }
    }

    /// Handles a batch concurrently; the ids of the messages to keep. Each
    /// kept message comes back after a back-off that doubles with its receive
    /// count (1 s, 2 s, 4 s, ...), not the queue's whole visibility timeout.
    pub async fn handle_batch<'a>(&self, messages: &'a [Received]) -> Vec<&'a str> {
        let handled = futures::future::join_all(messages.iter().map(|m| async move {
            let handled = self.handle(&m.body).await;
            if handled == Handled::Retry
                && let Err(err) = self
                    .queue
                    .retry_after(&m.receipt_handle, back_off(m.receive_count))
                    .await
            {
                // It comes back after the visibility timeout instead.
                tracing::warn!(error = %err, "cannot shorten a retry's wait");
            }
            (m.id.as_str(), handled)
        }))
        .await;
        handled
            .into_iter()
            .filter(|(_, h)| *h == Handled::Retry)
            .map(|(id, _)| id)
            .collect()
    }

    /// One message from the queue.
    pub async fn handle(&self, body: &str) -> Handled {
        let message: QueueMessage = match serde_json::from_str(body) {
            Ok(message) => message,
            Err(err) => {
                // Kept until the queue moves it to the dead-letter queue, where
                // an operator can look at it.
                tracing::error!(error = %err, "a queue message that is no delivery");
                return Handled::Retry;
            }
        };
        match message {
            QueueMessage::Deliver(delivery) => match self.deliver(&delivery).await {
                Ok(handled) => handled,
                Err(err) => {
                    tracing::warn!(
                        notification_id = %delivery.notification_id,
                        error = %err,
                        "delivery left for another try"
                    );
                    Handled::Retry
                }
            },
        }
    }

    async fn finish(
        &self,
        delivery: &Delivery,
        status: DeliveryStatus,
        reason: Option<&str>,
        provider_id: Option<String>,
    ) -> Result<Handled, AppError> {
        let outcome = Outcome {
            status,
            reason: reason.map(str::to_owned),
            provider_id,
        };
        super::auth::with_retries(|| {
            self.ledger
                .finish(&delivery.notification_id, &delivery.recipient, &outcome)
        })
        .await?;
        tracing::info!(
            notification_id = %delivery.notification_id,
            recipient = %delivery.recipient,
            channel = delivery.channel.as_str(),
            status = ?status,
            reason,
            "delivery finished"
        );
        Ok(Handled::Done)
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<Handled, AppError> {
        let templates = Templates::shipped()?;
        let Some(profile) = self.profiles.get_user(&delivery.recipient).await?.profile else {
            return self
                .finish(
                    delivery,
                    DeliveryStatus::Failed,
                    Some(Skip::NoSuchUser.reason()),
                    None,
                )
                .await;
        };
        let Some(info) = templates.info(&delivery.template) else {
            return self
                .finish(
                    delivery,
                    DeliveryStatus::Failed,
                    Some("no such template"),
                    None,
                )
                .await;
        };
        let address: Email = delivery
            .to_address
            .clone()
            .unwrap_or_else(|| profile.email.clone());
        let undeliverable =
            delivery.channel == Channel::Email && self.ledger.undeliverable(&address).await?;
        if let Some(skip) = skip_for(&profile, delivery.channel, info.category, undeliverable) {
            let status = if skip.is_suppression() {
                DeliveryStatus::Suppressed
            } else {
                DeliveryStatus::Failed
            };
            return self
                .finish(delivery, status, Some(skip.reason()), None)
                .await;
        }
        if let Err(open_for) = self.breaker(delivery.channel).allow() {
            // Queued again as a new message, for when the circuit may close.
            let delay = open_for.as_secs().clamp(1, 900) as u32;
            self.queue
                .enqueue_later(&QueueMessage::Deliver(delivery.clone()), delay)
                .await?;
            tracing::info!(
                notification_id = %delivery.notification_id,
                delay_secs = delay,
                "provider circuit open: delivery queued for later"
            );
            return Ok(Handled::Done);
        }
        let language = language_of(&profile);
        let recipient = RecipientView {
            display_name: profile.display_name.clone(),
            email: address.as_str().to_owned(),
        };
        let unsubscribe = match info.category {
            crate::domain::notifications::Category::Marketing => {
                Some(self.unsubscribe_link(&delivery.recipient).await?)
            }
            crate::domain::notifications::Category::Transactional => None,
        };
        // Rendering before claiming: a claim is held only around the send.
        let rendered = match delivery.channel {
            Channel::Email => templates
                .email(
                    &delivery.template,
                    language,
                    &delivery.data,
                    &recipient,
                    unsubscribe.as_deref(),
                )
                .map(Rendered::Email),
            Channel::Sms => templates
                .sms(&delivery.template, language, &delivery.data, &recipient)
                .map(Rendered::Sms),
        };
        let rendered = match rendered {
            Ok(rendered) => rendered,
            Err(err) => {
                let reason = format!("the template does not render: {err}");
                return self
                    .finish(delivery, DeliveryStatus::Failed, Some(&reason), None)
                    .await;
            }
        };
        match self
            .ledger
            .claim(
                &delivery.notification_id,
                &delivery.recipient,
                self.settings.lease_secs,
            )
            .await?
        {
            Claim::Granted => {}
            Claim::Done => return Ok(Handled::Done),
            Claim::Busy => return Ok(Handled::Retry),
            Claim::Abandoned => {
                return self
                    .finish(
                        delivery,
                        DeliveryStatus::Failed,
                        Some("outcome unknown: a worker stopped between claiming and recording; not sent again"),
                        None,
                    )
                    .await;
            }
        }
        let sent = match &rendered {
            Rendered::Email(mail) => {
                self.mailer
                    .send_email(&address, mail, unsubscribe.as_deref())
                    .await
            }
            Rendered::Sms(text) => {
                let number = profile.phone_number.as_deref().unwrap_or_default();
                self.sms.send_sms(number, text).await
            }
        };
        match sent {
            Ok(provider_id) => {
                self.breaker(delivery.channel).succeeded();
                self.finish(delivery, DeliveryStatus::Sent, None, Some(provider_id))
                    .await
            }
            Err(SendFailure::Rejected(reason)) => {
                self.breaker(delivery.channel).succeeded();
                self.finish(delivery, DeliveryStatus::Failed, Some(&reason), None)
                    .await
            }
            Err(SendFailure::Transient(err)) => {
                self.breaker(delivery.channel).failed();
                tracing::warn!(
                    notification_id = %delivery.notification_id,
                    channel = delivery.channel.as_str(),
                    error = %err,
                    "the provider did not take the message"
                );
                self.ledger
                    .release(&delivery.notification_id, &delivery.recipient)
                    .await?;
                Ok(Handled::Retry)
            }
        }
    }

    async fn unsubscribe_link(&self, user: &UserId) -> Result<String, AppError> {
        let token = unsubscribe_token(
            &*self.links,
            user,
            chrono::Utc::now().timestamp() + self.settings.unsubscribe_valid_days * 86_400,
        )
        .await?;
        Ok(format!(
            "{}/notifications/unsubscribe?token={token}",
            self.settings.public_base_url.trim_end_matches('/')
        ))
    }
}

enum Rendered {
    Email(crate::domain::notifications::RenderedEmail),
    Sms(String),
}

/// A signed, expiring token naming the user an unsubscribe link is for.
pub async fn unsubscribe_token(
    signer: &dyn TokenSigner,
    user: &UserId,
    expires_at: i64,
) -> Result<String, AppError> {
    use base64::Engine;
    let payload = format!("unsubscribe:{user}:{expires_at}");
    let signature = signer.sign(&payload).await?;
    Ok(format!(
        "{}.{signature}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload)
    ))
}

/// The user an unsubscribe token names, if it is genuine and unexpired.
pub async fn unsubscribe_user(
    signer: &dyn TokenSigner,
    token: &str,
) -> Result<Option<UserId>, AppError> {
    use base64::Engine;
    let Some((encoded, signature)) = token.split_once('.') else {
        return Ok(None);
    };
    let Some(payload) = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return Ok(None);
    };
    if !signer.verify(&payload, signature).await? {
        return Ok(None);
    }
    let mut parts = payload.splitn(3, ':');
    let (Some("unsubscribe"), Some(user), Some(expires)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let unexpired = expires
        .parse::<i64>()
        .is_ok_and(|at| at > chrono::Utc::now().timestamp());
    Ok(if unexpired {
        UserId::parse(user).ok()
    } else {
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{
        InMemoryLedger, InMemoryProfileStore, InMemoryQueue, LedgerEntry, RecordingProvider,
        TestSigner,
    };
    use crate::domain::notifications::Channel;
    use crate::domain::{NewProfile, Role};
    use serde_json::json;

    struct Fixture {
        profiles: Arc<InMemoryProfileStore>,
        ledger: Arc<InMemoryLedger>,
        queue: Arc<InMemoryQueue>,
        mail: Arc<RecordingProvider>,
        sms: Arc<RecordingProvider>,
        worker: DeliveryWorker,
    }

    fn fixture() -> Fixture {
        let profiles = Arc::new(InMemoryProfileStore::default());
        let ledger = Arc::new(InMemoryLedger::default());
        let queue = Arc::new(InMemoryQueue::default());
        let mail = Arc::new(RecordingProvider::default());
        let sms = Arc::new(RecordingProvider::default());
        let worker = DeliveryWorker::new(
            profiles.clone(),
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
            },
        );
        Fixture {
            profiles,
            ledger,
            queue,
            mail,
            sms,
            worker,
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
        serde_json::to_string(&QueueMessage::Deliver(Delivery {
            notification_id: "n-1".into(),
            recipient: recipient.clone(),
            channel,
            template: template.into(),
            data: data.as_object().cloned().unwrap_or_default(),
            to_address: None,
        }))
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
            },
            Received {
                id: "fine".into(),
                receipt_handle: "r-2".into(),
                receive_count: 1,
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
}
