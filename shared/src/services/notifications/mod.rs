//! Notifications: sending (`producer`), the delivery worker behind the queue
//! (`worker`, with a `breaker` per provider), a notification's progress
//! (`status`), Gatehouse's own `notices`, one-click `unsubscribe`, and SES
//! `feedback`. One file per reason to change.

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

mod breaker;
mod feedback;
mod notices;
mod producer;
mod status;
mod unsubscribe;
mod worker;

pub use breaker::Breaker;
pub use feedback::FeedbackService;
pub use notices::Notices;
pub use producer::{
    AudienceSize, NotificationService, ROLE_PAGE, Recipients, SendAccepted, SendRequest,
};
pub use status::{NotificationState, NotificationStatus, NotificationView};
pub use unsubscribe::{UnsubscribeService, unsubscribe_token, unsubscribe_user};
pub use worker::{DeliverySettings, DeliveryWorker, Handled, Received, back_off};

#[cfg(test)]
mod tests;
