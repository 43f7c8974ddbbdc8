//! Role assignments: read them, replace them (only roles the caller holds, unless admin).

use super::*;

/// A user's role assignments, as the roles API shows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoleSet {
    pub roles: Vec<Role>,
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
