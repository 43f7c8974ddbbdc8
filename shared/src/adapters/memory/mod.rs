//! In-memory fakes of the ports, for service and handler tests. They keep the
//! behaviour the services rely on (uniqueness, codes, token revocation, idempotent
//! creation, expiring windows).

use crate::domain::audit::{AuditEvent, AuditPosition};
use crate::domain::mfa::{MfaChallenge, SignIn, TotpCode};
use crate::domain::permissions::PolicyDocument;
use crate::domain::{
    AccessToken, AppError, ConfirmationCode, ConfirmedUser, Email, ListPosition, NewProfile,
    Password, PhoneNumber, Profile, ProfileCreation, RefreshToken, Registered, Role, TokenIssue,
    Tokens, UserId, UserQuery, UserStatus, UserSummary, Window,
};
use crate::ports::{
    AccountAdmin, AuditLog, Authenticator, PasswordIdentity, PolicySnapshot, PolicyStore,
    ProfileStore, SessionStore, SignUpDetails, SignUpIdentity, ThrottleKey, ThrottleKeys,
    ThrottleStore, UserSnapshot, Versioned,
};
use async_trait::async_trait;
use chrono::Utc;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

mod audit;
mod identity;
mod mfa;
mod notify;
mod profiles;
mod sessions;
mod signer;
mod throttle;

pub use audit::InMemoryAuditLog;
pub use identity::{FixedDirectory, InMemoryIdentity};
pub use mfa::{InMemoryMfaStore, TestSealer};
pub use notify::{
    InMemoryLedger, InMemoryNotifications, InMemoryQueue, LedgerEntry, RecordingProvider,
};
pub use profiles::InMemoryProfileStore;
pub use sessions::{InMemorySessions, InMemorySmsPasses};
pub use signer::TestSigner;
pub use throttle::{InMemoryThrottle, TestThrottleKeys};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::contract;

    #[tokio::test]
    async fn the_throttle_fake_keeps_the_store_contract() {
        contract::throttle_store(&InMemoryThrottle::default(), "memory")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_session_fake_keeps_the_store_contract() {
        contract::session_store(&InMemorySessions::default(), "memory")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_profile_fake_keeps_the_store_contract() {
        contract::profile_store(&InMemoryProfileStore::default(), "memory")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_notification_fake_keeps_the_store_contract() {
        let notes = InMemoryNotifications::default();
        contract::notification_store(&*notes.profiles, &notes, &*notes.ledger, "memory")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_ledger_fake_keeps_the_store_contract() {
        contract::delivery_ledger(&InMemoryLedger::default(), "memory")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_policy_fake_keeps_the_store_contract() {
        let store = InMemoryProfileStore::default();
        contract::policy_store(&store, &store.sessions, "memory")
            .await
            .unwrap();
    }
}
