//! The audit trail in memory.

use super::*;

/// The audit trail, newest first.
#[derive(Default)]
pub struct InMemoryAuditLog {
    events: Mutex<Vec<AuditEvent>>,
}

impl InMemoryAuditLog {
    /// The actions recorded for a user, oldest first.
    pub fn actions_of(&self, user_id: &UserId) -> Vec<crate::domain::audit::AuditAction> {
        lock(&self.events)
            .iter()
            .filter(|e| &e.user_id == user_id)
            .map(|e| e.action)
            .collect()
    }
}

#[async_trait]
impl AuditLog for InMemoryAuditLog {
    async fn record(&self, event: &AuditEvent, _retention_days: u32) -> Result<(), AppError> {
        lock(&self.events).push(event.clone());
        Ok(())
    }

    async fn events(
        &self,
        user_id: &UserId,
        before: Option<&AuditPosition>,
        limit: usize,
    ) -> Result<(Vec<AuditEvent>, Option<AuditPosition>), AppError> {
        let key = |e: &AuditEvent| (e.at, e.id.clone());
        let mut mine: Vec<AuditEvent> = lock(&self.events)
            .iter()
            .filter(|e| &e.user_id == user_id)
            .filter(|e| before.is_none_or(|b| key(e) < (b.at, b.id.clone())))
            .cloned()
            .collect();
        mine.sort_by_key(|e| std::cmp::Reverse(key(e)));
        let more = mine.len() > limit;
        mine.truncate(limit);
        let next = more
            .then(|| {
                mine.last().map(|e| AuditPosition {
                    at: e.at,
                    id: e.id.clone(),
                })
            })
            .flatten();
        Ok((mine, next))
    }
}
