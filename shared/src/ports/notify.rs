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
}
