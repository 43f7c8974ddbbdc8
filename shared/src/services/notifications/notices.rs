//! Gatehouse's own notices (welcome, password changed, ...) through the same queue.

use super::*;

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
        let message = QueueMessage::Deliver(
            Delivery::of(id, recipient.clone(), Channel::Email, template, data).to_address(to),
        );
        let queued = crate::services::retry::with_retries(|| {
            self.queue.enqueue(std::slice::from_ref(&message))
        })
        .await;
        if let Err(err) = queued {
            tracing::error!(template, user_id = %recipient, error = %err, "notice lost");
        }
    }

    /// A notice id unique to this moment (two changes, two notices).
    pub fn moment_id(kind: &str, user: &UserId) -> String {
        format!("{kind}-{user}-{}", chrono::Utc::now().timestamp_millis())
    }
}
