//! `GET /notifications/{id}`: a notification's progress, for its sender.

use super::*;

/// `GET /notifications/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotificationView {
    pub notification_id: String,
    pub template: String,
    pub channel: Channel,
    pub status: NotificationState,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub counts: ViewCounts,
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationState {
    /// Deliveries remain.
    Queued,
    /// Every delivery ended (sent, suppressed or failed).
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ViewCounts {
    pub queued: u64,
    pub sent: u64,
    pub suppressed: u64,
    pub failed: u64,
}

/// `GET /notifications/{id}`: a notification's status and counts.
pub struct NotificationStatus {
    permissions: Arc<crate::services::Permissions>,
    store: Arc<dyn NotificationStore>,
}

impl NotificationStatus {
    pub fn new(
        permissions: Arc<crate::services::Permissions>,
        store: Arc<dyn NotificationStore>,
    ) -> Self {
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
                crate::services::Target::Notification {
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
            status: if queued == 0 {
                NotificationState::Done
            } else {
                NotificationState::Queued
            },
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
