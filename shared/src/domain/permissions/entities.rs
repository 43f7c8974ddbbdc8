//! The principals and resources of a decision, as Cedar entities.

use super::*;

/// Who asks: a user (with their roles and attributes, read fresh for every
/// decision) or a service (with its token's scopes).
#[derive(Debug, Clone)]
pub enum Principal {
    User {
        id: UserId,
        /// `None` for a user without a profile: only policies that need no
        /// attribute can match.
        profile: Option<Box<Profile>>,
    },
    Service {
        client_id: String,
        scopes: Vec<String>,
    },
}

impl Principal {
    pub fn user(id: UserId, profile: Option<Profile>) -> Self {
        Self::User {
            id,
            profile: profile.map(Box::new),
        }
    }

    /// `Type::"id"`: how policies and answers name this principal.
    pub fn name(&self) -> String {
        self.uid().map(|u| u.to_string()).unwrap_or_default()
    }

    pub(super) fn uid(&self) -> Result<EntityUid, AppError> {
        match self {
            Self::User { id, .. } => uid(USER_TYPE, id.as_str()),
            Self::Service { client_id, .. } => uid(SERVICE_TYPE, client_id),
        }
    }

    pub(super) fn entity(&self) -> Result<Entity, AppError> {
        match self {
            Self::User { id, profile } => user_entity(id, profile.as_deref()),
            Self::Service { client_id, scopes } => {
                let parents = scopes
                    .iter()
                    .map(|s| uid(SCOPE_TYPE, s))
                    .collect::<Result<_, _>>()?;
                Ok(Entity::new_no_attrs(uid(SERVICE_TYPE, client_id)?, parents))
            }
        }
    }
}

pub(super) fn user_entity(id: &UserId, profile: Option<&Profile>) -> Result<Entity, AppError> {
    let uid = uid(USER_TYPE, id.as_str())?;
    let Some(profile) = profile else {
        return Ok(Entity::new_no_attrs(uid, HashSet::new()));
    };
    let parents = profile
        .roles
        .iter()
        .map(|r| self::uid(ROLE_TYPE, r.as_str()))
        .collect::<Result<_, _>>()?;
    let status = match profile.status {
        UserStatus::Active => "active",
        UserStatus::Disabled => "disabled",
    };
    let attrs = HashMap::from([
        (
            "status".to_owned(),
            RestrictedExpression::new_string(status.to_owned()),
        ),
        // A profile exists only once its address was confirmed.
        (
            "email_verified".to_owned(),
            RestrictedExpression::new_bool(true),
        ),
        (
            "created_at".to_owned(),
            RestrictedExpression::new_long(profile.created_at.timestamp()),
        ),
    ]);
    Entity::new(uid, attrs, parents).map_err(AppError::unexpected)
}

pub(super) fn uid(kind: &str, id: &str) -> Result<EntityUid, AppError> {
    let kind = EntityTypeName::from_str(kind).map_err(AppError::unexpected)?;
    Ok(EntityUid::from_type_name_and_id(kind, EntityId::new(id)))
}

/// What a decision is about.
#[derive(Debug, Clone)]
pub enum Resource {
    /// A Gatehouse user, with the attributes Gatehouse knows (`None`: no such
    /// user, or not read).
    User {
        id: UserId,
        profile: Option<Box<Profile>>,
    },
    /// A user id that names no user (malformed): evaluated as a user no one is.
    UnknownUser,
    /// Another principal, as the resource of `permissions:check`.
    Principal(Box<Principal>),
    /// One of Gatehouse's collections.
    Collection(&'static str),
    /// A notification and who sent it (`None`: Gatehouse itself).
    Notification { id: String, sender: Option<Sender> },
    /// A service's own resource type, with the attributes the caller supplies.
    Other {
        kind: String,
        id: String,
        attributes: serde_json::Map<String, serde_json::Value>,
    },
}

impl Resource {
    pub fn user(id: UserId, profile: Option<Profile>) -> Self {
        Self::User {
            id,
            profile: profile.map(Box::new),
        }
    }

    pub(super) fn entity(&self, schema: &Schema) -> Result<Entity, AppError> {
        match self {
            Self::User { id, profile } => user_entity(id, profile.as_deref()),
            Self::UnknownUser => Ok(Entity::new_no_attrs(uid(USER_TYPE, "")?, HashSet::new())),
            Self::Principal(principal) => principal.entity(),
            Self::Collection(name) => Ok(Entity::new_no_attrs(
                uid(COLLECTION_TYPE, name)?,
                HashSet::new(),
            )),
            Self::Notification { id, sender } => {
                let attrs = match sender {
                    Some(Sender::User(user)) => HashMap::from([(
                        "sender_user".to_owned(),
                        RestrictedExpression::new_entity_uid(uid(USER_TYPE, user.as_str())?),
                    )]),
                    Some(Sender::Service(client)) => HashMap::from([(
                        "sender_service".to_owned(),
                        RestrictedExpression::new_entity_uid(uid(SERVICE_TYPE, client)?),
                    )]),
                    None => HashMap::new(),
                };
                Entity::new(uid(NOTIFICATION_TYPE, id)?, attrs, HashSet::new())
                    .map_err(AppError::unexpected)
            }
            Self::Other {
                kind,
                id,
                attributes,
            } => {
                let json = serde_json::json!({
                    "uid": {"type": kind, "id": id},
                    "attrs": attributes,
                    "parents": [],
                });
                Entity::from_json_value(json, Some(schema)).map_err(|e| {
                    AppError::validation("resource", format!("does not fit the schema: {e}"))
                })
            }
        }
    }
}
