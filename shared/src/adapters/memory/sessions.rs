//! Session cut-offs and SMS passes in memory.

use super::*;
use crate::domain::session::{SIGN_IN_TOUCH_MS, SessionCutoff, SignInRecord};

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
    cutoffs: Mutex<HashMap<UserId, SessionCutoff>>,
    sign_ins: Mutex<HashMap<UserId, Vec<SignInRecord>>>,
    devices: Mutex<HashMap<UserId, std::collections::BTreeMap<String, i64>>>,
}

#[async_trait]
impl SessionStore for InMemorySessions {
    async fn cutoff(&self, user_id: &UserId) -> Result<SessionCutoff, AppError> {
        Ok(lock(&self.cutoffs)
            .get(user_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn revoke_sessions(&self, user_id: &UserId, cutoff: i64) -> Result<(), AppError> {
        let mut cutoffs = lock(&self.cutoffs);
        let entry = cutoffs.entry(user_id.clone()).or_default();
        if entry.revoked_before.is_none_or(|c| c < cutoff) {
            entry.revoked_before = Some(cutoff);
        }
        Ok(())
    }

    async fn end_sign_in(&self, user_id: &UserId, sign_in: &str, now: i64) -> Result<(), AppError> {
        let mut cutoffs = lock(&self.cutoffs);
        let entry = cutoffs.entry(user_id.clone()).or_default();
        entry.ended = entry.ending(sign_in, now);
        Ok(())
    }

    async fn record_sign_in(
        &self,
        user_id: &UserId,
        sign_in: &SignInRecord,
    ) -> Result<(), AppError> {
        let mut all = lock(&self.sign_ins);
        let mine = all.entry(user_id.clone()).or_default();
        mine.retain(|r| r.id != sign_in.id);
        mine.push(sign_in.clone());
        Ok(())
    }

    async fn sign_ins(&self, user_id: &UserId, now: i64) -> Result<Vec<SignInRecord>, AppError> {
        let records = lock(&self.sign_ins)
            .get(user_id)
            .cloned()
            .unwrap_or_default();
        Ok(crate::domain::session::live_newest_first(records, now))
    }

    async fn touch_sign_in(
        &self,
        user_id: &UserId,
        sign_in: &str,
        now: i64,
    ) -> Result<(), AppError> {
        if let Some(record) = lock(&self.sign_ins)
            .get_mut(user_id)
            .and_then(|all| all.iter_mut().find(|r| r.id == sign_in))
            && record.last_used_at <= now - SIGN_IN_TOUCH_MS
        {
            record.last_used_at = now;
        }
        Ok(())
    }

    async fn forget_sign_in(&self, user_id: &UserId, sign_in: &str) -> Result<(), AppError> {
        if let Some(all) = lock(&self.sign_ins).get_mut(user_id) {
            all.retain(|r| r.id != sign_in);
        }
        Ok(())
    }

    async fn forget_sign_ins(&self, user_id: &UserId) -> Result<(), AppError> {
        lock(&self.sign_ins).remove(user_id);
        Ok(())
    }

    async fn known_devices(
        &self,
        user_id: &UserId,
    ) -> Result<Option<std::collections::BTreeMap<String, i64>>, AppError> {
        Ok(lock(&self.devices).get(user_id).cloned())
    }

    async fn remember_devices(
        &self,
        user_id: &UserId,
        devices: &std::collections::BTreeMap<String, i64>,
    ) -> Result<(), AppError> {
        lock(&self.devices).insert(user_id.clone(), devices.clone());
        Ok(())
    }
}
