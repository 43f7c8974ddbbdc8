//! The notification ports in memory: ledger, queue, notification records, and a provider that records what it sends.

use super::*;

/// One delivery in the fake ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerEntry {
    Claimed { at: i64 },
    Finished(crate::ports::notify::Outcome),
}

/// A claim on `key` for `lease_secs`, as the table's conditional put makes one.
fn claim_entry<K: Ord>(
    entries: &mut BTreeMap<K, LedgerEntry>,
    key: K,
    lease_secs: i64,
) -> crate::ports::notify::Claim {
    use crate::ports::notify::Claim;
    let now = Utc::now().timestamp();
    match entries.get(&key) {
        None => {
            entries.insert(key, LedgerEntry::Claimed { at: now });
            Claim::Granted
        }
        Some(LedgerEntry::Finished(_)) => Claim::Done,
        Some(LedgerEntry::Claimed { at }) if at + lease_secs > now => Claim::Busy,
        Some(LedgerEntry::Claimed { .. }) => Claim::Abandoned,
    }
}

#[derive(Default)]
pub struct InMemoryLedger {
    pub entries: Mutex<BTreeMap<(String, UserId), LedgerEntry>>,
    pub undeliverable: Mutex<Vec<Email>>,
}

#[async_trait]
impl crate::ports::notify::DeliveryLedger for InMemoryLedger {
    async fn claim(
        &self,
        notification_id: &str,
        recipient: &UserId,
        lease_secs: i64,
    ) -> Result<crate::ports::notify::Claim, AppError> {
        Ok(claim_entry(
            &mut lock(&self.entries),
            (notification_id.to_owned(), recipient.clone()),
            lease_secs,
        ))
    }

    async fn release(&self, notification_id: &str, recipient: &UserId) -> Result<(), AppError> {
        let mut entries = lock(&self.entries);
        let key = (notification_id.to_owned(), recipient.clone());
        if matches!(entries.get(&key), Some(LedgerEntry::Claimed { .. })) {
            entries.remove(&key);
        }
        Ok(())
    }

    async fn finish(
        &self,
        notification_id: &str,
        recipient: &UserId,
        outcome: &crate::ports::notify::Outcome,
    ) -> Result<(), AppError> {
        let mut entries = lock(&self.entries);
        let key = (notification_id.to_owned(), recipient.clone());
        if !matches!(entries.get(&key), Some(LedgerEntry::Finished(_))) {
            entries.insert(key, LedgerEntry::Finished(outcome.clone()));
        }
        Ok(())
    }

    async fn undeliverable(&self, address: &Email) -> Result<bool, AppError> {
        Ok(lock(&self.undeliverable).contains(address))
    }

    async fn mark_undeliverable(&self, address: &Email, _reason: &str) -> Result<(), AppError> {
        let mut list = lock(&self.undeliverable);
        if !list.contains(address) {
            list.push(address.clone());
        }
        Ok(())
    }
}

/// The queue as a list: what was queued, and with which delay.
#[derive(Default)]
pub struct InMemoryQueue {
    pub queued: Mutex<Vec<(crate::ports::notify::QueueMessage, u32)>>,
    /// Receipt handles given a back-off, with it.
    pub backed_off: Mutex<Vec<(String, u32)>>,
}

#[async_trait]
impl crate::ports::notify::DeliveryQueue for InMemoryQueue {
    async fn enqueue(
        &self,
        messages: &[crate::ports::notify::QueueMessage],
    ) -> Result<(), AppError> {
        lock(&self.queued).extend(messages.iter().cloned().map(|m| (m, 0)));
        Ok(())
    }

    async fn enqueue_later(
        &self,
        message: &crate::ports::notify::QueueMessage,
        delay_secs: u32,
    ) -> Result<(), AppError> {
        lock(&self.queued).push((message.clone(), delay_secs));
        Ok(())
    }

    async fn retry_after(&self, receipt_handle: &str, delay_secs: u32) -> Result<(), AppError> {
        lock(&self.backed_off).push((receipt_handle.to_owned(), delay_secs));
        Ok(())
    }
}

/// A provider that records what it is given, and can be made to fail.
#[derive(Default)]
pub struct RecordingProvider {
    pub sent: Mutex<Vec<(String, String)>>,
    /// `Some(true)`: every call fails transiently; `Some(false)`: rejected.
    pub failing: Mutex<Option<bool>>,
}

impl RecordingProvider {
    fn outcome(&self, to: &str, what: String) -> Result<String, crate::ports::notify::SendFailure> {
        use crate::ports::notify::SendFailure;
        match *lock(&self.failing) {
            Some(true) => Err(SendFailure::Transient(AppError::Unavailable(
                "the provider is down".into(),
            ))),
            Some(false) => Err(SendFailure::Rejected(
                "the provider refused the address".into(),
            )),
            None => {
                let mut sent = lock(&self.sent);
                sent.push((to.to_owned(), what));
                Ok(format!("message-{}", sent.len()))
            }
        }
    }
}

#[async_trait]
impl crate::ports::notify::Mailer for RecordingProvider {
    async fn send_email(
        &self,
        to: &Email,
        mail: &crate::domain::notifications::RenderedEmail,
        unsubscribe: Option<&str>,
    ) -> Result<String, crate::ports::notify::SendFailure> {
        let what = format!(
            "{}\n{}\n{}",
            mail.subject,
            mail.text,
            unsubscribe.unwrap_or_default()
        );
        self.outcome(to.as_str(), what)
    }
}

#[async_trait]
impl crate::ports::notify::SmsSender for RecordingProvider {
    async fn send_sms(
        &self,
        to: &str,
        text: &str,
    ) -> Result<String, crate::ports::notify::SendFailure> {
        self.outcome(to, text.to_owned())
    }
}

/// Notifications, role members (from the profile store) and idempotency keys.
#[derive(Default)]
pub struct InMemoryNotifications {
    pub profiles: std::sync::Arc<InMemoryProfileStore>,
    pub records: Mutex<BTreeMap<String, crate::ports::notify::NotificationRecord>>,
    pub pages: Mutex<BTreeMap<(String, u32), LedgerEntry>>,
    pub keys: Mutex<BTreeMap<String, (String, Option<serde_json::Value>)>>,
    pub ledger: std::sync::Arc<InMemoryLedger>,
    /// Recipients targeted per sender and day.
    pub audiences: Mutex<BTreeMap<String, u64>>,
}

#[async_trait]
impl crate::ports::notify::NotificationStore for InMemoryNotifications {
    async fn create_notification(
        &self,
        record: &crate::ports::notify::NotificationRecord,
    ) -> Result<(), AppError> {
        lock(&self.records).insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn notification(
        &self,
        id: &str,
    ) -> Result<
        Option<(
            crate::ports::notify::NotificationRecord,
            crate::ports::notify::DeliveryCounts,
        )>,
        AppError,
    > {
        use crate::ports::notify::{DeliveryCounts, DeliveryStatus};
        let Some(record) = lock(&self.records).get(id).cloned() else {
            return Ok(None);
        };
        let mut counts = DeliveryCounts::default();
        for ((nid, _), entry) in lock(&self.ledger.entries).iter() {
            if nid != id {
                continue;
            }
            if let LedgerEntry::Finished(outcome) = entry {
                match outcome.status {
                    DeliveryStatus::Sent => counts.sent += 1,
                    DeliveryStatus::Suppressed => counts.suppressed += 1,
                    DeliveryStatus::Failed => counts.failed += 1,
                }
            }
        }
        Ok(Some((record, counts)))
    }

    async fn role_members(
        &self,
        role: &Role,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<UserId>, Option<String>), AppError> {
        let members: Vec<UserId> = lock(&self.profiles.profiles)
            .values()
            .filter(|p| p.roles.contains(role))
            .map(|p| p.user_id.clone())
            .filter(|id| after.is_none_or(|a| id.as_str() > a))
            .collect();
        let page: Vec<UserId> = members.iter().take(limit).cloned().collect();
        let next = (members.len() > limit)
            .then(|| page.last().map(|id| id.as_str().to_owned()))
            .flatten();
        Ok((page, next))
    }

    async fn count_role_members(&self, role: &Role) -> Result<u64, AppError> {
        Ok(lock(&self.profiles.profiles)
            .values()
            .filter(|p| p.roles.contains(role))
            .count() as u64)
    }

    async fn claim_page(
        &self,
        notification_id: &str,
        page: u32,
        lease_secs: i64,
    ) -> Result<crate::ports::notify::Claim, AppError> {
        Ok(claim_entry(
            &mut lock(&self.pages),
            (notification_id.to_owned(), page),
            lease_secs,
        ))
    }

    async fn page_done(&self, notification_id: &str, page: u32) -> Result<(), AppError> {
        lock(&self.pages).insert(
            (notification_id.to_owned(), page),
            LedgerEntry::Finished(crate::ports::notify::Outcome {
                status: crate::ports::notify::DeliveryStatus::Sent,
                reason: None,
                provider_id: None,
            }),
        );
        Ok(())
    }

    async fn use_key(
        &self,
        scope: &str,
        key: &str,
        digest: &str,
    ) -> Result<crate::ports::notify::KeyUse, AppError> {
        use crate::ports::notify::KeyUse;
        let mut keys = lock(&self.keys);
        let name = format!("{scope}#{key}");
        Ok(match keys.get(&name) {
            None => {
                keys.insert(name, (digest.to_owned(), None));
                KeyUse::Fresh
            }
            Some((stored, _)) if stored != digest => KeyUse::Mismatch,
            Some((_, Some(answer))) => KeyUse::Answered(answer.clone()),
            Some((_, None)) => KeyUse::InProgress,
        })
    }

    async fn key_answered(
        &self,
        scope: &str,
        key: &str,
        answer: &serde_json::Value,
    ) -> Result<(), AppError> {
        if let Some(entry) = lock(&self.keys).get_mut(&format!("{scope}#{key}")) {
            entry.1 = Some(answer.clone());
        }
        Ok(())
    }

    async fn take_audience(
        &self,
        scope: &str,
        day: &str,
        audience: u64,
        limit: u64,
    ) -> Result<bool, AppError> {
        let mut days = lock(&self.audiences);
        let taken = days.entry(format!("{scope}#{day}")).or_default();
        if *taken + audience > limit {
            return Ok(false);
        }
        *taken += audience;
        Ok(true)
    }

    async fn release_key(&self, scope: &str, key: &str) -> Result<(), AppError> {
        let mut keys = lock(&self.keys);
        let name = format!("{scope}#{key}");
        if matches!(keys.get(&name), Some((_, None))) {
            keys.remove(&name);
        }
        Ok(())
    }
}
