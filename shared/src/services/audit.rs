//! Recording audit events. Writing one never fails the user's request: a lost
//! event is logged as an error (and alarms on it belong to operations).

use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::{Origin, UserId};
use crate::ports::{AuditLog, ProfileStore};
use std::sync::Arc;

#[derive(Clone)]
pub struct Audit {
    log: Arc<dyn AuditLog>,
    retention_days: u32,
}

impl Audit {
    pub fn new(log: Arc<dyn AuditLog>, retention_days: u32) -> Self {
        Self {
            log,
            retention_days,
        }
    }

    pub async fn record(&self, event: AuditEvent) {
        if let Err(err) = self.log.record(&event, self.retention_days).await {
            tracing::error!(
                action = ?event.action,
                user_id = %event.user_id,
                error = %err,
                "audit event lost"
            );
        }
    }

    /// An event by the user themself.
    pub async fn user(&self, user_id: &UserId, action: AuditAction, origin: Option<&Origin>) {
        self.record(AuditEvent::new(user_id.clone(), action, origin))
            .await;
    }

    /// An event about the account with this email, if it has one (a failed or
    /// refused login names an email, not a user).
    pub async fn by_email(
        &self,
        store: &dyn ProfileStore,
        email: &crate::domain::Email,
        action: AuditAction,
        origin: &Origin,
    ) {
        match store.user_id_by_email(email).await {
            Ok(Some(user_id)) => self.user(&user_id, action, Some(origin)).await,
            Ok(None) => {}
            Err(err) => tracing::error!(?action, error = %err, "audit event lost"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppError;
    use crate::domain::audit::AuditPosition;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A trail whose writes always fail, as when DynamoDB refuses them.
    #[derive(Default)]
    struct FailingLog(AtomicUsize);

    #[async_trait]
    impl AuditLog for FailingLog {
        async fn record(&self, _: &AuditEvent, _: u32) -> Result<(), AppError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(AppError::unexpected("the table refused the write"))
        }

        async fn events(
            &self,
            _: &UserId,
            _: Option<&AuditPosition>,
            _: usize,
        ) -> Result<(Vec<AuditEvent>, Option<AuditPosition>), AppError> {
            Ok((vec![], None))
        }
    }

    #[tokio::test]
    async fn a_lost_event_never_fails_the_request() {
        let log = Arc::new(FailingLog::default());
        let audit = Audit::new(log.clone(), 30);
        let user = UserId::parse("8f452769-9947-4d75-8113-c328cafb5d5f").unwrap();
        // Returns (), whatever the store said: the caller's request goes on.
        audit.user(&user, AuditAction::LoggedOut, None).await;
        assert_eq!(log.0.load(Ordering::SeqCst), 1, "the write was attempted");
    }
}
