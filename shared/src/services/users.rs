//! Account administration: disabling and enabling accounts, for callers the
//! policies (`services::Permissions`) allow; and deleting one's own account.

use super::auth::with_retries;
use crate::domain::audit::{AuditAction, AuditEvent, AuditPosition};
use crate::domain::permissions::{ADMIN_ROLE, actions, collections};
use crate::domain::session::token_is_current;
use crate::domain::{
    AppError, Caller, Email, ListPosition, Origin, Password, PhoneNumber, Role, SmsCountries,
    UserId, UserQuery, UserStatus, UserSummary,
};
use crate::ports::{
    AccountAdmin, AuditLog, Authenticator, ProfileStore, SmsPasses, TokenSigner, UserDirectory,
};
use crate::services::{Audit, CodePurpose, Permissions, SessionGuard, Target, Throttle};
use std::sync::Arc;

#[derive(Clone)]
pub struct UserAdminService {
    store: Arc<dyn ProfileStore>,
    accounts: Arc<dyn AccountAdmin>,
    guard: SessionGuard,
    audit: Audit,
    permissions: Arc<Permissions>,
}

impl UserAdminService {
    pub fn new(
        store: Arc<dyn ProfileStore>,
        accounts: Arc<dyn AccountAdmin>,
        guard: SessionGuard,
        audit: Audit,
        permissions: Arc<Permissions>,
    ) -> Self {
        Self {
            store,
            accounts,
            guard,
            audit,
            permissions,
        }
    }

    /// The caller's token is current and the policies let them manage `target`.
    async fn authorise(&self, caller: &Caller, target: Option<&UserId>) -> Result<(), AppError> {
        self.permissions
            .authorise(caller, actions::USERS_MANAGE, Target::User(target))
            .await
            .map(drop)
    }

    /// Sign-in on or off in Cognito. A user Cognito no longer has (deleted
    /// there directly) leaves a profile behind: it is cleaned up now, and the
    /// answer is 404.
    async fn set_enabled(&self, target: &UserId, enabled: bool) -> Result<(), AppError> {
        match with_retries(|| self.accounts.set_enabled(target.as_str(), enabled)).await {
            Err(AppError::NotFound(_)) => {
                self.store.delete_user_data(target).await?;
                tracing::warn!(target = %target, "profile of a user Cognito no longer has, removed");
                Err(AppError::NotFound("user"))
            }
            other => other,
        }
    }

    fn other_user<'a>(caller: &Caller, target: Option<&'a UserId>) -> Result<&'a UserId, AppError> {
        let target = target.ok_or(AppError::NotFound("user"))?;
        if *target == caller.user_id {
            return Err(AppError::validation(
                "user_id",
                "is your own account; another administrator must do this",
            ));
        }
        Ok(target)
    }

    /// Sign-in off in Cognito first (no new login or refresh), then every
    /// session ends (refresh tokens revoked, access tokens refused at once by
    /// the cut-off), then the profile says so. Each step is safe to repeat, so
    /// a retry finishes what a failure interrupted.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn disable(
        &self,
        caller: &Caller,
        target: Option<&UserId>,
        origin: &Origin,
    ) -> Result<(), AppError> {
        self.authorise(caller, target).await?;
        let target = Self::other_user(caller, target)?;
        self.set_enabled(target, false).await?;
        with_retries(|| self.accounts.sign_out_user(target.as_str())).await?;
        with_retries(|| self.guard.end_all(target)).await?;
        with_retries(|| self.store.set_status(target, UserStatus::Disabled)).await?;
        self.audit
            .record(
                AuditEvent::new(target.clone(), AuditAction::Disabled, Some(origin))
                    .by(&caller.user_id),
            )
            .await;
        tracing::info!(target = %target, "account disabled");
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn enable(
        &self,
        caller: &Caller,
        target: Option<&UserId>,
        origin: &Origin,
    ) -> Result<(), AppError> {
        self.authorise(caller, target).await?;
        let target = Self::other_user(caller, target)?;
        self.set_enabled(target, true).await?;
        with_retries(|| self.store.set_status(target, UserStatus::Active)).await?;
        self.audit
            .record(
                AuditEvent::new(target.clone(), AuditAction::Enabled, Some(origin))
                    .by(&caller.user_id),
            )
            .await;
        tracing::info!(target = %target, "account enabled");
        Ok(())
    }
}

/// One's own account: deleting it, and changing its email (below). Deleting:
/// the password is checked (behind the login
/// throttle: a stolen token must not become a way to guess it), then the
/// application data goes, then the Cognito user. Each step is safe to repeat,
/// and the order means a failure half-way leaves what a retry finishes: while
/// the Cognito user exists the password still proves the caller.
#[derive(Clone)]
pub struct AccountService {
    store: Arc<dyn ProfileStore>,
    directory: Arc<dyn UserDirectory>,
    authenticator: Arc<dyn Authenticator>,
    accounts: Arc<dyn AccountAdmin>,
    throttle: Throttle,
    guard: SessionGuard,
    audit: Audit,
    notices: Option<crate::services::Notices>,
    /// The address rules of sign-up, for a new address too.
    addresses: crate::domain::SignUpPolicy,
}

/// What guards changes to one's account: the login and send limits, the
/// session cut-off, and the address rules of sign-up.
pub struct AccountGuards {
    pub throttle: Throttle,
    pub sessions: SessionGuard,
    pub addresses: crate::domain::SignUpPolicy,
}

impl AccountService {
    /// Tells the old address when an email change completes.
    pub fn with_notices(mut self, notices: crate::services::Notices) -> Self {
        self.notices = Some(notices);
        self
    }

    pub fn new(
        store: Arc<dyn ProfileStore>,
        directory: Arc<dyn UserDirectory>,
        authenticator: Arc<dyn Authenticator>,
        accounts: Arc<dyn AccountAdmin>,
        guards: AccountGuards,
        audit: Audit,
    ) -> Self {
        Self {
            store,
            directory,
            authenticator,
            accounts,
            throttle: guards.throttle,
            guard: guards.sessions,
            audit,
            notices: None,
            addresses: guards.addresses,
        }
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn delete_own(
        &self,
        caller: &Caller,
        password: &Password,
        origin: &Origin,
    ) -> Result<(), AppError> {
        let me = self.store.get_user(&caller.user_id).await?;
        if !token_is_current(caller.issued_at, me.sessions_revoked_before) {
            return Err(AppError::Unauthenticated("the token has been revoked"));
        }
        let email = match me.profile {
            Some(profile) => profile.email,
            None => {
                self.directory
                    .confirmed_user(&caller.access_token)
                    .await?
                    .email
            }
        };
        check_password(
            &self.throttle,
            &*self.authenticator,
            &email,
            password,
            origin,
        )
        .await?;
        with_retries(|| self.guard.end_all(&caller.user_id)).await?;
        with_retries(|| self.store.delete_user_data(&caller.user_id)).await?;
        with_retries(|| self.accounts.sign_out_user(&caller.username)).await?;
        with_retries(|| self.accounts.delete_user(&caller.username)).await?;
        // The trail outlives the account, for its retention.
        self.audit
            .user(&caller.user_id, AuditAction::Deleted, Some(origin))
            .await;
        tracing::info!("account deleted");
        Ok(())
    }
}

/// One page of the admin's user list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserPage {
    pub items: Vec<UserSummary>,
    pub next_cursor: Option<String>,
}

/// The admin's user list, paged by opaque cursors that are signed: a tampered
/// cursor, or one from a list with other filters, is refused (400), never
/// obeyed as another query.
#[derive(Clone)]
pub struct UserListService {
    store: Arc<dyn ProfileStore>,
    signer: Arc<dyn TokenSigner>,
    permissions: Arc<Permissions>,
}

const BAD_CURSOR: &str = "is not a cursor this list handed out";

/// Hands out `payload` as an opaque cursor: base64url, then its signature.
async fn seal(signer: &dyn TokenSigner, payload: &str) -> Result<String, AppError> {
    use base64::Engine;
    let signature = signer.sign(payload).await?;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
    Ok(format!("{encoded}.{signature}"))
}

/// The payload of a cursor [`seal`] handed out; a tampered one is a 400.
async fn open(signer: &dyn TokenSigner, cursor: &str) -> Result<String, AppError> {
    use base64::Engine;
    let bad = || AppError::validation("cursor", BAD_CURSOR);
    let (encoded, signature) = cursor.split_once('.').ok_or_else(bad)?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(bad)?;
    if signer.verify(&payload, signature).await? {
        Ok(payload)
    } else {
        Err(bad())
    }
}

impl UserListService {
    pub const DEFAULT_LIMIT: usize = 20;
    pub const MAX_LIMIT: usize = 100;

    pub fn new(
        store: Arc<dyn ProfileStore>,
        signer: Arc<dyn TokenSigner>,
        permissions: Arc<Permissions>,
    ) -> Self {
        Self {
            store,
            signer,
            permissions,
        }
    }

    /// What a cursor is bound to: the position and the list's filters.
    fn payload(position: &ListPosition, query: &UserQuery) -> String {
        serde_json::json!({
            "e": position.email,
            "u": position.user_id,
            "s": query.status,
            "p": query.email_prefix,
        })
        .to_string()
    }

    async fn cursor_for(
        &self,
        position: &ListPosition,
        query: &UserQuery,
    ) -> Result<String, AppError> {
        seal(&*self.signer, &Self::payload(position, query)).await
    }

    async fn position_of(&self, cursor: &str, query: &UserQuery) -> Result<ListPosition, AppError> {
        let bad = || AppError::validation("cursor", BAD_CURSOR);
        let payload = open(&*self.signer, cursor).await?;
        let fields: serde_json::Value = serde_json::from_str(&payload).map_err(|_| bad())?;
        let position = ListPosition {
            email: Email::parse(fields["e"].as_str().unwrap_or_default()).map_err(|_| bad())?,
            user_id: UserId::parse(fields["u"].as_str().unwrap_or_default()).map_err(|_| bad())?,
        };
        // Signed for this list's filters only.
        if Self::payload(&position, query) != payload {
            return Err(bad());
        }
        Ok(position)
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn list(
        &self,
        caller: &Caller,
        query: &UserQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<UserPage, AppError> {
        self.permissions
            .authorise(
                caller,
                actions::USERS_READ,
                Target::Collection(collections::USERS),
            )
            .await?;
        let after = match cursor {
            Some(cursor) => Some(self.position_of(cursor, query).await?),
            None => None,
        };
        let (items, next) = self.store.list_users(query, after.as_ref(), limit).await?;
        let next_cursor = match next {
            Some(position) => Some(self.cursor_for(&position, query).await?),
            None => None,
        };
        Ok(UserPage { items, next_cursor })
    }
}

/// A page of a user's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

/// A user's audit trail, newest first, for the user themself or a caller
/// allowed to read users; cursors are signed for that user's trail.
#[derive(Clone)]
pub struct AuditTrailService {
    log: Arc<dyn AuditLog>,
    signer: Arc<dyn TokenSigner>,
    permissions: Arc<Permissions>,
}

impl AuditTrailService {
    pub const PAGE: usize = 50;

    pub fn new(
        log: Arc<dyn AuditLog>,
        signer: Arc<dyn TokenSigner>,
        permissions: Arc<Permissions>,
    ) -> Self {
        Self {
            log,
            signer,
            permissions,
        }
    }

    fn payload(user: &UserId, position: &AuditPosition) -> String {
        serde_json::json!({"u": user, "a": position.at, "i": position.id}).to_string()
    }

    async fn position_of(&self, user: &UserId, cursor: &str) -> Result<AuditPosition, AppError> {
        let bad = || AppError::validation("cursor", BAD_CURSOR);
        let payload = open(&*self.signer, cursor).await?;
        let fields: serde_json::Value = serde_json::from_str(&payload).map_err(|_| bad())?;
        let position: AuditPosition = serde_json::from_value(serde_json::json!({
            "at": fields["a"], "id": fields["i"]
        }))
        .map_err(|_| bad())?;
        // Signed for this user's trail only.
        if Self::payload(user, &position) != payload {
            return Err(bad());
        }
        Ok(position)
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn events(
        &self,
        caller: &Caller,
        target: Option<&UserId>,
        cursor: Option<&str>,
    ) -> Result<EventPage, AppError> {
        self.permissions
            .authorise(caller, actions::EVENTS_READ, Target::User(target))
            .await?;
        let target = target.ok_or(AppError::NotFound("user"))?;
        let before = match cursor {
            Some(cursor) => Some(self.position_of(target, cursor).await?),
            None => None,
        };
        let (items, next) = self.log.events(target, before.as_ref(), Self::PAGE).await?;
        let next_cursor = match next {
            Some(position) => Some(seal(&*self.signer, &Self::payload(target, &position)).await?),
            None => None,
        };
        Ok(EventPage { items, next_cursor })
    }
}

/// Changing one's email (the same ports as deleting one's account): the
/// current password first (a stolen access token alone must not move the
/// account to another mailbox), checked behind the login throttle; then a code
/// goes to the new address (through Cognito, which keeps the old address as the
/// login and contact until the code is entered); then the profile follows and
/// every session ends. An address another account has gets the same answer as
/// a free one, and nothing changes.
impl AccountService {
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn request_email_change(
        &self,
        caller: &Caller,
        new_email: &Email,
        password: &Password,
        origin: &Origin,
    ) -> Result<crate::services::Accepted, AppError> {
        self.addresses.admits(new_email)?;
        let me = current_profile(&*self.store, caller)
            .await?
            .ok_or(AppError::NotFound("profile"))?;
        check_password(
            &self.throttle,
            &*self.authenticator,
            &me.email,
            password,
            origin,
        )
        .await?;
        self.throttle.send_attempt(new_email, origin).await?;
        // Remembered only when Cognito holds it: the profile never names an
        // address Cognito did not accept.
        if self
            .accounts
            .request_email_change(&caller.username, new_email)
            .await?
        {
            self.store
                .set_pending_email(&caller.user_id, new_email)
                .await?;
        }
        Ok(crate::services::Accepted {
            message: "If the address can be used, a code has been sent to it.",
        })
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn verify_email_change(
        &self,
        caller: &Caller,
        code: &crate::domain::ConfirmationCode,
        origin: &Origin,
    ) -> Result<crate::domain::Profile, AppError> {
        let me = current_profile(&*self.store, caller).await?;
        let old_email = me.as_ref().map(|p| p.email.clone());
        // Nothing pending: answered like a wrong code.
        let pending = me
            .and_then(|p| p.pending_email)
            .ok_or(AppError::InvalidCode)?;
        let verified = tried_code(
            &self.throttle,
            &self.audit,
            caller,
            CodePurpose::EmailChange,
            origin,
            self.directory.verify_email(&caller.access_token, code),
        )
        .await;
        verified?;
        // Cognito now holds the new address; the profile follows it, and every
        // session ends (as after a password change).
        with_retries(|| self.store.set_email(&caller.user_id, &pending)).await?;
        with_retries(|| self.accounts.sign_out_user(&caller.username)).await?;
        with_retries(|| self.guard.end_all(&caller.user_id)).await?;
        self.audit
            .user(&caller.user_id, AuditAction::EmailChanged, Some(origin))
            .await;
        // The old address hears of it: if this was not its owner, they know.
        if let (Some(notices), Some(old)) = (&self.notices, old_email) {
            let mut data = serde_json::Map::new();
            data.insert("old_email".into(), old.as_str().into());
            notices
                .send(
                    crate::services::Notices::moment_id("email-changed", &caller.user_id),
                    &caller.user_id,
                    "email-changed",
                    data,
                    Some(old),
                )
                .await;
        }
        self.store
            .get_user(&caller.user_id)
            .await?
            .profile
            .ok_or(AppError::NotFound("profile"))
    }
}

/// Checks the caller's password behind the login throttle, so an endpoint that
/// asks for it is no way around the guessing limits.
async fn check_password(
    throttle: &Throttle,
    authenticator: &dyn Authenticator,
    email: &Email,
    password: &Password,
    origin: &Origin,
) -> Result<(), AppError> {
    let count = throttle.login_attempt(email, origin).await?;
    match authenticator.login(email, password).await {
        Ok(_) => throttle.login_succeeded(count).await,
        Err(AppError::InvalidCredentials) => Err(AppError::InvalidCredentials),
        Err(other) => {
            throttle.login_untested(count).await?;
            Err(other)
        }
    }
}

/// A phone number for SMS: set, then verified with the code sent to it by SMS.
/// Notifications go by SMS only to a verified number. Only numbers in the
/// deployment's countries get a code, each behind the day's caps, and Cognito
/// sends one only against a pass granted here (`ports::SmsPasses`).
#[derive(Clone)]
pub struct PhoneService {
    store: Arc<dyn ProfileStore>,
    directory: Arc<dyn UserDirectory>,
    accounts: Arc<dyn AccountAdmin>,
    passes: Arc<dyn SmsPasses>,
    countries: SmsCountries,
    throttle: Throttle,
    audit: Audit,
}

/// The parts of a [`PhoneService`].
pub struct PhoneParts {
    pub store: Arc<dyn ProfileStore>,
    pub directory: Arc<dyn UserDirectory>,
    pub accounts: Arc<dyn AccountAdmin>,
    pub passes: Arc<dyn SmsPasses>,
    pub countries: SmsCountries,
    pub throttle: Throttle,
    pub audit: Audit,
}

impl PhoneService {
    /// How long a pass waits for Cognito's call to the trigger: the call
    /// follows at once, so a minute covers the SDK's retries.
    const PASS_SECONDS: i64 = 60;

    pub fn new(parts: PhoneParts) -> Self {
        let PhoneParts {
            store,
            directory,
            accounts,
            passes,
            countries,
            throttle,
            audit,
        } = parts;
        Self {
            store,
            directory,
            accounts,
            passes,
            countries,
            throttle,
            audit,
        }
    }

    async fn current(&self, caller: &Caller) -> Result<crate::domain::Profile, AppError> {
        let me = self.store.get_user(&caller.user_id).await?;
        if !token_is_current(caller.issued_at, me.sessions_revoked_before) {
            return Err(AppError::Unauthenticated("the token has been revoked"));
        }
        me.profile.ok_or(AppError::NotFound("profile"))
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn request(
        &self,
        caller: &Caller,
        phone: &PhoneNumber,
        origin: &Origin,
    ) -> Result<crate::services::Accepted, AppError> {
        self.countries.admit(phone)?;
        self.current(caller).await?;
        self.throttle
            .sms_attempt(&caller.user_id, phone, origin)
            .await?;
        self.accounts.set_phone(&caller.username, phone).await?;
        self.store
            .set_phone(&caller.user_id, phone.as_str(), false)
            .await?;
        let until = chrono::Utc::now().timestamp() + Self::PASS_SECONDS;
        self.passes
            .grant(&caller.user_id, phone.as_str(), until)
            .await?;
        self.directory.send_phone_code(&caller.access_token).await?;
        Ok(crate::services::Accepted {
            message: "A code has been sent to the number by SMS.",
        })
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn verify(
        &self,
        caller: &Caller,
        code: &crate::domain::ConfirmationCode,
        origin: &Origin,
    ) -> Result<crate::domain::Profile, AppError> {
        let profile = self.current(caller).await?;
        let phone = profile.phone_number.ok_or(AppError::InvalidCode)?;
        tried_code(
            &self.throttle,
            &self.audit,
            caller,
            CodePurpose::PhoneChange,
            origin,
            self.directory.verify_phone(&caller.access_token, code),
        )
        .await?;
        with_retries(|| self.store.set_phone(&caller.user_id, &phone, true)).await?;
        self.audit
            .user(&caller.user_id, AuditAction::PhoneChanged, Some(origin))
            .await;
        self.current(caller).await
    }
}

/// A user's role assignments, as the roles API shows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoleSet {
    pub roles: Vec<Role>,
}

/// Tests a code the caller was sent behind the count of codes tried for its
/// account and purpose: five wrong ones in 15 minutes and the next waits (429),
/// noted once in the caller's trail.
async fn tried_code(
    throttle: &Throttle,
    audit: &Audit,
    caller: &Caller,
    purpose: CodePurpose,
    origin: &Origin,
    attempt: impl std::future::Future<Output = Result<(), AppError>>,
) -> Result<(), AppError> {
    let tried = match throttle.code_try(caller.user_id.as_str(), purpose).await {
        Ok(tried) => tried,
        Err((refused, first)) => {
            if first {
                audit
                    .user(&caller.user_id, AuditAction::CodesLocked, Some(origin))
                    .await;
            }
            return Err(refused);
        }
    };
    let tested = attempt.await;
    let wrong = matches!(tested, Err(AppError::InvalidCode | AppError::ExpiredCode));
    throttle.code_settled(tried, wrong).await?;
    tested
}

/// The caller's own profile, when their token is current.
async fn current_profile(
    store: &dyn ProfileStore,
    caller: &Caller,
) -> Result<Option<crate::domain::Profile>, AppError> {
    let me = store.get_user(&caller.user_id).await?;
    if !token_is_current(caller.issued_at, me.sessions_revoked_before) {
        return Err(AppError::Unauthenticated("the token has been revoked"));
    }
    Ok(me.profile)
}

/// The roles API: replace a user's role assignments (admins), read them. A
/// change replaces the whole set in one step, so racing changes end as one of
/// them, never a mixture; each change is in the user's audit trail.
#[derive(Clone)]
pub struct RoleService {
    store: Arc<dyn ProfileStore>,
    audit: Audit,
    permissions: Arc<Permissions>,
}

impl RoleService {
    /// How often a change re-reads after losing a race before it answers 409.
    const RACES: usize = 10;
    pub const MAX_ROLES: usize = 20;

    pub fn new(store: Arc<dyn ProfileStore>, audit: Audit, permissions: Arc<Permissions>) -> Self {
        Self {
            store,
            audit,
            permissions,
        }
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn roles_of(
        &self,
        caller: &Caller,
        target: Option<&UserId>,
    ) -> Result<RoleSet, AppError> {
        let read = self
            .permissions
            .authorise(caller, actions::ROLES_READ, Target::User(target))
            .await?;
        let profile = read.target.ok_or(AppError::NotFound("user"))?;
        Ok(RoleSet {
            roles: profile.roles,
        })
    }

    /// A caller who is not an administrator may add or remove only roles it
    /// holds itself: granting a role is granting what that role allows, and no
    /// one may grant more than they have (an admin holds everything).
    fn only_roles_held(held: &[Role], before: &[Role], after: &[Role]) -> Result<(), AppError> {
        let changed = before
            .iter()
            .filter(|r| !after.contains(r))
            .chain(after.iter().filter(|r| !before.contains(r)));
        for role in changed {
            if !held.contains(role) {
                return Err(AppError::Forbidden(format!(
                    "you may add or remove only roles you hold yourself, and you do not hold {role}"
                )));
            }
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn set_roles(
        &self,
        caller: &Caller,
        target: Option<&UserId>,
        roles: Vec<Role>,
        origin: &Origin,
    ) -> Result<RoleSet, AppError> {
        let authorised = self
            .permissions
            .authorise(caller, actions::ROLES_MANAGE, Target::User(target))
            .await?;
        let target = target.ok_or(AppError::NotFound("user"))?;
        let held = authorised.me.map(|me| me.roles).unwrap_or_default();
        let is_admin = held.iter().any(|r| r.as_str() == ADMIN_ROLE);
        let mut roles = roles;
        roles.sort();
        roles.dedup();
        if roles.len() > Self::MAX_ROLES {
            return Err(AppError::validation("roles", "may name at most 20 roles"));
        }
        if is_admin && *target == caller.user_id && !roles.iter().any(|r| r.as_str() == ADMIN_ROLE)
        {
            return Err(AppError::validation(
                "roles",
                "would remove your own admin role; another administrator must do this",
            ));
        }
        for _ in 0..Self::RACES {
            let profile = self
                .store
                .get_user(target)
                .await?
                .profile
                .ok_or(AppError::NotFound("user"))?;
            if !is_admin {
                Self::only_roles_held(&held, &profile.roles, &roles)?;
            }
            if self
                .store
                .replace_roles(target, profile.version, &profile.roles, &roles)
                .await?
            {
                self.audit
                    .record(
                        AuditEvent::new(target.clone(), AuditAction::RolesChanged, Some(origin))
                            .by(&caller.user_id),
                    )
                    .await;
                return Ok(RoleSet { roles });
            }
        }
        Err(AppError::Conflict(
            "the roles kept changing meanwhile; read them and try again",
        ))
    }
}
