//! In-memory fakes of the ports, for service and handler tests. They keep the
//! behaviour the services rely on (uniqueness, confirmation, idempotent creation).

use crate::domain::{
    AppError, ConfirmationCode, DisplayName, Email, NewProfile, Password, Profile, ProfileCreation,
    Registered, Tokens, UserId, UserStatus,
};
use crate::ports::{IdentityProvider, ProfileStore};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct FakeUser {
    id: UserId,
    password: String,
    code: String,
    confirmed: bool,
}

#[derive(Default)]
pub struct InMemoryIdentity {
    users: Mutex<HashMap<Email, FakeUser>>,
}

impl InMemoryIdentity {
    pub fn user_count(&self) -> usize {
        lock(&self.users).len()
    }

    /// The code "sent" to this address, as a test would read it from the outbox.
    pub fn code_for(&self, email: &str) -> Option<String> {
        let email = Email::parse(email).ok()?;
        lock(&self.users).get(&email).map(|u| u.code.clone())
    }
}

#[async_trait]
impl IdentityProvider for InMemoryIdentity {
    async fn sign_up(
        &self,
        email: &Email,
        password: &Password,
        _display_name: Option<&DisplayName>,
    ) -> Result<Registered, AppError> {
        let mut users = lock(&self.users);
        if users.contains_key(email) {
            return Err(AppError::EmailTaken);
        }
        let n = users.len() + 1;
        let id = UserId::parse(&format!("00000000-0000-4000-8000-{n:012}"))?;
        users.insert(
            email.clone(),
            FakeUser {
                id: id.clone(),
                password: password.expose().to_owned(),
                code: format!("{:06}", 100_000 + n),
                confirmed: false,
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
        if user.confirmed {
            return Err(AppError::AlreadyConfirmed);
        }
        if user.code != code.expose() {
            return Err(AppError::InvalidCode);
        }
        user.confirmed = true;
        Ok(())
    }

    async fn login(&self, email: &Email, password: &Password) -> Result<Tokens, AppError> {
        let users = lock(&self.users);
        match users.get(email) {
            Some(u) if u.password == password.expose() && u.confirmed => Ok(Tokens {
                access_token: format!("access-{}", u.id),
                id_token: format!("id-{}", u.id),
                refresh_token: Some(format!("refresh-{}", u.id)),
                token_type: "Bearer",
                expires_in: 3600,
            }),
            Some(u) if u.password == password.expose() => Err(AppError::UserNotConfirmed),
            _ => Err(AppError::InvalidCredentials),
        }
    }
}

#[derive(Default)]
pub struct InMemoryProfileStore {
    profiles: Mutex<BTreeMap<UserId, Profile>>,
}

#[async_trait]
impl ProfileStore for InMemoryProfileStore {
    async fn create_profile(&self, new: &NewProfile) -> Result<ProfileCreation, AppError> {
        let mut profiles = lock(&self.profiles);
        if profiles.contains_key(&new.user_id) {
            return Ok(ProfileCreation::AlreadyExisted);
        }
        profiles.insert(
            new.user_id.clone(),
            Profile {
                user_id: new.user_id.clone(),
                email: new.email.clone(),
                display_name: new.display_name.as_ref().map(|n| n.as_str().to_owned()),
                preferences: BTreeMap::new(),
                roles: vec![new.default_role.clone()],
                status: UserStatus::Active,
                created_at: new.created_at,
                updated_at: new.created_at,
            },
        );
        Ok(ProfileCreation::Created)
    }

    async fn get_profile(&self, user_id: &UserId) -> Result<Option<Profile>, AppError> {
        Ok(lock(&self.profiles).get(user_id).cloned())
    }
}
