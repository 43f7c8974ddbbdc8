//! Profiles: creation on confirmation (`ProfileCreator`, and `Onboarding` for
//! the trigger, which also welcomes), and the profile API (`ProfileService`).

use crate::domain::audit::AuditAction;
use crate::domain::permissions::{ADMIN_ROLE, actions};
use crate::domain::preferences::ProfilePatch;
use crate::domain::session::{admit, ensure_current};
use crate::domain::{
    AppError, Caller, ConfirmedUser, Email, NewProfile, Profile, ProfileCreation, Role, UserId,
};
use crate::ports::{ProfileStore, UserDirectory};
use crate::services::retry::with_retries;
use crate::services::{Audit, Notices, Permissions, Target};
use chrono::Utc;
use std::sync::Arc;

/// The roles a newly confirmed user starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartingRoles {
    pub default_role: Role,
    /// Addresses whose confirmation also grants `admin` (the deployment's
    /// `AdminEmails`: how the first administrator comes to be).
    pub admin_emails: Vec<Email>,
}

impl StartingRoles {
    pub fn for_email(&self, email: &Email) -> Vec<Role> {
        let mut roles = vec![self.default_role.clone()];
        if self.admin_emails.contains(email)
            && let Ok(admin) = Role::parse(ADMIN_ROLE)
        {
            roles.push(admin);
        }
        roles.sort();
        roles.dedup();
        roles
    }
}

/// Creates a confirmed user's profile with its starting roles, once: Cognito
/// retries triggers, so a second delivery is a success that writes nothing.
#[derive(Clone)]
pub struct ProfileCreator {
    store: Arc<dyn ProfileStore>,
    roles: StartingRoles,
    audit: Audit,
}

impl ProfileCreator {
    pub fn new(store: Arc<dyn ProfileStore>, roles: StartingRoles, audit: Audit) -> Self {
        Self {
            store,
            roles,
            audit,
        }
    }

    /// Creates the profile and starting roles; a creation is in the trail.
    #[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
    pub async fn create(&self, user: ConfirmedUser) -> Result<ProfileCreation, AppError> {
        let roles = self.roles.for_email(&user.email);
        let mut profile = NewProfile {
            user_id: user.user_id,
            admin_grant: roles.iter().any(|r| r.as_str() == ADMIN_ROLE),
            roles,
            email: user.email,
            display_name: user.display_name,
            created_at: Utc::now(),
        };
        let user_id = profile.user_id.clone();
        // Safe to repeat (every item is put only if absent), so a transient
        // failure (a transaction conflict, a throttled write) is retried.
        let mut outcome = with_retries(|| self.store.create_profile(&profile)).await?;
        if outcome == ProfileCreation::GrantSpent {
            // The address was an administrator's before: an account made
            // again for it starts as any other (AdminEmails bootstraps once).
            tracing::warn!("the address's admin grant was taken before: not granted again");
            profile.roles.retain(|r| r.as_str() != ADMIN_ROLE);
            profile.admin_grant = false;
            outcome = with_retries(|| self.store.create_profile(&profile)).await?;
        }
        if outcome == ProfileCreation::Created {
            self.audit
                .user(&user_id, AuditAction::Confirmed, None)
                .await;
        }
        tracing::info!(?outcome, "profile provisioned");
        Ok(outcome)
    }
}

/// The post-confirmation trigger: the profile, then the welcome email.
#[derive(Clone)]
pub struct Onboarding {
    creator: ProfileCreator,
    notices: Notices,
}

impl Onboarding {
    pub fn new(creator: ProfileCreator, notices: Notices) -> Self {
        Self { creator, notices }
    }

    pub async fn on_confirmed(&self, user: ConfirmedUser) -> Result<ProfileCreation, AppError> {
        let user_id = user.user_id.clone();
        let outcome = self.creator.create(user).await?;
        // One id per user: a retried trigger queues it again, the ledger
        // delivers it once.
        self.notices
            .send(
                format!("welcome-{user_id}"),
                &user_id,
                "welcome",
                serde_json::Map::new(),
                None,
            )
            .await;
        Ok(outcome)
    }
}

/// The profile API: one's own profile (made from Cognito's record if it is
/// missing), changing it, and reading others' as the policies allow.
#[derive(Clone)]
pub struct ProfileService {
    store: Arc<dyn ProfileStore>,
    creator: ProfileCreator,
    directory: Arc<dyn UserDirectory>,
    permissions: Arc<Permissions>,
}

impl ProfileService {
    pub fn new(
        creator: ProfileCreator,
        directory: Arc<dyn UserDirectory>,
        permissions: Arc<Permissions>,
    ) -> Self {
        Self {
            store: creator.store.clone(),
            creator,
            directory,
            permissions,
        }
    }

    /// The caller's own profile. The session cut-off comes in the same read, so
    /// refusing a revoked token costs no extra round trip.
    ///
    /// A confirmed user can lack a profile: Cognito does not run the
    /// post-confirmation trigger for users a pre sign-up trigger auto-confirms,
    /// and a trigger that failed is not retried once the user is confirmed. Such a
    /// profile is created here, from the caller's own Cognito record.
    ///
    /// Open to a caller whose role waits for a second factor (the profile says
    /// so); changing it is not.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn get_own(&self, caller: &Caller) -> Result<Profile, AppError> {
        self.own(caller, false).await
    }

    async fn own(&self, caller: &Caller, to_change: bool) -> Result<Profile, AppError> {
        let user = self.store.get_user(&caller.user_id).await?;
        if to_change {
            admit(
                caller,
                &user.cutoff,
                user.profile.as_ref(),
                self.permissions.mfa_required_roles(),
            )?;
        } else {
            ensure_current(caller, &user.cutoff)?;
        }
        if let Some(profile) = user.profile {
            return Ok(profile);
        }
        let confirmed = self.directory.confirmed_user(&caller.access_token).await?;
        if confirmed.user_id != caller.user_id {
            return Err(AppError::Unauthenticated(
                "the token does not match its user",
            ));
        }
        self.creator.create(confirmed).await?;
        self.get(&caller.user_id).await
    }

    /// Changes the caller's display name and preferences. With `if_match` the
    /// change applies only to that version (412 otherwise); without it, it
    /// still never overwrites a concurrent change: it applies to the version it
    /// read, and re-reads if that one has gone (a merge of the fields it names).
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn patch_own(
        &self,
        caller: &Caller,
        patch: &ProfilePatch,
        if_match: Option<u64>,
    ) -> Result<Profile, AppError> {
        const RACES: usize = 3;
        for _ in 0..RACES {
            let current = self.own(caller, true).await?;
            if if_match.is_some_and(|v| v != current.version) {
                return Err(AppError::PreconditionFailed);
            }
            let name = match &patch.display_name {
                Some(name) => name.as_ref().map(|n| n.as_str().to_owned()),
                None => current.display_name.clone(),
            };
            let preferences = patch.apply_to(&current.preferences);
            if self
                .store
                .update_profile(
                    &caller.user_id,
                    current.version,
                    name.as_deref(),
                    &preferences,
                )
                .await?
            {
                tracing::info!("profile updated");
                return self.get(&caller.user_id).await;
            }
            if if_match.is_some() {
                return Err(AppError::PreconditionFailed);
            }
        }
        Err(AppError::Conflict(
            "the profile kept changing meanwhile; read it and try again",
        ))
    }

    /// A user's profile, for themself or a caller allowed to read users. The
    /// same 403 for an unknown id as for a known one when the caller may not
    /// read users, so ids cannot be probed.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn get_for(
        &self,
        caller: &Caller,
        target: Option<&UserId>,
    ) -> Result<Profile, AppError> {
        let read = self
            .permissions
            .authorise(caller, actions::USERS_READ, Target::User(target))
            .await?;
        if target == Some(&caller.user_id) {
            // Through `get_own`, which makes a missing profile from Cognito.
            return match read.me {
                Some(me) => Ok(me),
                None => self.get_own(caller).await,
            };
        }
        read.target.ok_or(AppError::NotFound("user"))
    }

    pub async fn get(&self, user_id: &UserId) -> Result<Profile, AppError> {
        self.store
            .get_user(user_id)
            .await?
            .profile
            .ok_or(AppError::NotFound("profile"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{InMemoryAuditLog, InMemoryProfileStore};

    fn roles() -> StartingRoles {
        StartingRoles {
            default_role: Role::parse("user").unwrap(),
            admin_emails: vec![Email::parse("root@example.com").unwrap()],
        }
    }

    #[test]
    fn a_named_address_starts_as_admin_and_every_other_as_a_user() {
        let roles = roles();
        let names = |email: &str| -> Vec<String> {
            roles
                .for_email(&Email::parse(email).unwrap())
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect()
        };
        assert_eq!(names("Root@Example.com"), ["admin", "user"]);
        assert_eq!(names("rooted@example.com"), ["user"]);
    }

    fn user() -> ConfirmedUser {
        ConfirmedUser::from_attributes(
            Some("8f452769-9947-4d75-8113-c328cafb5d5f"),
            Some("Ada@Example.com"),
            Some("Ada"),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn confirmation_creates_a_profile_with_the_default_role() {
        let store = Arc::new(InMemoryProfileStore::default());
        let creator = ProfileCreator::new(
            store.clone(),
            roles(),
            Audit::new(Arc::new(InMemoryAuditLog::default()), 30),
        );
        assert_eq!(
            creator.create(user()).await.unwrap(),
            ProfileCreation::Created
        );
        let svc = crate::testing::profile_service(store, None);
        let id = user().user_id;
        let profile = svc.get(&id).await.unwrap();
        assert_eq!(profile.email.as_str(), "ada@example.com");
        assert_eq!(profile.display_name.as_deref(), Some("Ada"));
        assert_eq!(profile.roles, vec![Role::parse("user").unwrap()]);
    }

    #[tokio::test]
    async fn a_second_delivery_changes_nothing() {
        let store = Arc::new(InMemoryProfileStore::default());
        let creator = crate::testing::profile_creator(store.clone());
        let svc = crate::testing::profile_service(store, None);
        creator.create(user()).await.unwrap();
        let id = user().user_id;
        let first = svc.get(&id).await.unwrap();
        let mut again = user();
        again.display_name = Some(crate::domain::DisplayName::parse("Someone else").unwrap());
        assert_eq!(
            creator.create(again).await.unwrap(),
            ProfileCreation::AlreadyExisted
        );
        assert_eq!(svc.get(&id).await.unwrap(), first);
    }

    #[tokio::test]
    async fn an_admin_without_a_second_factor_reads_their_profile_and_changes_nothing() {
        let store = Arc::new(InMemoryProfileStore::default());
        let admin = ConfirmedUser::from_attributes(
            Some("5b1f0e53-59f5-4a8e-9d54-1c1f5f0d3a77"),
            Some("root@example.com"),
            None,
        )
        .unwrap();
        ProfileCreator::new(
            store.clone(),
            roles(),
            Audit::new(Arc::new(InMemoryAuditLog::default()), 30),
        )
        .create(admin.clone())
        .await
        .unwrap();
        let svc = ProfileService::new(
            crate::testing::profile_creator(store.clone()),
            Arc::new(crate::adapters::memory::FixedDirectory(None)),
            Arc::new(Permissions::new(store.clone()).with_mfa_required(
                crate::domain::mfa::MfaRequiredRoles::new(vec![Role::parse("admin").unwrap()]),
            )),
        );
        let caller = Caller {
            user_id: admin.user_id.clone(),
            username: admin.user_id.as_str().to_owned(),
            groups: vec![],
            issued_at: 100,
            access_token: crate::domain::AccessToken::parse("t").unwrap(),
            session_id: None,
        };
        let patch = ProfilePatch {
            display_name: Some(None),
            preferences: std::collections::BTreeMap::new(),
        };
        assert!(svc.get_own(&caller).await.is_ok());
        assert!(matches!(
            svc.patch_own(&caller, &patch, None).await,
            Err(AppError::MfaEnrollmentRequired)
        ));
        assert!(matches!(
            svc.get_for(&caller, Some(&user().user_id)).await,
            Err(AppError::MfaEnrollmentRequired)
        ));
        if let Some(profile) = store.profiles.lock().unwrap().get_mut(&admin.user_id) {
            profile.mfa = Some(crate::domain::mfa::MfaSummary {
                totp: true,
                recovery_codes_left: 10,
            });
        }
        assert!(svc.patch_own(&caller, &patch, None).await.is_ok());
        assert!(matches!(
            svc.get_for(&caller, Some(&user().user_id)).await,
            Err(AppError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_token_issued_before_the_session_cutoff_is_refused() {
        use crate::ports::SessionStore;
        let store = Arc::new(InMemoryProfileStore::default());
        crate::testing::profile_creator(store.clone())
            .create(user())
            .await
            .unwrap();
        let svc = crate::testing::profile_service(store.clone(), None);
        let caller = |issued_at| Caller {
            user_id: user().user_id,
            username: user().user_id.as_str().to_owned(),
            groups: vec![],
            issued_at,
            access_token: crate::domain::AccessToken::parse("t").unwrap(),
            session_id: None,
        };
        assert!(svc.get_own(&caller(100)).await.is_ok());
        store
            .sessions
            .revoke_sessions(&caller(0).user_id, 101)
            .await
            .unwrap();
        assert!(matches!(
            svc.get_own(&caller(100)).await.unwrap_err(),
            AppError::Unauthenticated(_)
        ));
        assert!(svc.get_own(&caller(101)).await.is_ok());
    }

    #[tokio::test]
    async fn a_confirmed_user_without_a_profile_gets_one_on_first_read() {
        let svc = crate::testing::profile_service(
            Arc::new(InMemoryProfileStore::default()),
            Some(user()),
        );
        let caller = Caller {
            user_id: user().user_id,
            username: user().user_id.as_str().to_owned(),
            groups: vec![],
            issued_at: 100,
            access_token: crate::domain::AccessToken::parse("t").unwrap(),
            session_id: None,
        };
        let profile = svc.get_own(&caller).await.unwrap();
        assert_eq!(profile.email.as_str(), "ada@example.com");
        assert_eq!(profile.roles, vec![Role::parse("user").unwrap()]);
    }

    #[tokio::test]
    async fn an_unknown_user_has_no_profile() {
        let svc = crate::testing::profile_service(Arc::new(InMemoryProfileStore::default()), None);
        let err = svc
            .get(&UserId::parse("nobody").unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::NotFound("profile")));
    }
}
