//! SES bounce and complaint events: an address that bounces or complains gets no more mail.

use super::*;

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
