//! In-memory fakes of the ports, for service and handler tests. They keep the
//! behaviour the services rely on (uniqueness, codes, token revocation, idempotent
//! creation, expiring windows).

use crate::domain::audit::{AuditEvent, AuditPosition};
use crate::domain::permissions::PolicyDocument;
use crate::domain::{
    AccessToken, AppError, ConfirmationCode, Email, ListPosition, NewProfile, Password,
    PhoneNumber, Profile, ProfileCreation, RefreshToken, Registered, Role, TokenIssue, Tokens,
    UserId, UserQuery, UserStatus, UserSummary, Window,
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

struct FakeUser {
    id: UserId,
    password: String,
    code: String,
    reset_code: Option<String>,
    confirmed: bool,
    disabled: bool,
}

#[derive(Default)]
pub struct InMemoryIdentity {
    users: Mutex<HashMap<Email, FakeUser>>,
    /// Live refresh tokens and access tokens, to the email they belong to.
    refresh_tokens: Mutex<HashMap<String, Email>>,
    access_tokens: Mutex<HashMap<String, Email>>,
    /// Addresses told that someone tried to register them again.
    notices: Mutex<Vec<Email>>,
    counter: AtomicU64,
}

impl InMemoryIdentity {
    pub fn notices_to(&self, email: &str) -> usize {
        lock(&self.notices)
            .iter()
            .filter(|e| e.as_str() == email)
            .count()
    }

    pub fn user_count(&self) -> usize {
        lock(&self.users).len()
    }

    /// The code "sent" to this address, as a test would read it from the outbox.
    pub fn code_for(&self, email: &str) -> Option<String> {
        let email = Email::parse(email).ok()?;
        lock(&self.users).get(&email).map(|u| u.code.clone())
    }

    pub fn reset_code_for(&self, email: &str) -> Option<String> {
        let email = Email::parse(email).ok()?;
        lock(&self.users)
            .get(&email)
            .and_then(|u| u.reset_code.clone())
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn issue(&self, email: &Email, id: &UserId, with_refresh: bool) -> Tokens {
        let n = self.next();
        let access = format!("access-{id}-{n}");
        lock(&self.access_tokens).insert(access.clone(), email.clone());
        let refresh = with_refresh.then(|| {
            let token = format!("refresh-{id}-{n}");
            lock(&self.refresh_tokens).insert(token.clone(), email.clone());
            token
        });
        Tokens {
            access_token: access,
            id_token: format!("id-{id}-{n}"),
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: 3600,
            issued: Some(TokenIssue {
                user_id: id.clone(),
                issued_at: Utc::now().timestamp(),
            }),
        }
    }

    fn email_of(&self, token: &AccessToken) -> Result<Email, AppError> {
        lock(&self.access_tokens)
            .get(token.expose())
            .cloned()
            .ok_or(AppError::Unauthenticated("the token has been revoked"))
    }

    fn revoke_all(&self, email: &Email) {
        lock(&self.refresh_tokens).retain(|_, e| e != email);
        lock(&self.access_tokens).retain(|_, e| e != email);
    }
}

#[async_trait]
impl SignUpIdentity for InMemoryIdentity {
    async fn sign_up(
        &self,
        email: &Email,
        password: &Password,
        _details: &SignUpDetails,
    ) -> Result<Registered, AppError> {
        let mut users = lock(&self.users);
        if users.contains_key(email) {
            return Err(AppError::EmailTaken);
        }
        let n = self.next();
        let id = UserId::parse(&format!("00000000-0000-4000-8000-{n:012}"))?;
        users.insert(
            email.clone(),
            FakeUser {
                id: id.clone(),
                password: password.expose().to_owned(),
                code: format!("{:06}", 100_000 + n),
                reset_code: None,
                confirmed: false,
                disabled: false,
            },
        );
        Ok(Registered {
            user_id: id,
            email: email.clone(),
            confirmed: false,
        })
    }

    async fn confirm_sign_up(
        &self,
        email: &Email,
        code: &ConfirmationCode,
    ) -> Result<(), AppError> {
        let mut users = lock(&self.users);
        let user = users.get_mut(email).ok_or(AppError::InvalidCode)?;
        if user.confirmed || user.code != code.expose() {
            return Err(AppError::InvalidCode);
        }
        user.confirmed = true;
        Ok(())
    }

    async fn resend_confirmation(&self, email: &Email) -> Result<(), AppError> {
        let n = self.next();
        if let Some(user) = lock(&self.users).get_mut(email).filter(|u| !u.confirmed) {
            user.code = format!("{:06}", 200_000 + n);
        }
        Ok(())
    }

    async fn notify_existing_account(&self, email: &Email) -> Result<(), AppError> {
        lock(&self.notices).push(email.clone());
        Ok(())
    }

    async fn delete_unconfirmed(&self, email: &Email) -> Result<bool, AppError> {
        let mut users = lock(&self.users);
        if users.get(email).is_some_and(|u| !u.confirmed) {
            users.remove(email);
            return Ok(true);
        }
        Ok(false)
    }

    async fn opens_unconfirmed(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<bool, AppError> {
        Ok(lock(&self.users)
            .get(email)
            .is_some_and(|u| !u.confirmed && u.password == password.expose()))
    }
}

#[async_trait]
impl Authenticator for InMemoryIdentity {
    async fn login(&self, email: &Email, password: &Password) -> Result<Tokens, AppError> {
        let (id, confirmed) = {
            let users = lock(&self.users);
            match users.get(email) {
                // As Cognito: a disabled user is refused before the password.
                Some(u) if !u.disabled && u.password == password.expose() => {
                    (u.id.clone(), u.confirmed)
                }
                _ => return Err(AppError::InvalidCredentials),
            }
        };
        if !confirmed {
            return Err(AppError::UserNotConfirmed);
        }
        Ok(self.issue(email, &id, true))
    }

    async fn refresh(&self, token: &RefreshToken) -> Result<Tokens, AppError> {
        let email = lock(&self.refresh_tokens)
            .get(token.expose())
            .cloned()
            .ok_or(AppError::Unauthenticated(
                "the refresh token is invalid or revoked",
            ))?;
        let id = lock(&self.users)
            .get(&email)
            .filter(|u| !u.disabled)
            .map(|u| u.id.clone())
            .ok_or(AppError::Unauthenticated(
                "the refresh token is invalid or revoked",
            ))?;
        Ok(self.issue(&email, &id, false))
    }
}

#[async_trait]
impl PasswordIdentity for InMemoryIdentity {
    async fn change_password(
        &self,
        token: &AccessToken,
        current: &Password,
        new: &Password,
    ) -> Result<(), AppError> {
        let email = self.email_of(token)?;
        let mut users = lock(&self.users);
        let user = users.get_mut(&email).ok_or(AppError::InvalidCredentials)?;
        if user.password != current.expose() {
            return Err(AppError::InvalidCredentials);
        }
        user.password = new.expose().to_owned();
        Ok(())
    }

    async fn forgot_password(&self, email: &Email) -> Result<(), AppError> {
        let n = self.next();
        if let Some(user) = lock(&self.users).get_mut(email) {
            user.reset_code = Some(format!("{:06}", 300_000 + n));
        }
        Ok(())
    }

    async fn reset_password(
        &self,
        email: &Email,
        code: &ConfirmationCode,
        new: &Password,
    ) -> Result<(), AppError> {
        let mut users = lock(&self.users);
        let user = users.get_mut(email).ok_or(AppError::InvalidCode)?;
        if user.reset_code.as_deref() != Some(code.expose()) {
            return Err(AppError::InvalidCode);
        }
        user.password = new.expose().to_owned();
        user.reset_code = None;
        Ok(())
    }
}

#[async_trait]
impl AccountAdmin for InMemoryIdentity {
    async fn sign_out_everywhere(&self, email: &Email) -> Result<UserId, AppError> {
        let id = lock(&self.users)
            .get(email)
            .map(|u| u.id.clone())
            .ok_or(AppError::NotFound("user"))?;
        self.revoke_all(email);
        Ok(id)
    }

    /// The fake names each user by their id.
    async fn sign_out_user(&self, username: &str) -> Result<(), AppError> {
        let email = lock(&self.users)
            .iter()
            .find(|(_, u)| u.id.as_str() == username)
            .map(|(email, _)| email.clone());
        if let Some(email) = email {
            self.revoke_all(&email);
        }
        Ok(())
    }

    async fn set_phone(&self, _username: &str, _phone: &PhoneNumber) -> Result<(), AppError> {
        Ok(())
    }

    async fn request_email_change(&self, _username: &str, email: &Email) -> Result<bool, AppError> {
        Ok(!lock(&self.users).contains_key(email))
    }

    async fn delete_user(&self, username: &str) -> Result<(), AppError> {
        let email = lock(&self.users)
            .iter()
            .find(|(_, u)| u.id.as_str() == username)
            .map(|(email, _)| email.clone());
        if let Some(email) = email {
            self.revoke_all(&email);
            lock(&self.users).remove(&email);
        }
        Ok(())
    }

    async fn set_enabled(&self, username: &str, enabled: bool) -> Result<(), AppError> {
        let mut users = lock(&self.users);
        let user = users
            .values_mut()
            .find(|u| u.id.as_str() == username)
            .ok_or(AppError::NotFound("user"))?;
        user.disabled = !enabled;
        Ok(())
    }
}

#[derive(Default)]
pub struct InMemoryProfileStore {
    pub(crate) profiles: Mutex<BTreeMap<UserId, Profile>>,
    pub sessions: InMemorySessions,
    policies: Mutex<(u64, BTreeMap<String, PolicyDocument>)>,
    /// Addresses whose admin grant was taken, and by whom.
    admin_grants: Mutex<BTreeMap<String, UserId>>,
}

#[async_trait]
impl PolicyStore for InMemoryProfileStore {
    async fn snapshot(&self, users: &[UserId]) -> Result<PolicySnapshot, AppError> {
        let mut snapshot = PolicySnapshot {
            version: lock(&self.policies).0,
            users: HashMap::new(),
        };
        for user in users {
            snapshot
                .users
                .insert(user.clone(), self.get_user(user).await?);
        }
        Ok(snapshot)
    }

    async fn policies(&self) -> Result<(u64, Vec<PolicyDocument>), AppError> {
        let policies = lock(&self.policies);
        Ok((policies.0, policies.1.values().cloned().collect()))
    }

    /// The fake keeps no notifications: every one is Gatehouse's own.
    async fn notification_sender(
        &self,
        _id: &str,
    ) -> Result<Option<crate::domain::permissions::Sender>, AppError> {
        Ok(None)
    }

    async fn put_policy(&self, policy: &PolicyDocument) -> Result<bool, AppError> {
        let mut policies = lock(&self.policies);
        policies.0 += 1;
        Ok(policies
            .1
            .insert(policy.id.clone(), policy.clone())
            .is_none())
    }

    async fn delete_policy(&self, id: &str) -> Result<bool, AppError> {
        let mut policies = lock(&self.policies);
        let existed = policies.1.remove(id).is_some();
        if existed {
            policies.0 += 1;
        }
        Ok(existed)
    }
}

#[async_trait]
impl ProfileStore for InMemoryProfileStore {
    async fn create_profile(&self, new: &NewProfile) -> Result<ProfileCreation, AppError> {
        let mut profiles = lock(&self.profiles);
        if profiles.contains_key(&new.user_id) {
            return Ok(ProfileCreation::AlreadyExisted);
        }
        if new.admin_grant {
            let mut grants = lock(&self.admin_grants);
            match grants.get(new.email.as_str()) {
                Some(holder) if *holder != new.user_id => return Ok(ProfileCreation::GrantSpent),
                _ => {
                    grants.insert(new.email.as_str().to_owned(), new.user_id.clone());
                }
            }
        }
        profiles.insert(
            new.user_id.clone(),
            Profile {
                user_id: new.user_id.clone(),
                email: new.email.clone(),
                display_name: new.display_name.as_ref().map(|n| n.as_str().to_owned()),
                preferences: BTreeMap::new(),
                roles: new.roles.clone(),
                status: UserStatus::Active,
                created_at: new.created_at,
                updated_at: new.created_at,
                version: 1,
                pending_email: None,
                phone_number: None,
                phone_verified: false,
            },
        );
        Ok(ProfileCreation::Created)
    }

    async fn set_status(&self, user_id: &UserId, status: UserStatus) -> Result<bool, AppError> {
        Ok(match lock(&self.profiles).get_mut(user_id) {
            Some(profile) => {
                profile.status = status;
                profile.updated_at = Utc::now();
                profile.version += 1;
                true
            }
            None => false,
        })
    }

    async fn list_users(
        &self,
        query: &UserQuery,
        after: Option<&ListPosition>,
        limit: usize,
    ) -> Result<(Vec<UserSummary>, Option<ListPosition>), AppError> {
        let mut all: Vec<UserSummary> = lock(&self.profiles)
            .values()
            .filter(|p| query.status.is_none_or(|s| p.status == s))
            .filter(|p| {
                query
                    .email_prefix
                    .as_ref()
                    .is_none_or(|prefix| p.email.as_str().starts_with(prefix.as_str()))
            })
            .map(|p| UserSummary {
                user_id: p.user_id.clone(),
                email: p.email.clone(),
                display_name: p.display_name.clone(),
                status: p.status,
                created_at: p.created_at,
            })
            .collect();
        let key = |u: &UserSummary| (u.email.as_str().to_owned(), u.user_id.as_str().to_owned());
        all.sort_by_key(key);
        let page: Vec<UserSummary> = all
            .into_iter()
            .filter(|u| {
                after.is_none_or(|a| {
                    key(u) > (a.email.as_str().to_owned(), a.user_id.as_str().to_owned())
                })
            })
            .take(limit + 1)
            .collect();
        let more = page.len() > limit;
        let page: Vec<UserSummary> = page.into_iter().take(limit).collect();
        let next = more.then(|| {
            page.last().map(|u| ListPosition {
                email: u.email.clone(),
                user_id: u.user_id.clone(),
            })
        });
        Ok((page, next.flatten()))
    }

    async fn replace_roles(
        &self,
        user_id: &UserId,
        expected: u64,
        _current: &[Role],
        roles: &[Role],
    ) -> Result<bool, AppError> {
        Ok(match lock(&self.profiles).get_mut(user_id) {
            Some(profile) if profile.version == expected => {
                let mut roles = roles.to_vec();
                roles.sort();
                profile.roles = roles;
                profile.version += 1;
                true
            }
            _ => false,
        })
    }

    async fn set_phone(
        &self,
        user_id: &UserId,
        phone: &str,
        verified: bool,
    ) -> Result<bool, AppError> {
        Ok(match lock(&self.profiles).get_mut(user_id) {
            Some(profile) => {
                profile.phone_number = Some(phone.to_owned());
                profile.phone_verified = verified;
                profile.version += 1;
                true
            }
            None => false,
        })
    }

    async fn set_pending_email(&self, user_id: &UserId, email: &Email) -> Result<bool, AppError> {
        Ok(match lock(&self.profiles).get_mut(user_id) {
            Some(profile) => {
                profile.pending_email = Some(email.clone());
                true
            }
            None => false,
        })
    }

    async fn set_email(&self, user_id: &UserId, email: &Email) -> Result<bool, AppError> {
        Ok(match lock(&self.profiles).get_mut(user_id) {
            Some(profile) => {
                profile.pending_email = None;
                profile.email = email.clone();
                profile.version += 1;
                true
            }
            None => false,
        })
    }

    async fn user_id_by_email(&self, email: &Email) -> Result<Option<UserId>, AppError> {
        Ok(lock(&self.profiles)
            .values()
            .find(|p| &p.email == email)
            .map(|p| p.user_id.clone()))
    }

    async fn delete_user_data(&self, user_id: &UserId) -> Result<(), AppError> {
        lock(&self.profiles).remove(user_id);
        Ok(())
    }

    async fn update_profile(
        &self,
        user_id: &UserId,
        expected: u64,
        display_name: Option<&str>,
        preferences: &BTreeMap<String, serde_json::Value>,
    ) -> Result<bool, AppError> {
        Ok(match lock(&self.profiles).get_mut(user_id) {
            Some(profile) if profile.version == expected => {
                profile.display_name = display_name.map(str::to_owned);
                profile.preferences = preferences.clone();
                profile.updated_at = Utc::now();
                profile.version += 1;
                true
            }
            _ => false,
        })
    }

    async fn get_user(&self, user_id: &UserId) -> Result<UserSnapshot, AppError> {
        let profile = lock(&self.profiles).get(user_id).cloned();
        Ok(UserSnapshot {
            profile,
            sessions_revoked_before: self.sessions.sessions_revoked_before(user_id).await?,
        })
    }
}

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

/// Throttle windows with a version each, as the table keeps them.
#[derive(Default)]
pub struct InMemoryThrottle {
    windows: Mutex<HashMap<ThrottleKey, Versioned<Window>>>,
}

#[async_trait]
impl ThrottleStore for InMemoryThrottle {
    async fn load(&self, key: &ThrottleKey) -> Result<Option<Versioned<Window>>, AppError> {
        Ok(lock(&self.windows).get(key).copied())
    }

    async fn save(
        &self,
        key: &ThrottleKey,
        window: &Window,
        expected: Option<u64>,
    ) -> Result<bool, AppError> {
        let mut windows = lock(&self.windows);
        if windows.get(key).map(|w| w.version) != expected {
            return Ok(false);
        }
        windows.insert(
            key.clone(),
            Versioned {
                value: *window,
                version: expected.map_or(1, |v| v + 1),
            },
        );
        Ok(true)
    }

    async fn clear(&self, key: &ThrottleKey) -> Result<(), AppError> {
        lock(&self.windows).remove(key);
        Ok(())
    }

    async fn clear_all(&self, subject: &str, prefix: &str) -> Result<(), AppError> {
        lock(&self.windows).retain(|k, _| !(k.subject == subject && k.counter.starts_with(prefix)));
        Ok(())
    }
}

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

/// Throttle keys: the same keyed digest as the adapter, with a test key.
pub struct TestThrottleKeys;

#[async_trait]
impl ThrottleKeys for TestThrottleKeys {
    async fn key(&self, purpose: &str, value: &str) -> Result<String, AppError> {
        crate::adapters::client_secret::keyed_digest(b"test key", purpose, value)
    }
}

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

/// Signs with a fixed key (HMAC-SHA256), as the table's signer does with its own.
#[derive(Default)]
pub struct TestSigner;

#[async_trait]
impl crate::ports::TokenSigner for TestSigner {
    async fn sign(&self, payload: &str) -> Result<String, AppError> {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"test signing key")
            .map_err(AppError::unexpected)?;
        mac.update(payload.as_bytes());
        Ok(mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    async fn verify(&self, payload: &str, signature: &str) -> Result<bool, AppError> {
        Ok(self.sign(payload).await? == signature)
    }
}

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

    async fn release_key(&self, scope: &str, key: &str) -> Result<(), AppError> {
        let mut keys = lock(&self.keys);
        let name = format!("{scope}#{key}");
        if matches!(keys.get(&name), Some((_, None))) {
            keys.remove(&name);
        }
        Ok(())
    }
}
