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

use super::*;

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
                QueueMessage::Deliver(Delivery::of(
                    page.notification_id.clone(),
                    recipient,
                    page.channel,
                    page.template.clone(),
                    page.data.clone(),
                ))
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
        crate::services::retry::with_retries(|| {
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
