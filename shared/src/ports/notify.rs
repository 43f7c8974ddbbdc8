//! What notifications need: the delivery queue, the providers (email, SMS), and
//! the ledger that makes each delivery happen at most once.

use crate::domain::notifications::{Delivery, RenderedEmail};
use crate::domain::{AppError, Email, UserId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Why a provider did not take a message.
#[derive(Debug)]
pub enum SendFailure {
    /// Throttling, a provider error or an outage: worth another try later.
    Transient(AppError),
    /// The provider refused this message (a malformed or blocked address):
    /// no retry would change that.
    Rejected(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one email; the provider's message id. `unsubscribe` (a marketing
    /// message's one-click link) goes in `List-Unsubscribe` with
    /// `List-Unsubscribe-Post` (RFC 8058).
    async fn send_email(
        &self,
        to: &Email,
        mail: &RenderedEmail,
        unsubscribe: Option<&str>,
    ) -> Result<String, SendFailure>;
}

#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Sends one SMS to an E.164 number; the provider's message id.
    async fn send_sms(&self, to: &str, text: &str) -> Result<String, SendFailure>;
}

/// A message on the delivery queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueueMessage {
    /// One recipient's delivery.
    Deliver(Delivery),
    /// The next page of a role's members to fan out to.
    Expand(Expansion),
}

/// A role send, page by page: the worker queues this page's deliveries and
/// the next page, so a role of any size fans out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expansion {
    pub notification_id: String,
    pub role: crate::domain::Role,
    pub channel: crate::domain::notifications::Channel,
    pub template: String,
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
    pub page: u32,
    /// Where the previous page ended.
    #[serde(default)]
    pub after: Option<String>,
}

#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Queues every message (in batches; entries the queue reports as failed are
    /// sent again), or fails having queued an unknown part: the ledger makes a
    /// repeat of the whole call harmless.
    async fn enqueue(&self, messages: &[QueueMessage]) -> Result<(), AppError>;

    /// Queues one message to be received no sooner than `delay_secs` from now
    /// (at most 900).
    async fn enqueue_later(&self, message: &QueueMessage, delay_secs: u32) -> Result<(), AppError>;

    /// Makes a received message visible again in `delay_secs` (a retry's
    /// back-off) instead of after the queue's whole visibility timeout.
    async fn retry_after(&self, receipt_handle: &str, delay_secs: u32) -> Result<(), AppError>;
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Sent,
    Suppressed,
    Failed,
}

impl DeliveryStatus {
    /// The serde name, for stores that keep it as a plain string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Suppressed => "suppressed",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: DeliveryStatus,
    pub reason: Option<String>,
    pub provider_id: Option<String>,
}

/// The answer to "may this worker send this delivery now?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Yes: nobody has; the claim is this worker's until it finishes or releases.
    Granted,
    /// It has finished already (a redelivered message): nothing to do.
    Done,
    /// Another worker's claim is still live: try later.
    Busy,
    /// A claim whose lease ran out without an outcome: the worker stopped
    /// between claiming and recording, so it may or may not have been sent.
    Abandoned,
}

#[async_trait]
pub trait DeliveryLedger: Send + Sync {
    /// Claims the delivery of `notification_id` to `recipient` for `lease_secs`.
    async fn claim(
        &self,
        notification_id: &str,
        recipient: &UserId,
        lease_secs: i64,
    ) -> Result<Claim, AppError>;

    /// Gives a granted claim back (nothing was sent): the next try claims anew.
    async fn release(&self, notification_id: &str, recipient: &UserId) -> Result<(), AppError>;

    /// Records the outcome (once: a second record of the same delivery changes
    /// nothing) and counts it on the notification.
    async fn finish(
        &self,
        notification_id: &str,
        recipient: &UserId,
        outcome: &Outcome,
    ) -> Result<(), AppError>;

    /// Whether SES reported `address` as bouncing or complaining.
    async fn undeliverable(&self, address: &Email) -> Result<bool, AppError>;

    /// Records that SES reported `address` as bouncing or complaining.
    async fn mark_undeliverable(&self, address: &Email, reason: &str) -> Result<(), AppError>;
}

/// A notification as its sender made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub id: String,
    /// `None` for Gatehouse's own notices.
    pub sender: Option<crate::domain::permissions::Sender>,
    pub template: String,
    pub channel: crate::domain::notifications::Channel,
    /// Recipients it was accepted for.
    pub total: u64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// How its deliveries ended so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCounts {
    pub sent: u64,
    pub suppressed: u64,
    pub failed: u64,
}

/// What an idempotency key found.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyUse {
    /// First use: go on, then [`NotificationStore::key_answered`].
    Fresh,
    /// Used before with the same request: its answer.
    Answered(serde_json::Value),
    /// Used before with the same request, still being answered.
    InProgress,
    /// Used before with a different request.
    Mismatch,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    async fn create_notification(&self, record: &NotificationRecord) -> Result<(), AppError>;

    async fn notification(
        &self,
        id: &str,
    ) -> Result<Option<(NotificationRecord, DeliveryCounts)>, AppError>;

    /// Up to `limit` members of `role` after `after` (a position this call
    /// handed out), and where the page ended if more may follow.
    async fn role_members(
        &self,
        role: &crate::domain::Role,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<UserId>, Option<String>), AppError>;

    async fn count_role_members(&self, role: &crate::domain::Role) -> Result<u64, AppError>;

    /// Claims fanning out page `page` of a role send, as the ledger claims a
    /// delivery: a redelivered expansion finds it done (or busy), and one whose
    /// worker stopped half-way is taken over (its deliveries are idempotent).
    async fn claim_page(
        &self,
        notification_id: &str,
        page: u32,
        lease_secs: i64,
    ) -> Result<Claim, AppError>;

    /// The page's deliveries and the next page are queued.
    async fn page_done(&self, notification_id: &str, page: u32) -> Result<(), AppError>;

    /// Starts using `key` (per sender) for a request with this digest.
    async fn use_key(&self, scope: &str, key: &str, digest: &str) -> Result<KeyUse, AppError>;

    /// Stores the answer a key's request got, for its replays.
    async fn key_answered(
        &self,
        scope: &str,
        key: &str,
        answer: &serde_json::Value,
    ) -> Result<(), AppError>;

    /// Forgets a key whose request failed, so a retry can use it again.
    async fn release_key(&self, scope: &str, key: &str) -> Result<(), AppError>;

    /// Counts `audience` recipients against the sender's (`scope`) `day` if
    /// that keeps the day's total within `limit`; `false` (nothing counted)
    /// when it would not. Racing sends cannot both slip under the limit.
    async fn take_audience(
        &self,
        scope: &str,
        day: &str,
        audience: u64,
        limit: u64,
    ) -> Result<bool, AppError>;
}
