//! Profiles, role assignments and stored policies in memory.

use super::*;

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
                mfa: None,
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
            cutoff: self.sessions.cutoff(user_id).await?,
        })
    }
}
