//! Sending: `POST /notifications` checks, records and queues one message per recipient.

use super::*;

/// Members per fan-out page of a role send.
pub const ROLE_PAGE: usize = 100;

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
    /// Only check the request and count its audience ([`NotificationService::audience`]).
    pub dry_run: bool,
}

/// A dry run's answer: who a send would target (before each recipient's
/// preferences and unsubscribes, which delivery honours).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AudienceSize {
    pub dry_run: bool,
    pub targeted: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SendAccepted {
    pub notification_id: String,
    /// Recipients it was accepted for.
    pub accepted: u64,
}

/// Sending notifications: checked (template, data, recipients), recorded, then
/// fanned out one queue message per recipient (a role page by page through
/// the queue itself). An idempotency key makes a repeat return the first
/// answer and send nothing new; the notification's id derives from the key,
/// so even a retry after a half-finished fan-out reaches each recipient once.
pub struct NotificationService {
    permissions: Arc<crate::services::Permissions>,
    store: Arc<dyn NotificationStore>,
    queue: Arc<dyn DeliveryQueue>,
    /// The most recipients one sender may target per UTC day
    /// (`NotificationDailyAudience`).
    daily_audience: u64,
}

impl NotificationService {
    pub const MAX_RECIPIENTS: usize = 1000;
    pub const MAX_KEY: usize = 128;

    pub fn new(
        permissions: Arc<crate::services::Permissions>,
        store: Arc<dyn NotificationStore>,
        queue: Arc<dyn DeliveryQueue>,
        daily_audience: u64,
    ) -> Self {
        Self {
            permissions,
            store,
            queue,
            daily_audience,
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

    /// What every send is checked for first: the caller's right to send, the
    /// template and its data, the recipients (distinct, 1 to 1000 users).
    async fn checked(
        &self,
        subject: &crate::domain::Subject,
        request: &SendRequest,
    ) -> Result<Recipients, AppError> {
        use crate::domain::permissions::{actions, collections};
        self.permissions
            .authorise_subject(
                subject,
                actions::NOTIFICATIONS_SEND,
                crate::services::Target::Collection(collections::NOTIFICATIONS),
            )
            .await?;
        Templates::shipped()?.check_sendable(&request.template, request.channel, &request.data)?;
        if let Some(key) = &request.idempotency_key
            && (key.is_empty() || key.len() > Self::MAX_KEY || key.chars().any(char::is_control))
        {
            return Err(AppError::validation(
                "idempotency_key",
                "must be 1 to 128 characters",
            ));
        }
        match &request.recipients {
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
                Ok(Recipients::Users(users))
            }
            role => Ok(role.clone()),
        }
    }

    /// `dry_run: true`: the request checked as a send is, and its audience
    /// counted; nothing is recorded, queued or sent.
    #[tracing::instrument(skip_all, fields(template = %request.template))]
    pub async fn audience(
        &self,
        subject: &crate::domain::Subject,
        request: &SendRequest,
    ) -> Result<AudienceSize, AppError> {
        let recipients = self.checked(subject, request).await?;
        let targeted = self.count(&recipients).await?;
        // A real send leaves a record naming its sender; a dry run leaves this.
        tracing::info!(
            sender = ?Self::sender(subject),
            role = match &recipients {
                Recipients::Role(role) => role.as_str(),
                Recipients::Users(_) => "",
            },
            targeted,
            "dry run counted an audience"
        );
        Ok(AudienceSize {
            dry_run: true,
            targeted,
        })
    }

    async fn count(&self, recipients: &Recipients) -> Result<u64, AppError> {
        match recipients {
            Recipients::Users(users) => Ok(users.len() as u64),
            Recipients::Role(role) => self.store.count_role_members(role).await,
        }
    }

    #[tracing::instrument(skip_all, fields(template = %request.template))]
    pub async fn send(
        &self,
        subject: &crate::domain::Subject,
        request: SendRequest,
    ) -> Result<SendAccepted, AppError> {
        if request.dry_run {
            return Err(AppError::unexpected("a dry run reached send"));
        }
        let recipients = self.checked(subject, &request).await?;
        let sender = Self::sender(subject);
        let scope = serde_json::to_string(&sender).map_err(AppError::unexpected)?;
        let (notification_id, key) = match &request.idempotency_key {
            Some(key) => {
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
        let total = self.count(recipients).await?;
        // The sender's day: this audience fits in what is left, or nothing is sent.
        let now = chrono::Utc::now();
        let scope = serde_json::to_string(&sender).map_err(AppError::unexpected)?;
        if !self
            .store
            .take_audience(
                &scope,
                &now.format("%Y-%m-%d").to_string(),
                total,
                self.daily_audience,
            )
            .await?
        {
            let midnight = (now.date_naive() + chrono::Days::new(1))
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc();
            return Err(AppError::TooManyRequests {
                retry_after: (midnight - now).to_std().ok(),
            });
        }
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
                    QueueMessage::Deliver(Delivery::of(
                        notification_id,
                        recipient.clone(),
                        request.channel,
                        request.template.clone(),
                        request.data.clone(),
                    ))
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
