//! What lives in the application table (DynamoDB in production). Each port's
//! contract is checked against both the DynamoDB adapter and the in-memory fake
//! by one suite (`crate::testing::contract`), so the fake cannot drift.

use crate::domain::audit::{AuditEvent, AuditPosition};
use crate::domain::permissions::PolicyDocument;
use crate::domain::{
    AppError, Email, ListPosition, NewProfile, Profile, ProfileCreation, Role, UserId, UserQuery,
    UserStatus, UserSummary, Window,
};
use async_trait::async_trait;
use std::collections::BTreeMap;

/// A user's partition as one read: the profile and the session cut-off.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserSnapshot {
    pub profile: Option<Profile>,
    /// Which of the user's tokens are refused.
    pub cutoff: crate::domain::session::SessionCutoff,
}

/// Where profiles and role assignments live.
#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// Creates the profile and its default role assignment together, or nothing.
    /// A profile that already exists is left as it is.
    async fn create_profile(&self, profile: &NewProfile) -> Result<ProfileCreation, AppError>;

    /// Everything about one user in one round trip.
    async fn get_user(&self, user_id: &UserId) -> Result<UserSnapshot, AppError>;

    /// Replaces the display name and preferences if the stored version is still
    /// `expected`; `Ok(false)` when it is not (or there is no profile).
    async fn update_profile(
        &self,
        user_id: &UserId,
        expected: u64,
        display_name: Option<&str>,
        preferences: &BTreeMap<String, serde_json::Value>,
    ) -> Result<bool, AppError>;

    /// Deletes the user's profile and role assignments (the session cut-off
    /// stays, so tokens issued before it stay refused). Nothing left is fine.
    async fn delete_user_data(&self, user_id: &UserId) -> Result<(), AppError>;

    /// Up to `limit` users matching `query`, by email, after `after`; and where
    /// the page ended if more may follow.
    async fn list_users(
        &self,
        query: &UserQuery,
        after: Option<&ListPosition>,
        limit: usize,
    ) -> Result<(Vec<UserSummary>, Option<ListPosition>), AppError>;

    /// Replaces the user's role assignments with `roles`, all at once, if the
    /// profile's version is still `expected` (`current` are the assignments read
    /// with it); `Ok(false)` when another change got there first.
    async fn replace_roles(
        &self,
        user_id: &UserId,
        expected: u64,
        current: &[Role],
        roles: &[Role],
    ) -> Result<bool, AppError>;

    /// The profile's phone number and whether it is verified.
    async fn set_phone(
        &self,
        user_id: &UserId,
        phone: &str,
        verified: bool,
    ) -> Result<bool, AppError>;

    /// Remembers the address an email change is waiting to confirm.
    async fn set_pending_email(&self, user_id: &UserId, email: &Email) -> Result<bool, AppError>;

    /// The profile's email (and the indexes that find it by email) follows a
    /// verified change, and nothing is pending any more; `Ok(false)` when the
    /// user has no profile.
    async fn set_email(&self, user_id: &UserId, email: &Email) -> Result<bool, AppError>;

    /// The id of the account with this email, if it has a profile.
    async fn user_id_by_email(&self, email: &Email) -> Result<Option<UserId>, AppError>;

    /// Sets the profile's status; `Ok(false)` when the user has no profile.
    async fn set_status(&self, user_id: &UserId, status: UserStatus) -> Result<bool, AppError>;
}

/// Per-user session cut-offs.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn cutoff(
        &self,
        user_id: &UserId,
    ) -> Result<crate::domain::session::SessionCutoff, AppError>;

    /// Refuses the tokens of one sign-in (its `origin_jti`) from now on; the
    /// cut-off's other sign-ins stay refused, also against a racing end.
    async fn end_sign_in(&self, user_id: &UserId, sign_in: &str, now: i64) -> Result<(), AppError>;

    /// Files a sign-in (the same id again replaces it).
    async fn record_sign_in(
        &self,
        user_id: &UserId,
        sign_in: &crate::domain::session::SignInRecord,
    ) -> Result<(), AppError>;

    /// The user's sign-ins not expired at `now` (epoch seconds), newest first.
    async fn sign_ins(
        &self,
        user_id: &UserId,
        now: i64,
    ) -> Result<Vec<crate::domain::session::SignInRecord>, AppError>;

    /// Moves a sign-in's `last_used_at` to `now` (epoch ms) if it is older than
    /// [`SIGN_IN_TOUCH_MS`](crate::domain::session::SIGN_IN_TOUCH_MS); nothing
    /// for one that is not filed.
    async fn touch_sign_in(
        &self,
        user_id: &UserId,
        sign_in: &str,
        now: i64,
    ) -> Result<(), AppError>;

    /// Forgets one sign-in; gone already is fine.
    async fn forget_sign_in(&self, user_id: &UserId, sign_in: &str) -> Result<(), AppError>;

    /// Forgets every sign-in of the user (their tokens are cut off).
    async fn forget_sign_ins(&self, user_id: &UserId) -> Result<(), AppError>;

    /// The devices the user signed in from ([`device_key`](crate::domain::session::device_key)
    /// to when last), or `None` before their first filed sign-in.
    async fn known_devices(
        &self,
        user_id: &UserId,
    ) -> Result<Option<BTreeMap<String, i64>>, AppError>;

    /// Replaces the known devices.
    async fn remember_devices(
        &self,
        user_id: &UserId,
        devices: &BTreeMap<String, i64>,
    ) -> Result<(), AppError>;

    /// Moves the cut-off forward to `cutoff`; a later cut-off already stored stays
    /// (two revocations racing never move it back).
    async fn revoke_sessions(&self, user_id: &UserId, cutoff: i64) -> Result<(), AppError>;
}

/// Passes for SMS codes: Gatehouse grants one for each code it decided to send
/// (counted, to an allowed number) just before asking Cognito to send it, and
/// the custom message trigger lets Cognito text a code only by spending one.
/// A caller who asks Cognito directly (`GetUserAttributeVerificationCode` with
/// their own access token) finds no pass, so nothing is sent.
#[async_trait]
pub trait SmsPasses: Send + Sync {
    /// One pass for `phone`, open until `expires_at` (epoch seconds); a newer
    /// pass replaces an unspent one.
    async fn grant(&self, user_id: &UserId, phone: &str, expires_at: i64) -> Result<(), AppError>;

    /// Spends the user's pass if it is for `phone` and open at `now`; `false`
    /// (nothing spent) otherwise. Two spenders racing: one wins.
    async fn spend(&self, user_id: &UserId, phone: &str, now: i64) -> Result<bool, AppError>;
}

/// A stored value and the version a compare-and-set must name to replace it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// Where a throttle window lives: a subject (a keyed digest of an email or a
/// source IP, never the value itself) and what is counted for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ThrottleKey {
    pub subject: String,
    pub counter: String,
}

/// Throttle windows. The store only persists: the rules (what to count, when to
/// refuse) are `domain::Limit::admit`.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// The stored window, even one that has closed (the rules ignore those).
    async fn load(&self, key: &ThrottleKey) -> Result<Option<Versioned<Window>>, AppError>;

    /// Stores `window` if the stored version is still `expected` (`None`: nothing
    /// stored). `Ok(false)` when another writer got there first: nothing written.
    async fn save(
        &self,
        key: &ThrottleKey,
        window: &Window,
        expected: Option<u64>,
    ) -> Result<bool, AppError>;

    /// Forgets the window.
    async fn clear(&self, key: &ThrottleKey) -> Result<(), AppError>;

    /// Forgets every window of `subject` whose counter starts with `prefix` (a
    /// password reset lifts the login locks of every source IP).
    async fn clear_all(&self, subject: &str, prefix: &str) -> Result<(), AppError>;
}

/// The audit trail: one partition per user, newest first.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Records the event; it expires `retention_days` later.
    async fn record(&self, event: &AuditEvent, retention_days: u32) -> Result<(), AppError>;

    /// Up to `limit` of the user's events, newest first, older than `before`.
    async fn events(
        &self,
        user_id: &UserId,
        before: Option<&AuditPosition>,
        limit: usize,
    ) -> Result<(Vec<AuditEvent>, Option<AuditPosition>), AppError>;
}

/// Signs and checks opaque tokens the API hands out (list cursors), so a
/// tampered or foreign one is refused rather than obeyed.
#[async_trait]
pub trait TokenSigner: Send + Sync {
    async fn sign(&self, payload: &str) -> Result<String, AppError>;
    /// `Ok(false)` for a signature that does not match.
    async fn verify(&self, payload: &str, signature: &str) -> Result<bool, AppError>;
}

/// Keyed digests naming throttle subjects, so a table backup does not reveal
/// which emails or addresses were tried.
#[async_trait]
pub trait ThrottleKeys: Send + Sync {
    /// A digest of `value`, keyed with a secret; `purpose` keeps kinds apart.
    async fn key(&self, purpose: &str, value: &str) -> Result<String, AppError>;
}

/// What a decision reads, in one round trip: the policy set's version and the
/// users it is about.
#[derive(Debug, Clone, Default)]
pub struct PolicySnapshot {
    /// Bumped by every stored policy change; 0 when none was ever stored.
    pub version: u64,
    pub users: std::collections::HashMap<UserId, UserSnapshot>,
}

/// Where stored Cedar policies live, beside the profiles they decide about.
#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// The policy set's version and these users (profile with roles, session
    /// cut-off), read together and consistently.
    async fn snapshot(&self, users: &[UserId]) -> Result<PolicySnapshot, AppError>;

    /// Every stored policy and the version they make.
    async fn policies(&self) -> Result<(u64, Vec<PolicyDocument>), AppError>;

    /// Who sent a notification, as the store has it (`None`: Gatehouse itself,
    /// or no such notification): a check about a notification is decided on
    /// this, never on what the caller says.
    async fn notification_sender(
        &self,
        id: &str,
    ) -> Result<Option<crate::domain::permissions::Sender>, AppError>;

    /// Creates or replaces a policy and bumps the version in the same step;
    /// `Ok(true)` when it was new.
    async fn put_policy(&self, policy: &PolicyDocument) -> Result<bool, AppError>;

    /// Deletes a policy and bumps the version in the same step; `Ok(false)`
    /// when there was none.
    async fn delete_policy(&self, id: &str) -> Result<bool, AppError>;
}

/// A user's second factor as Gatehouse keeps it: the TOTP secret sealed
/// (`SecretSealer`), so a recovery code can answer the provider's challenge,
/// and the digests of the recovery codes not used yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaRecord {
    /// The sealed secret of a started enrolment, not verified yet.
    pub pending_secret: Option<String>,
    /// The sealed secret in use; `None` while TOTP is off.
    pub secret: Option<String>,
    pub recovery_digests: Vec<String>,
    /// The latest TOTP time step Gatehouse accepted a code of (step-up).
    pub last_step: Option<i64>,
}

/// A sign-in waiting for its second factor, filed under `challenge_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    pub user_id: UserId,
    pub email: String,
    /// Tries taken: codes tested or being tested (five end the challenge).
    pub wrong_codes: u32,
    pub expires_at: i64,
}

#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn mfa(&self, user_id: &UserId) -> Result<MfaRecord, AppError>;

    /// Files a started enrolment's sealed secret (replacing one before it).
    async fn start_enrolment(&self, user_id: &UserId, sealed: &str) -> Result<(), AppError>;

    /// The pending secret becomes the one in use, with these recovery codes
    /// and `step` (its verified code's) as the latest step taken. `false` if no
    /// enrolment is pending (or another finished it first).
    async fn finish_enrolment(
        &self,
        user_id: &UserId,
        pending: &str,
        recovery_digests: &[String],
        step: i64,
    ) -> Result<bool, AppError>;

    /// Removes one recovery code, if it is still there: `false` if it was
    /// used meanwhile (each works once, also when two requests race).
    async fn spend_recovery_code(&self, user_id: &UserId, digest: &str) -> Result<bool, AppError>;

    /// Takes a TOTP code of `step` for a step-up: `false` if one of this step
    /// or a later one was taken already (a code works once).
    async fn take_step(&self, user_id: &UserId, step: i64) -> Result<bool, AppError>;

    /// New recovery codes in place of all the old ones, while `secret`
    /// (sealed) is the one in use: `false` otherwise.
    async fn replace_recovery_codes(
        &self,
        user_id: &UserId,
        secret: &str,
        digests: &[String],
    ) -> Result<bool, AppError>;

    /// Forgets the user's second factor (secret, recovery codes, pending).
    async fn clear_mfa(&self, user_id: &UserId) -> Result<(), AppError>;

    /// Puts back a spent recovery code whose sign-in could not be answered.
    /// Only while `secret` (sealed) is still the one in use.
    async fn restore_recovery_code(
        &self,
        user_id: &UserId,
        digest: &str,
        secret: &str,
    ) -> Result<(), AppError>;

    async fn open_challenge(&self, key: &str, record: &ChallengeRecord) -> Result<(), AppError>;

    /// The challenge, unless it expired.
    async fn challenge(&self, key: &str, now: i64) -> Result<Option<ChallengeRecord>, AppError>;

    /// Takes one of the challenge's `max` tries before a code is tested:
    /// `false` when none is left (or the challenge is gone). Racing answers
    /// cannot take more than `max` between them.
    async fn take_try(&self, key: &str, max: u32) -> Result<bool, AppError>;

    /// Gives a try back: the code was never tested (a dependency failed).
    async fn give_back_try(&self, key: &str) -> Result<(), AppError>;

    async fn close_challenge(&self, key: &str) -> Result<(), AppError>;
}

/// Seals small secrets for one user (KMS in production): a sealed value opens
/// only for the user it was sealed for.
#[async_trait]
pub trait SecretSealer: Send + Sync {
    async fn seal(&self, user_id: &UserId, secret: &str) -> Result<String, AppError>;
    async fn open(&self, user_id: &UserId, sealed: &str) -> Result<String, AppError>;
}
