//! Who may do what, decided in one place: Cedar policies (the language of AWS
//! Verified Permissions) evaluated in process. Every Gatehouse endpoint that
//! authorises something, and the check endpoints other services call, decide
//! through [`PolicyEngine::decide`].
//!
//! The engine slices the policy set per request the way Verified Permissions
//! does: only policies whose principal scope can match the principal (any
//! principal, its type, itself or one of its roles or scopes) and whose action
//! scope can match the action are evaluated, so the cost follows the number of
//! policies about this principal, not the size of the set.

use super::{AppError, Profile, UserId, UserStatus};
use cedar_policy::{
    ActionConstraint, Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    Policy, PolicyId, PolicySet, PrincipalConstraint, Request, RestrictedExpression, Schema,
    ValidationMode, Validator,
};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

/// The schema every policy and check is validated against: every file in
/// `shared/policies/schema/`.
pub const SCHEMA_TEXT: &str = include_str!(concat!(env!("OUT_DIR"), "/schema.cedarschema"));
/// The built-in policies: every file in `shared/policies/builtin/`.
pub const BUILTIN_TEXT: &str = include_str!(concat!(env!("OUT_DIR"), "/builtin.cedar"));
/// Ids of stored policies may not take this prefix.
pub const BUILTIN_PREFIX: &str = "builtin-";

/// The role granted at confirmation to the addresses a deployment names
/// (`AdminEmails`); the built-in `builtin-admin` policy lets it do everything.
pub const ADMIN_ROLE: &str = "admin";

/// Gatehouse's own actions (the schema declares them; services add theirs).
pub mod actions {
    pub const USERS_READ: &str = "users:read";
    pub const USERS_MANAGE: &str = "users:manage";
    pub const EVENTS_READ: &str = "events:read";
    pub const ROLES_READ: &str = "roles:read";
    pub const ROLES_MANAGE: &str = "roles:manage";
    pub const PERMISSIONS_CHECK: &str = "permissions:check";
    pub const POLICIES_READ: &str = "policies:read";
    pub const POLICIES_MANAGE: &str = "policies:manage";
    pub const NOTIFICATIONS_SEND: &str = "notifications:send";
    pub const NOTIFICATIONS_READ: &str = "notifications:read";
}

/// Gatehouse's collections, the resource of actions on no single user.
pub mod collections {
    pub const USERS: &str = "users";
    pub const POLICIES: &str = "policies";
    pub const NOTIFICATIONS: &str = "notifications";
}

const USER_TYPE: &str = "User";
const SERVICE_TYPE: &str = "Service";
const ROLE_TYPE: &str = "Role";
const SCOPE_TYPE: &str = "Scope";
const COLLECTION_TYPE: &str = "Collection";
const NOTIFICATION_TYPE: &str = "Notification";

/// Who sent something: a user, or a service by its client id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "id")]
pub enum Sender {
    User(UserId),
    Service(String),
}

static SCHEMA: LazyLock<Result<Arc<Schema>, String>> = LazyLock::new(|| {
    Schema::from_cedarschema_str(SCHEMA_TEXT)
        .map(|(schema, _warnings)| Arc::new(schema))
        .map_err(|e| format!("the shipped Cedar schema does not parse: {e}"))
});

static BUILTIN: LazyLock<Result<Vec<Policy>, String>> = LazyLock::new(|| {
    let set = PolicySet::from_str(BUILTIN_TEXT)
        .map_err(|e| format!("the built-in policies do not parse: {e}"))?;
    // Re-parse each under its `@id`, so decisions name policies by that id.
    let mut policies = Vec::new();
    for policy in set.policies() {
        let id = policy
            .annotation("id")
            .ok_or_else(|| "every built-in policy needs an @id".to_owned())?;
        let text = policy.to_string();
        policies.push(
            Policy::parse(Some(PolicyId::new(id)), &text)
                .map_err(|e| format!("built-in policy {id}: {e}"))?,
        );
    }
    validate(&*schema().map_err(|e| e.to_string())?, &policies)?;
    Ok(policies)
});

/// The shipped schema; an error only if the repository's schema is broken,
/// which the unit tests catch.
pub fn schema() -> Result<Arc<Schema>, AppError> {
    SCHEMA
        .as_ref()
        .map(Arc::clone)
        .map_err(|e| AppError::unexpected(e.clone()))
}

fn builtin() -> Result<&'static [Policy], AppError> {
    BUILTIN
        .as_ref()
        .map(Vec::as_slice)
        .map_err(|e| AppError::unexpected(e.clone()))
}

/// The built-in policies with their descriptions, as `GET /policies` lists them.
pub fn builtin_policies() -> Result<Vec<PolicyDocument>, AppError> {
    Ok(builtin()?
        .iter()
        .map(|p| PolicyDocument {
            id: p.id().to_string(),
            description: p.annotation("description").unwrap_or_default().to_owned(),
            policy: p.to_string(),
        })
        .collect())
}

fn validate(schema: &Schema, policies: &[Policy]) -> Result<(), String> {
    let set = PolicySet::from_policies(policies.iter().cloned()).map_err(|e| e.to_string())?;
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    if result.validation_passed() {
        Ok(())
    } else {
        Err(result
            .validation_errors()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// A policy as stored and listed: its id, what it is for, and its Cedar text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyDocument {
    pub id: String,
    pub description: String,
    pub policy: String,
}

impl PolicyDocument {
    pub const MAX_ID: usize = 64;
    pub const MAX_DESCRIPTION: usize = 500;
    pub const MAX_TEXT: usize = 10_000;

    /// A policy an administrator submits: one static Cedar policy that parses and
    /// validates against the schema; otherwise a 400 with Cedar's message.
    /// A policy id as the API takes it: `[a-z0-9][a-z0-9-]{0,63}`, so an id can
    /// never name one of the table's own items (`#VERSION`) or pass for a
    /// built-in one in another case; anything else is a 400.
    pub fn check_id(id: &str) -> Result<(), AppError> {
        let mut chars = id.chars();
        let id_ok = id.len() <= Self::MAX_ID
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if id_ok {
            Ok(())
        } else {
            Err(AppError::validation(
                "id",
                "must be 1-64 of a-z, 0-9 and '-', starting with a letter or digit",
            ))
        }
    }

    pub fn submitted(id: &str, description: &str, policy: &str) -> Result<Self, AppError> {
        Self::check_id(id)?;
        if id.starts_with(BUILTIN_PREFIX) {
            return Err(AppError::validation(
                "id",
                "builtin-* ids are the built-in policies, which ship with Gatehouse",
            ));
        }
        if description.chars().count() > Self::MAX_DESCRIPTION {
            return Err(AppError::validation(
                "description",
                "must be at most 500 characters",
            ));
        }
        if policy.len() > Self::MAX_TEXT {
            return Err(AppError::validation(
                "policy",
                "must be at most 10000 bytes",
            ));
        }
        let set = PolicySet::from_str(policy)
            .map_err(|e| AppError::validation("policy", format!("does not parse: {e}")))?;
        if set.templates().next().is_some() || set.policies().count() != 1 {
            return Err(AppError::validation(
                "policy",
                "must be exactly one static policy (no templates)",
            ));
        }
        let parsed = Policy::parse(Some(PolicyId::new(id)), policy)
            .map_err(|e| AppError::validation("policy", format!("does not parse: {e}")))?;
        validate(&*schema()?, &[parsed]).map_err(|e| {
            AppError::validation(
                "policy",
                format!("does not validate against the schema: {e}"),
            )
        })?;
        Ok(Self {
            id: id.to_owned(),
            description: description.to_owned(),
            policy: policy.to_owned(),
        })
    }
}

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

    fn uid(&self) -> Result<EntityUid, AppError> {
        match self {
            Self::User { id, .. } => uid(USER_TYPE, id.as_str()),
            Self::Service { client_id, .. } => uid(SERVICE_TYPE, client_id),
        }
    }

    fn entity(&self) -> Result<Entity, AppError> {
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

fn user_entity(id: &UserId, profile: Option<&Profile>) -> Result<Entity, AppError> {
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

fn uid(kind: &str, id: &str) -> Result<EntityUid, AppError> {
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

    fn entity(&self, schema: &Schema) -> Result<Entity, AppError> {
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

/// An entity a check names: `{"type": "User", "id": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// A check's resource: its type and id, and for a service's own types the
/// attributes its policies need (a `User`'s come from Gatehouse).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// One check as a caller asks it (`POST /permissions/check`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// Defaults to the caller.
    #[serde(default)]
    pub principal: Option<EntityRef>,
    pub action: String,
    pub resource: ResourceRef,
    #[serde(default)]
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
}

/// One question: may `principal` do `action` on `resource`, in `context`?
#[derive(Debug, Clone)]
pub struct Question {
    pub principal: Principal,
    /// An action id; `Namespace::Action::"id"` for a service's own.
    pub action: String,
    pub resource: Resource,
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// The answer, as Cedar gives it.
/// Cedar's answer, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub decision: Verdict,
    /// The policies that decided: the permits that allowed, or the forbids
    /// that denied (empty for a deny because nothing permitted).
    pub determining_policies: Vec<String>,
    /// Policies that failed to evaluate (and so were skipped, as Cedar does).
    pub errors: Vec<String>,
}

/// An action id as a check names it: `users:read` is Gatehouse's
/// `Action::"users:read"`; `Docs::Action::"read"` names a service's own.
pub fn action_uid(action: &str) -> Result<EntityUid, AppError> {
    let bad = |e: String| AppError::validation("action", e);
    if action.contains("::") {
        EntityUid::from_str(action).map_err(|e| bad(format!("is not an action id: {e}")))
    } else {
        uid("Action", action).map_err(|_| bad("is not an action id".into()))
    }
}

/// The compiled policy set: built-ins plus stored policies, indexed by principal
/// scope. Kept warm per policy-set version; decisions are never cached.
pub struct PolicyEngine {
    schema: Arc<Schema>,
    policies: Vec<Policy>,
    any_principal: Vec<usize>,
    by_principal_type: HashMap<EntityTypeName, Vec<usize>>,
    by_principal_entity: HashMap<EntityUid, Vec<usize>>,
    /// Each action with its groups, from the schema.
    actions: HashMap<EntityUid, (Entity, Vec<EntityUid>)>,
    authorizer: Authorizer,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("policies", &self.policies.len())
            .finish_non_exhaustive()
    }
}

impl PolicyEngine {
    /// The built-ins and `stored`. A stored policy that no longer validates
    /// (the schema changed under it) is left out and logged, rather than
    /// failing every decision.
    pub fn new(stored: &[PolicyDocument]) -> Result<Self, AppError> {
        let schema = schema()?;
        let mut policies: Vec<Policy> = builtin()?.to_vec();
        for doc in stored {
            match Policy::parse(Some(PolicyId::new(&doc.id)), &doc.policy)
                .map_err(|e| e.to_string())
                .and_then(|p| validate(&schema, std::slice::from_ref(&p)).map(|()| p))
            {
                Ok(policy) => policies.push(policy),
                Err(error) => tracing::error!(
                    policy_id = %doc.id,
                    %error,
                    "a stored policy no longer validates against the schema and is ignored"
                ),
            }
        }
        let mut engine = Self {
            actions: action_entities(&schema)?,
            schema,
            policies: Vec::new(),
            any_principal: Vec::new(),
            by_principal_type: HashMap::new(),
            by_principal_entity: HashMap::new(),
            authorizer: Authorizer::new(),
        };
        for policy in policies {
            engine.index(policy);
        }
        Ok(engine)
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    fn index(&mut self, policy: Policy) {
        let at = self.policies.len();
        match policy.principal_constraint() {
            PrincipalConstraint::Any => self.any_principal.push(at),
            PrincipalConstraint::Is(kind) => {
                self.by_principal_type.entry(kind).or_default().push(at)
            }
            PrincipalConstraint::Eq(entity)
            | PrincipalConstraint::In(entity)
            | PrincipalConstraint::IsIn(_, entity) => {
                self.by_principal_entity.entry(entity).or_default().push(at)
            }
        }
        self.policies.push(policy);
    }

    /// The policies that can apply to this principal (itself and its
    /// ancestors) and action (itself and its groups).
    fn slice(
        &self,
        principal: &EntityUid,
        ancestors: &[EntityUid],
        action: &EntityUid,
        action_groups: &[EntityUid],
    ) -> Result<PolicySet, AppError> {
        let mut picked: Vec<usize> = self.any_principal.clone();
        if let Some(found) = self.by_principal_type.get(principal.type_name()) {
            picked.extend(found);
        }
        for entity in std::iter::once(principal).chain(ancestors) {
            if let Some(found) = self.by_principal_entity.get(entity) {
                picked.extend(found);
            }
        }
        let applies = |policy: &Policy| match policy.action_constraint() {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(a) => &a == action,
            ActionConstraint::In(list) => list
                .iter()
                .any(|a| a == action || action_groups.contains(a)),
        };
        PolicySet::from_policies(
            picked
                .into_iter()
                .map(|i| &self.policies[i])
                .filter(|p| applies(p))
                .cloned(),
        )
        .map_err(AppError::unexpected)
    }

    /// Cedar's answer to `question`. A question that does not fit the schema
    /// (unknown action, an action that does not apply to that resource type,
    /// a context of the wrong shape) is the caller's error: 400 with Cedar's
    /// message.
    pub fn decide(&self, question: &Question) -> Result<Decision, AppError> {
        let action = action_uid(&question.action)?;
        let (action_entity, groups) = self.actions.get(&action).ok_or_else(|| {
            AppError::validation("action", "is not an action of the schema".to_owned())
        })?;
        let principal_entity = question.principal.entity()?;
        let principal_uid = question.principal.uid()?;
        let resource_entity = question.resource.entity(&self.schema)?;
        let context = Context::from_json_value(
            serde_json::Value::Object(question.context.clone()),
            Some((&self.schema, &action)),
        )
        .map_err(|e| AppError::validation("context", format!("does not fit the schema: {e}")))?;
        let request = Request::new(
            principal_uid.clone(),
            action.clone(),
            resource_entity.uid(),
            context,
            Some(&self.schema),
        )
        .map_err(|e| AppError::validation("action", e.to_string()))?;
        let ancestors: Vec<EntityUid> = match &question.principal {
            Principal::User { profile, .. } => profile
                .iter()
                .flat_map(|p| p.roles.iter())
                .map(|r| uid(ROLE_TYPE, r.as_str()))
                .collect::<Result<_, _>>()?,
            Principal::Service { scopes, .. } => scopes
                .iter()
                .map(|s| uid(SCOPE_TYPE, s))
                .collect::<Result<_, _>>()?,
        };
        let mut entities = vec![principal_entity, action_entity.clone()];
        if resource_entity.uid() != principal_uid {
            entities.push(resource_entity);
        }
        let entities = Entities::from_entities(entities, None).map_err(AppError::unexpected)?;
        let slice = self.slice(&principal_uid, &ancestors, &action, groups)?;
        let response = self.authorizer.is_authorized(&request, &slice, &entities);
        let allowed = response.decision() == cedar_policy::Decision::Allow;
        let mut determining: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        determining.sort();
        Ok(Decision {
            allowed,
            decision: if allowed {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            determining_policies: determining,
            errors: response
                .diagnostics()
                .errors()
                .map(ToString::to_string)
                .collect(),
        })
    }

    /// Whether `principal` may do one of Gatehouse's own actions on a user or
    /// collection: the endpoints' question.
    pub fn allows(
        &self,
        principal: &Principal,
        action: &str,
        resource: &Resource,
    ) -> Result<bool, AppError> {
        Ok(self
            .decide(&Question {
                principal: principal.clone(),
                action: action.to_owned(),
                resource: resource.clone(),
                context: serde_json::Map::new(),
            })?
            .allowed)
    }
}

/// Whether, under `stored` (with the built-ins), an active user in the built-in
/// admin role may still manage policies and roles. A change that fails this
/// would lock every administrator out for good: no one could store a policy
/// again, nor give anyone a role that could.
pub fn admins_keep_control(stored: &[PolicyDocument]) -> Result<bool, AppError> {
    let engine = PolicyEngine::new(stored)?;
    let someone = |id: &str, role: &str| -> Result<(UserId, Profile), AppError> {
        let user_id = UserId::parse(id)?;
        let now = chrono::Utc::now();
        let profile = Profile {
            user_id: user_id.clone(),
            email: crate::domain::Email::parse(&format!("{id}@gatehouse.invalid"))?,
            display_name: None,
            preferences: Default::default(),
            roles: vec![crate::domain::Role::parse(role)?],
            status: crate::domain::UserStatus::Active,
            phone_number: None,
            phone_verified: false,
            created_at: now,
            updated_at: now,
            version: 1,
            pending_email: None,
        };
        Ok((user_id, profile))
    };
    let (admin_id, admin) = someone("lockout-check-admin", ADMIN_ROLE)?;
    let (user_id, user) = someone("lockout-check-user", "user")?;
    let admin = Principal::user(admin_id, Some(admin));
    Ok(engine.allows(
        &admin,
        actions::POLICIES_MANAGE,
        &Resource::Collection(collections::POLICIES),
    )? && engine.allows(
        &admin,
        actions::ROLES_MANAGE,
        &Resource::user(user_id, Some(user)),
    )?)
}

fn action_entities(
    schema: &Schema,
) -> Result<HashMap<EntityUid, (Entity, Vec<EntityUid>)>, AppError> {
    let entities = schema.action_entities().map_err(AppError::unexpected)?;
    Ok(entities
        .iter()
        .map(|entity| {
            let groups = entities
                .ancestors(&entity.uid())
                .map(|a| a.cloned().collect())
                .unwrap_or_default();
            (entity.uid(), (entity.clone(), groups))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, Role};
    use chrono::Utc;
    use serde_json::json;

    fn profile(id: &UserId, roles: &[&str], status: UserStatus) -> Profile {
        Profile {
            user_id: id.clone(),
            email: Email::parse("someone@example.com").unwrap(),
            display_name: None,
            preferences: Default::default(),
            roles: roles.iter().map(|r| Role::parse(r).unwrap()).collect(),
            status,
            phone_number: None,
            phone_verified: false,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
            pending_email: None,
        }
    }

    fn new_id() -> UserId {
        UserId::parse(&uuid::Uuid::new_v4().to_string()).unwrap()
    }

    fn user(roles: &[&str]) -> (UserId, Principal) {
        let id = new_id();
        let p = Principal::user(id.clone(), Some(profile(&id, roles, UserStatus::Active)));
        (id, p)
    }

    fn ask(
        engine: &PolicyEngine,
        principal: &Principal,
        action: &str,
        resource: Resource,
    ) -> Decision {
        engine
            .decide(&Question {
                principal: principal.clone(),
                action: action.into(),
                resource,
                context: Default::default(),
            })
            .unwrap()
    }

    fn stored(id: &str, text: &str) -> PolicyDocument {
        PolicyDocument::submitted(id, "", text).unwrap()
    }

    #[test]
    fn a_forbid_everything_policy_would_lock_the_admins_out_and_a_narrow_one_would_not() {
        let everything =
            PolicyDocument::submitted("no-one", "", "forbid (principal, action, resource);")
                .unwrap();
        assert!(!admins_keep_control(&[everything]).unwrap());
        let roles = PolicyDocument::submitted(
            "no-roles",
            "",
            r#"forbid (principal, action == Action::"roles:manage", resource);"#,
        )
        .unwrap();
        assert!(!admins_keep_control(&[roles]).unwrap());
        let narrow = PolicyDocument::submitted(
            "no-events",
            "",
            r#"forbid (principal, action == Action::"events:read", resource);"#,
        )
        .unwrap();
        assert!(admins_keep_control(&[narrow]).unwrap());
        assert!(admins_keep_control(&[]).unwrap());
    }

    #[test]
    fn policy_ids_follow_one_pattern_and_reserved_ones_in_no_case() {
        for good in ["a", "team-leads", "0-x", &"a".repeat(64)] {
            assert!(PolicyDocument::check_id(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "#VERSION",
            "Builtin-admin",
            "a_b",
            "a.b",
            "a/b",
            "é",
            &"a".repeat(65),
        ] {
            assert!(PolicyDocument::check_id(bad).is_err(), "{bad}");
        }
        let reserved =
            PolicyDocument::submitted("builtin-x", "", "permit (principal, action, resource);");
        assert!(reserved.is_err());
    }

    #[test]
    fn the_shipped_schema_and_builtin_policies_validate() {
        assert!(schema().is_ok(), "{:?}", SCHEMA.as_ref().err());
        assert!(builtin().is_ok(), "{:?}", BUILTIN.as_ref().err());
        let ids: Vec<_> = builtin_policies()
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert!(ids.contains(&"builtin-admin".to_owned()), "{ids:?}");
        assert!(ids.iter().all(|id| id.starts_with(BUILTIN_PREFIX)));
    }

    #[test]
    fn owners_read_themselves_admins_read_anyone_others_nobody() {
        let engine = PolicyEngine::new(&[]).unwrap();
        let (alice_id, alice) = user(&[]);
        let (bob_id, _) = user(&[]);
        let (_, admin) = user(&["admin"]);
        let own = ask(
            &engine,
            &alice,
            actions::USERS_READ,
            Resource::user(alice_id.clone(), None),
        );
        assert!(own.allowed);
        assert_eq!(own.determining_policies, ["builtin-own-account"]);
        let other = ask(
            &engine,
            &alice,
            actions::USERS_READ,
            Resource::user(bob_id.clone(), None),
        );
        assert!(!other.allowed);
        assert_eq!(other.decision, Verdict::Deny);
        assert!(
            ask(
                &engine,
                &admin,
                actions::USERS_READ,
                Resource::user(bob_id.clone(), None)
            )
            .allowed
        );
        assert!(
            ask(
                &engine,
                &admin,
                actions::USERS_MANAGE,
                Resource::user(bob_id, None)
            )
            .allowed
        );
        assert!(
            !ask(
                &engine,
                &alice,
                actions::USERS_MANAGE,
                Resource::user(alice_id, None)
            )
            .allowed
        );
    }

    #[test]
    fn a_disabled_user_is_denied_even_as_admin() {
        let engine = PolicyEngine::new(&[]).unwrap();
        let id = new_id();
        let disabled = Principal::user(
            id.clone(),
            Some(profile(&id, &["admin"], UserStatus::Disabled)),
        );
        let decision = ask(
            &engine,
            &disabled,
            actions::USERS_READ,
            Resource::user(id, None),
        );
        assert!(!decision.allowed);
        assert_eq!(decision.determining_policies, ["builtin-disabled"]);
    }

    #[test]
    fn a_notification_is_read_by_its_sender_and_admins() {
        let engine = PolicyEngine::new(&[]).unwrap();
        let (ada_id, ada) = user(&[]);
        let (_, bob) = user(&[]);
        let (_, admin) = user(&["admin"]);
        let service = Principal::Service {
            client_id: "svc".into(),
            scopes: vec![],
        };
        let sent_by = |sender| Resource::Notification {
            id: "n-1".into(),
            sender: Some(sender),
        };
        let by_ada = sent_by(Sender::User(ada_id));
        assert!(ask(&engine, &ada, actions::NOTIFICATIONS_READ, by_ada.clone()).allowed);
        assert!(!ask(&engine, &bob, actions::NOTIFICATIONS_READ, by_ada.clone()).allowed);
        assert!(ask(&engine, &admin, actions::NOTIFICATIONS_READ, by_ada).allowed);
        let by_service = sent_by(Sender::Service("svc".into()));
        assert!(
            ask(
                &engine,
                &service,
                actions::NOTIFICATIONS_READ,
                by_service.clone()
            )
            .allowed
        );
        assert!(!ask(&engine, &ada, actions::NOTIFICATIONS_READ, by_service).allowed);
    }

    #[test]
    fn forbid_overrides_permit() {
        let engine = PolicyEngine::new(&[stored(
            "no-admin-manage",
            r#"forbid (principal, action == Action::"users:manage", resource);"#,
        )])
        .unwrap();
        let (_, admin) = user(&["admin"]);
        let decision = ask(
            &engine,
            &admin,
            actions::USERS_MANAGE,
            Resource::user(new_id(), None),
        );
        assert!(!decision.allowed);
        assert_eq!(decision.determining_policies, ["no-admin-manage"]);
        assert!(
            ask(
                &engine,
                &admin,
                actions::USERS_READ,
                Resource::user(new_id(), None)
            )
            .allowed
        );
    }

    #[test]
    fn a_role_policy_grants_its_members_and_no_one_else() {
        let engine = PolicyEngine::new(&[stored(
            "support-reads-users",
            r#"permit (principal in Role::"support", action == Action::"users:read", resource);"#,
        )])
        .unwrap();
        let (_, support) = user(&["support"]);
        let (_, plain) = user(&["user"]);
        let target = || Resource::user(new_id(), None);
        let allowed = ask(&engine, &support, actions::USERS_READ, target());
        assert_eq!(allowed.determining_policies, ["support-reads-users"]);
        assert!(!ask(&engine, &plain, actions::USERS_READ, target()).allowed);
        assert!(!ask(&engine, &support, actions::USERS_MANAGE, target()).allowed);
    }

    #[test]
    fn services_are_principals_with_their_scopes() {
        let engine = PolicyEngine::new(&[]).unwrap();
        let service = Principal::Service {
            client_id: "svc".into(),
            scopes: vec!["gatehouse/permissions.check".into()],
        };
        let (_, someone) = user(&[]);
        let about = Resource::Principal(Box::new(someone));
        assert!(ask(&engine, &service, actions::PERMISSIONS_CHECK, about.clone()).allowed);
        let unscoped = Principal::Service {
            client_id: "svc".into(),
            scopes: vec![],
        };
        assert!(!ask(&engine, &unscoped, actions::PERMISSIONS_CHECK, about).allowed);
    }

    #[test]
    fn service_defined_types_and_context_are_checked_against_the_schema() {
        let engine = PolicyEngine::new(&[stored(
            "owners-edit-with-mfa",
            r#"permit (principal, action == Docs::Action::"edit", resource is Docs::Document)
               when { resource.owner == principal && context.mfa };"#,
        )])
        .unwrap();
        let (alice_id, alice) = user(&[]);
        let doc = |owner: &UserId| {
            Resource::Other {
            kind: "Docs::Document".into(),
            id: "d1".into(),
            attributes: json!({"owner": {"__entity": {"type": "User", "id": owner.as_str()}}, "classification": "internal"})
                .as_object()
                .unwrap()
                .clone(),
        }
        };
        let question = |context: serde_json::Value, resource| Question {
            principal: alice.clone(),
            action: r#"Docs::Action::"edit""#.into(),
            resource,
            context: context.as_object().unwrap().clone(),
        };
        assert!(
            engine
                .decide(&question(json!({"mfa": true}), doc(&alice_id)))
                .unwrap()
                .allowed
        );
        assert!(
            !engine
                .decide(&question(json!({"mfa": false}), doc(&alice_id)))
                .unwrap()
                .allowed
        );
        assert!(
            !engine
                .decide(&question(json!({"mfa": true}), doc(&new_id())))
                .unwrap()
                .allowed
        );
        let wrong_context = engine.decide(&question(json!({"mfa": "yes"}), doc(&alice_id)));
        assert!(
            matches!(wrong_context, Err(AppError::Validation { .. })),
            "{wrong_context:?}"
        );
        let unknown_action = engine.decide(&Question {
            action: "documents:shred".into(),
            ..question(json!({}), doc(&alice_id))
        });
        assert!(matches!(unknown_action, Err(AppError::Validation { .. })));
    }

    #[test]
    fn an_invalid_policy_is_refused_with_cedars_message() {
        let unparsable =
            PolicyDocument::submitted("p1", "", "permit (principal, action, resource").unwrap_err();
        assert!(
            unparsable.to_string().contains("does not parse"),
            "{unparsable}"
        );
        let invalid = PolicyDocument::submitted(
            "p2",
            "",
            r#"permit (principal, action == Action::"users:read", resource) when { principal.shoe_size > 3 };"#,
        )
        .unwrap_err();
        assert!(invalid.to_string().contains("shoe_size"), "{invalid}");
        assert!(
            PolicyDocument::submitted("builtin-x", "", "permit (principal, action, resource);")
                .is_err()
        );
        assert!(
            PolicyDocument::submitted(
                "two",
                "",
                "permit (principal, action, resource); forbid (principal, action, resource);"
            )
            .is_err()
        );
    }

    #[test]
    fn many_policies_about_other_principals_are_not_evaluated() {
        let many: Vec<_> = (0..2_000)
            .map(|i| {
                stored(
                    &format!("p{i}"),
                    &format!(r#"permit (principal == User::"u{i}", action == Action::"users:read", resource);"#),
                )
            })
            .collect();
        let engine = PolicyEngine::new(&many).unwrap();
        assert_eq!(engine.len(), many.len() + builtin().unwrap().len());
        let (_, alice) = user(&[]);
        let slice = engine
            .slice(
                &alice.uid().unwrap(),
                &[],
                &action_uid(actions::USERS_READ).unwrap(),
                &[],
            )
            .unwrap();
        assert!(
            slice.policies().count() <= builtin().unwrap().len(),
            "{}",
            slice.policies().count()
        );
    }
}
