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
use crate::metrics::{self, Metric, NotificationOutcome};
use crate::ports::notify::{
    Claim, DeliveryLedger, DeliveryQueue, DeliveryStatus, Expansion, KeyUse, Mailer,
    NotificationRecord, NotificationStore, Outcome, QueueMessage, SendFailure, SmsSender,
};
use crate::ports::{ProfileStore, TokenSigner};
use crate::telemetry::Correlation;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Members per fan-out page of a role send.
pub const ROLE_PAGE: usize = 100;

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
    /// The queue's `maxReceiveCount` (counts dead letters).
    pub max_receive_count: u32,
}

/// A message as the queue handed it over.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub receipt_handle: String,
    /// `ApproximateReceiveCount`: 1 the first time.
    pub receive_count: u32,
    pub body: String,
    /// The correlation id and trace header the message was sent with.
    pub correlation: Correlation,
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
    notifications: Arc<dyn NotificationStore>,
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
        notifications: Arc<dyn NotificationStore>,
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
            notifications,
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
            // Each message's log lines and the messages it queues carry the
            // correlation and trace of the request that queued it.
            let span = tracing::info_span!(
                "message",
                message_id = %m.id,
                correlation_id = %m.correlation.id,
                trace_header = m.correlation.trace_header.as_deref().unwrap_or_default(),
            );
            let handled = m
                .correlation
                .clone()
                .scope(async {
                    let handled = self.handle(&m.body).instrument(span.clone()).await;
                    // The queue's last receive: the next one moves it to the DLQ.
                    if handled == Handled::Retry
                        && m.receive_count >= self.settings.max_receive_count
                    {
                        span.in_scope(|| {
                            tracing::error!(receives = m.receive_count, "message dead-lettered")
                        });
                        metrics::record(Metric::Notification(NotificationOutcome::DeadLettered));
                    }
                    handled
                })
                .await;
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
            QueueMessage::Expand(page) => match self.expand(&page).await {
                Ok(handled) => handled,
                Err(err) => {
                    tracing::warn!(
                        notification_id = %page.notification_id,
                        page = page.page,
                        error = %err,
                        "fan-out page left for another try"
                    );
                    Handled::Retry
                }
            },
        }
    }

    /// One page of a role's members: their deliveries, then the next page.
    async fn expand(&self, page: &Expansion) -> Result<Handled, AppError> {
        match self
            .notifications
            .claim_page(&page.notification_id, page.page, self.settings.lease_secs)
            .await?
        {
            // Abandoned: taken over; the deliveries it queued are idempotent.
            Claim::Granted | Claim::Abandoned => {}
            Claim::Done => return Ok(Handled::Done),
            Claim::Busy => return Ok(Handled::Retry),
        }
        let (members, next) = self
            .notifications
            .role_members(&page.role, page.after.as_deref(), ROLE_PAGE)
            .await?;
        let mut messages: Vec<QueueMessage> = members
            .into_iter()
            .map(|recipient| {
                QueueMessage::Deliver(Delivery {
                    notification_id: page.notification_id.clone(),
                    recipient,
                    channel: page.channel,
                    template: page.template.clone(),
                    data: page.data.clone(),
                    to_address: None,
                })
            })
            .collect();
        if let Some(after) = next {
            messages.push(QueueMessage::Expand(Expansion {
                page: page.page + 1,
                after: Some(after),
                ..page.clone()
            }));
        }
        self.queue.enqueue(&messages).await?;
        self.notifications
            .page_done(&page.notification_id, page.page)
            .await?;
        Ok(Handled::Done)
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
        metrics::record(Metric::Notification(match status {
            DeliveryStatus::Sent => NotificationOutcome::Sent,
            DeliveryStatus::Suppressed => NotificationOutcome::Suppressed,
            DeliveryStatus::Failed => NotificationOutcome::Failed,
        }));
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

/// Gatehouse's own notices (welcome, password changed, address changed), on
/// the same queue and worker as every notification. Queuing one never fails
/// the user's request: a lost notice is logged as an error.
#[derive(Clone)]
pub struct Notices {
    queue: Arc<dyn DeliveryQueue>,
}

impl Notices {
    pub fn new(queue: Arc<dyn DeliveryQueue>) -> Self {
        Self { queue }
    }

    /// Queues `template` for `recipient` as notification `id` (a repeat of the
    /// same id is delivered once), to `to` instead of their current address
    /// when given.
    pub async fn send(
        &self,
        id: String,
        recipient: &UserId,
        template: &'static str,
        data: serde_json::Map<String, serde_json::Value>,
        to: Option<Email>,
    ) {
        let message = QueueMessage::Deliver(Delivery {
            notification_id: id,
            recipient: recipient.clone(),
            channel: Channel::Email,
            template: template.to_owned(),
            data,
            to_address: to,
        });
        let queued =
            super::auth::with_retries(|| self.queue.enqueue(std::slice::from_ref(&message))).await;
        if let Err(err) = queued {
            tracing::error!(template, user_id = %recipient, error = %err, "notice lost");
        }
    }

    /// A notice id unique to this moment (two changes, two notices).
    pub fn moment_id(kind: &str, user: &UserId) -> String {
        format!("{kind}-{user}-{}", chrono::Utc::now().timestamp_millis())
    }
}

/// Who gets a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    Users(Vec<UserId>),
    Role(crate::domain::Role),
}

/// `POST /notifications`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    pub recipients: Recipients,
    pub channel: Channel,
    pub template: String,
    pub data: serde_json::Map<String, serde_json::Value>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SendAccepted {
    pub notification_id: String,
    /// Recipients it was accepted for.
    pub accepted: u64,
}

/// `GET /notifications/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotificationView {
    pub notification_id: String,
    pub template: String,
    pub channel: Channel,
    /// `queued` while deliveries remain, `done` once every one ended.
    pub status: &'static str,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub counts: ViewCounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ViewCounts {
    pub queued: u64,
    pub sent: u64,
    pub suppressed: u64,
    pub failed: u64,
}

/// Sending notifications: checked (template, data, recipients), recorded, then
/// fanned out one queue message per recipient (a role page by page through
/// the queue itself). An idempotency key makes a repeat return the first
/// answer and send nothing new; the notification's id derives from the key,
/// so even a retry after a half-finished fan-out reaches each recipient once.
pub struct NotificationService {
    permissions: Arc<super::Permissions>,
    store: Arc<dyn NotificationStore>,
    queue: Arc<dyn DeliveryQueue>,
}

impl NotificationService {
    pub const MAX_RECIPIENTS: usize = 1000;
    pub const MAX_KEY: usize = 128;

    pub fn new(
        permissions: Arc<super::Permissions>,
        store: Arc<dyn NotificationStore>,
        queue: Arc<dyn DeliveryQueue>,
    ) -> Self {
        Self {
            permissions,
            store,
            queue,
        }
    }

    fn sender(subject: &crate::domain::Subject) -> crate::domain::permissions::Sender {
        use crate::domain::permissions::Sender;
        match subject {
            crate::domain::Subject::User(caller) => Sender::User(caller.user_id.clone()),
            crate::domain::Subject::Service { client_id, .. } => Sender::Service(client_id.clone()),
        }
    }

    /// The id a keyed request's notification gets: the same for every repeat.
    fn keyed_id(scope: &str, key: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{scope}\n{key}").as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    #[tracing::instrument(skip_all, fields(template = %request.template))]
    pub async fn send(
        &self,
        subject: &crate::domain::Subject,
        request: SendRequest,
    ) -> Result<SendAccepted, AppError> {
        use crate::domain::permissions::{actions, collections};
        self.permissions
            .authorise_subject(
                subject,
                actions::NOTIFICATIONS_SEND,
                super::Target::Collection(collections::NOTIFICATIONS),
            )
            .await?;
        Templates::shipped()?.check_sendable(&request.template, request.channel, &request.data)?;
        let recipients = match &request.recipients {
            Recipients::Users(users) => {
                let mut users = users.clone();
                users.sort();
                users.dedup();
                if users.is_empty() || users.len() > Self::MAX_RECIPIENTS {
                    return Err(AppError::validation(
                        "recipients",
                        "must name 1 to 1000 users, or a role",
                    ));
                }
                Recipients::Users(users)
            }
            role => role.clone(),
        };
        let sender = Self::sender(subject);
        let scope = serde_json::to_string(&sender).map_err(AppError::unexpected)?;
        let (notification_id, key) = match &request.idempotency_key {
            Some(key) => {
                if key.is_empty() || key.len() > Self::MAX_KEY || key.chars().any(char::is_control)
                {
                    return Err(AppError::validation(
                        "idempotency_key",
                        "must be 1 to 128 characters",
                    ));
                }
                let digest = Self::digest(&recipients, &request)?;
                match self.store.use_key(&scope, key, &digest).await? {
                    KeyUse::Fresh => {}
                    KeyUse::Answered(answer) => {
                        return serde_json::from_value(answer).map_err(AppError::unexpected);
                    }
                    KeyUse::InProgress => {
                        return Err(AppError::Conflict(
                            "a request with this idempotency key is still being answered",
                        ));
                    }
                    KeyUse::Mismatch => {
                        return Err(AppError::Conflict(
                            "this idempotency key was used for a different request",
                        ));
                    }
                }
                (Self::keyed_id(&scope, key), Some(key.clone()))
            }
            None => (uuid::Uuid::new_v4().to_string(), None),
        };
        let result = self
            .fan_out(&notification_id, sender, &recipients, &request)
            .await;
        match (&result, &key) {
            (Ok(accepted), Some(key)) => {
                let answer = serde_json::to_value(accepted).map_err(AppError::unexpected)?;
                self.store.key_answered(&scope, key, &answer).await?;
            }
            (Err(_), Some(key)) => {
                if let Err(err) = self.store.release_key(&scope, key).await {
                    tracing::error!(error = %err, "an idempotency key stays in progress until it expires");
                }
            }
            _ => {}
        }
        result
    }

    fn digest(recipients: &Recipients, request: &SendRequest) -> Result<String, AppError> {
        use sha2::Digest;
        let recipients = match recipients {
            Recipients::Users(users) => serde_json::json!({"users": users}),
            Recipients::Role(role) => serde_json::json!({"role": role}),
        };
        let canonical = serde_json::json!({
            "recipients": recipients,
            "channel": request.channel,
            "template": request.template,
            "data": request.data,
        })
        .to_string();
        Ok(sha2::Sha256::digest(canonical.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    async fn fan_out(
        &self,
        notification_id: &str,
        sender: crate::domain::permissions::Sender,
        recipients: &Recipients,
        request: &SendRequest,
    ) -> Result<SendAccepted, AppError> {
        let total = match recipients {
            Recipients::Users(users) => users.len() as u64,
            Recipients::Role(role) => self.store.count_role_members(role).await?,
        };
        self.store
            .create_notification(&NotificationRecord {
                id: notification_id.to_owned(),
                sender: Some(sender),
                template: request.template.clone(),
                channel: request.channel,
                total,
                created_at: chrono::Utc::now(),
            })
            .await?;
        let messages: Vec<QueueMessage> = match recipients {
            Recipients::Users(users) => users
                .iter()
                .map(|recipient| {
                    QueueMessage::Deliver(Delivery {
                        notification_id: notification_id.to_owned(),
                        recipient: recipient.clone(),
                        channel: request.channel,
                        template: request.template.clone(),
                        data: request.data.clone(),
                        to_address: None,
                    })
                })
                .collect(),
            Recipients::Role(role) => vec![QueueMessage::Expand(Expansion {
                notification_id: notification_id.to_owned(),
                role: role.clone(),
                channel: request.channel,
                template: request.template.clone(),
                data: request.data.clone(),
                page: 0,
                after: None,
            })],
        };
        self.queue.enqueue(&messages).await?;
        tracing::info!(notification_id, total, "notification accepted");
        Ok(SendAccepted {
            notification_id: notification_id.to_owned(),
            accepted: total,
        })
    }
}

/// `GET /notifications/{id}`: a notification's status and counts.
pub struct NotificationStatus {
    permissions: Arc<super::Permissions>,
    store: Arc<dyn NotificationStore>,
}

impl NotificationStatus {
    pub fn new(permissions: Arc<super::Permissions>, store: Arc<dyn NotificationStore>) -> Self {
        Self { permissions, store }
    }

    /// Its status, for its sender or whoever the policies allow (admins).
    pub async fn status(
        &self,
        subject: &crate::domain::Subject,
        id: &str,
    ) -> Result<NotificationView, AppError> {
        use crate::domain::permissions::actions;
        // Every notification id is a UUID (random, or derived from an
        // idempotency key): anything else names none, and never a table key.
        if id.len() != 36 || uuid::Uuid::try_parse(id).is_err() {
            return Err(AppError::validation(
                "id",
                "must be a notification id (a UUID)",
            ));
        }
        let found = self.store.notification(id).await?;
        let sender = found.as_ref().and_then(|(record, _)| record.sender.clone());
        self.permissions
            .authorise_subject(
                subject,
                actions::NOTIFICATIONS_READ,
                super::Target::Notification {
                    id,
                    sender: sender.as_ref(),
                },
            )
            .await?;
        let (record, counts) = found.ok_or(AppError::NotFound("notification"))?;
        let done = counts.sent + counts.suppressed + counts.failed;
        let queued = record.total.saturating_sub(done);
        Ok(NotificationView {
            notification_id: record.id,
            template: record.template,
            channel: record.channel,
            status: if queued == 0 { "done" } else { "queued" },
            created_at: record.created_at,
            counts: ViewCounts {
                queued,
                sent: counts.sent,
                suppressed: counts.suppressed,
                failed: counts.failed,
            },
        })
    }
}

/// One-click unsubscribe from marketing (RFC 8058): the link's signed token
/// names the user; following it turns `marketing_emails` off, no login needed.
pub struct UnsubscribeService {
    profiles: Arc<dyn ProfileStore>,
    links: Arc<dyn TokenSigner>,
}

impl UnsubscribeService {
    /// Rounds of re-reading a profile that changed meanwhile.
    const RACES: usize = 5;

    pub fn new(profiles: Arc<dyn ProfileStore>, links: Arc<dyn TokenSigner>) -> Self {
        Self { profiles, links }
    }

    /// The user a link is for; a forged, foreign or expired link is a 400.
    pub async fn check(&self, token: &str) -> Result<UserId, AppError> {
        unsubscribe_user(&*self.links, token)
            .await?
            .ok_or_else(|| AppError::validation("token", "this link is not valid or has expired"))
    }

    /// Turns marketing off for the link's user (again is fine).
    #[tracing::instrument(skip_all)]
    pub async fn unsubscribe(&self, token: &str) -> Result<(), AppError> {
        let user = self.check(token).await?;
        for _ in 0..Self::RACES {
            let Some(profile) = self.profiles.get_user(&user).await?.profile else {
                // The account is gone: nothing will be sent to it anyway.
                return Ok(());
            };
            if profile.preferences.get("marketing_emails") == Some(&serde_json::Value::Bool(false))
            {
                return Ok(());
            }
            let mut preferences = profile.preferences.clone();
            preferences.insert("marketing_emails".into(), serde_json::Value::Bool(false));
            if self
                .profiles
                .update_profile(
                    &user,
                    profile.version,
                    profile.display_name.as_deref(),
                    &preferences,
                )
                .await?
            {
                tracing::info!(user_id = %user, "unsubscribed from marketing by link");
                return Ok(());
            }
        }
        Err(AppError::Conflict(
            "the profile kept changing; try the link again",
        ))
    }
}

/// SES bounce and complaint events (through SNS and a queue): the addresses
/// they name are marked undeliverable, so later sends to them are suppressed.
pub struct FeedbackService {
    ledger: Arc<dyn DeliveryLedger>,
}

impl FeedbackService {
    pub fn new(ledger: Arc<dyn DeliveryLedger>) -> Self {
        Self { ledger }
    }

    /// One queue message: an SNS notification whose `Message` is the SES event
    /// (or, with raw delivery, the event itself).
    pub async fn handle(&self, body: &str) -> Handled {
        let Ok(outer) = serde_json::from_str::<serde_json::Value>(body) else {
            tracing::error!("an SES feedback message that is not JSON");
            return Handled::Retry;
        };
        let event = match outer["Message"].as_str() {
            Some(inner) => match serde_json::from_str(inner) {
                Ok(event) => event,
                Err(_) => {
                    tracing::error!("an SNS notification whose message is not an SES event");
                    return Handled::Retry;
                }
            },
            None => outer,
        };
        for (address, reason) in crate::domain::notifications::undeliverable_from(&event) {
            if let Err(err) = self.ledger.mark_undeliverable(&address, &reason).await {
                tracing::warn!(error = %err, "an undeliverable address left for another try");
                return Handled::Retry;
            }
            tracing::info!(%reason, "address marked undeliverable");
        }
        Handled::Done
    }

    /// A batch; the ids of the messages to keep.
    pub async fn handle_batch<'a>(&self, messages: &'a [Received]) -> Vec<&'a str> {
        let mut kept = Vec::new();
        for message in messages {
            if self.handle(&message.body).await == Handled::Retry {
                kept.push(message.id.as_str());
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
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
        let service =
            NotificationService::new(permissions.clone(), notifications.clone(), queue.clone());
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
}

#[cfg(test)]
mod producer_tests {
    use super::tests::{Fixture, fixture};
    use super::*;
    use crate::domain::{AccessToken, Caller, NewProfile, Role, Subject};
    use serde_json::json;

    async fn user(f: &Fixture, roles: &[&str]) -> UserId {
        let id = UserId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
        f.profiles
            .create_profile(&NewProfile {
                user_id: id.clone(),
                email: Email::parse(&format!("{id}@example.com")).unwrap(),
                display_name: None,
                roles: roles.iter().map(|r| Role::parse(r).unwrap()).collect(),
                admin_grant: false,
                created_at: chrono::Utc::now(),
            })
            .await
            .unwrap();
        id
    }

    fn as_user(id: &UserId) -> Subject {
        Subject::User(Caller {
            user_id: id.clone(),
            username: id.as_str().to_owned(),
            groups: vec![],
            issued_at: chrono::Utc::now().timestamp(),
            access_token: AccessToken::parse("eyJ.test").unwrap(),
        })
    }

    fn request(recipients: Recipients, key: Option<&str>) -> SendRequest {
        SendRequest {
            recipients,
            channel: Channel::Email,
            template: "security-alert".into(),
            data: json!({"message": "m"}).as_object().cloned().unwrap(),
            idempotency_key: key.map(str::to_owned),
        }
    }

    /// Runs the worker over everything queued until the queue is empty.
    async fn drain(f: &Fixture) {
        loop {
            let batch: Vec<_> = std::mem::take(&mut *f.queue.queued.lock().unwrap());
            if batch.is_empty() {
                return;
            }
            for (message, _) in batch {
                let body = serde_json::to_string(&message).unwrap();
                assert_eq!(f.worker.handle(&body).await, Handled::Done);
            }
        }
    }

    #[tokio::test]
    async fn only_callers_the_policies_allow_may_send() {
        let f = fixture();
        let plain = user(&f, &["user"]).await;
        let err = f
            .service
            .send(
                &as_user(&plain),
                request(Recipients::Users(vec![plain.clone()]), None),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
        let unscoped = Subject::Service {
            client_id: "svc".into(),
            scopes: vec!["gatehouse/permissions.check".into()],
        };
        assert!(matches!(
            f.service
                .send(
                    &unscoped,
                    request(Recipients::Users(vec![plain.clone()]), None)
                )
                .await,
            Err(AppError::Forbidden(_))
        ));
        let scoped = Subject::Service {
            client_id: "svc".into(),
            scopes: vec!["gatehouse/notifications.send".into()],
        };
        let accepted = f
            .service
            .send(
                &scoped,
                request(Recipients::Users(vec![plain.clone(), plain]), None),
            )
            .await
            .unwrap();
        assert_eq!(accepted.accepted, 1, "recipients are counted once");
    }

    #[tokio::test]
    async fn bad_sends_are_refused_before_anything_is_queued() {
        let f = fixture();
        let admin = user(&f, &["admin"]).await;
        let as_admin = as_user(&admin);
        let mut unknown = request(Recipients::Users(vec![admin.clone()]), None);
        unknown.template = "nope".into();
        assert!(matches!(
            f.service.send(&as_admin, unknown).await,
            Err(AppError::Validation {
                field: "template",
                ..
            })
        ));
        let mut missing = request(Recipients::Users(vec![admin.clone()]), None);
        missing.data = serde_json::Map::new();
        assert!(matches!(
            f.service.send(&as_admin, missing).await,
            Err(AppError::Validation { field: "data", .. })
        ));
        let many: Vec<UserId> = (0..1001)
            .map(|_| UserId::parse(&uuid::Uuid::new_v4().to_string()).unwrap())
            .collect();
        assert!(matches!(
            f.service
                .send(&as_admin, request(Recipients::Users(many), None))
                .await,
            Err(AppError::Validation {
                field: "recipients",
                ..
            })
        ));
        assert!(f.queue.queued.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_role_fans_out_page_by_page_and_the_status_counts_every_delivery() {
        let f = fixture();
        let admin = user(&f, &["admin"]).await;
        for _ in 0..(2 * ROLE_PAGE + 5) {
            user(&f, &["beta"]).await;
        }
        let accepted = f
            .service
            .send(
                &as_user(&admin),
                request(Recipients::Role(Role::parse("beta").unwrap()), None),
            )
            .await
            .unwrap();
        assert_eq!(accepted.accepted, 2 * ROLE_PAGE as u64 + 5);
        let status = f
            .status
            .status(&as_user(&admin), &accepted.notification_id)
            .await
            .unwrap();
        assert_eq!(status.status, "queued");
        drain(&f).await;
        assert_eq!(f.mail.sent.lock().unwrap().len(), 2 * ROLE_PAGE + 5);
        let status = f
            .status
            .status(&as_user(&admin), &accepted.notification_id)
            .await
            .unwrap();
        assert_eq!(status.status, "done");
        assert_eq!(status.counts.sent, 2 * ROLE_PAGE as u64 + 5);
        assert_eq!(status.counts.queued, 0);
    }

    #[tokio::test]
    async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
        let f = fixture();
        let admin = user(&f, &["admin"]).await;
        let bob = user(&f, &["user"]).await;
        let first = f
            .service
            .send(
                &as_user(&admin),
                request(Recipients::Users(vec![bob.clone()]), Some("k-1")),
            )
            .await
            .unwrap();
        let queued = f.queue.queued.lock().unwrap().len();
        let again = f
            .service
            .send(
                &as_user(&admin),
                request(Recipients::Users(vec![bob.clone()]), Some("k-1")),
            )
            .await
            .unwrap();
        assert_eq!(again, first);
        assert_eq!(
            f.queue.queued.lock().unwrap().len(),
            queued,
            "nothing new queued"
        );
        let mut other = request(Recipients::Users(vec![bob.clone()]), Some("k-1"));
        other.data = json!({"message": "different"})
            .as_object()
            .cloned()
            .unwrap();
        assert!(matches!(
            f.service.send(&as_user(&admin), other).await,
            Err(AppError::Conflict(_))
        ));
        // Bob may not read the admin's notification; the admin may.
        assert!(matches!(
            f.status
                .status(&as_user(&bob), &first.notification_id)
                .await,
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            f.status
                .status(&as_user(&admin), "00000000-0000-4000-8000-000000000000")
                .await,
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(
            f.status
                .status(&as_user(&bob), "00000000-0000-4000-8000-000000000000")
                .await,
            Err(AppError::Forbidden(_))
        ));
    }
}
