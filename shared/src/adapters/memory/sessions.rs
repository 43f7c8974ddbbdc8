//! Session cut-offs and SMS passes in memory.

use super::*;

/// SMS passes: user id to (phone, expires_at).
#[derive(Default)]
pub struct InMemorySmsPasses {
    passes: Mutex<HashMap<UserId, (String, i64)>>,
}

#[async_trait]
impl crate::ports::SmsPasses for InMemorySmsPasses {
    async fn grant(&self, user_id: &UserId, phone: &str, expires_at: i64) -> Result<(), AppError> {
        lock(&self.passes).insert(user_id.clone(), (phone.to_owned(), expires_at));
        Ok(())
    }

    async fn spend(&self, user_id: &UserId, phone: &str, now: i64) -> Result<bool, AppError> {
        let mut passes = lock(&self.passes);
        let open = passes
            .get(user_id)
            .is_some_and(|(granted, until)| granted == phone && *until > now);
        if open {
            passes.remove(user_id);
        }
        Ok(open)
    }
}

#[derive(Default)]
pub struct InMemorySessions {
    cutoffs: Mutex<HashMap<UserId, i64>>,
}

#[async_trait]
impl SessionStore for InMemorySessions {
    async fn sessions_revoked_before(&self, user_id: &UserId) -> Result<Option<i64>, AppError> {
        Ok(lock(&self.cutoffs).get(user_id).copied())
    }

    async fn revoke_sessions(&self, user_id: &UserId, cutoff: i64) -> Result<(), AppError> {
        let mut cutoffs = lock(&self.cutoffs);
        let entry = cutoffs.entry(user_id.clone()).or_insert(cutoff);
        *entry = (*entry).max(cutoff);
        Ok(())
    }
}
