//! A permission check: the question, and the answer.

use super::*;

/// The type of a check's resource: Gatehouse's own types, whose facts come
/// from its store, or a type a service declared in the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceType {
    User,
    Service,
    Role,
    Scope,
    Collection,
    Notification,
    /// A service's own type, with the attributes its policies need.
    Other(String),
}

impl ResourceType {
    pub fn parse(name: &str) -> Self {
        match name {
            USER_TYPE => Self::User,
            SERVICE_TYPE => Self::Service,
            ROLE_TYPE => Self::Role,
            SCOPE_TYPE => Self::Scope,
            COLLECTION_TYPE => Self::Collection,
            NOTIFICATION_TYPE => Self::Notification,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The Cedar type name.
    pub fn cedar_name(&self) -> &str {
        match self {
            Self::User => USER_TYPE,
            Self::Service => SERVICE_TYPE,
            Self::Role => ROLE_TYPE,
            Self::Scope => SCOPE_TYPE,
            Self::Collection => COLLECTION_TYPE,
            Self::Notification => NOTIFICATION_TYPE,
            Self::Other(name) => name,
        }
    }

    /// Whether Gatehouse keeps this type's facts (so a caller may not supply
    /// them: they would let the check answer what no endpoint would).
    pub fn owned_by_gatehouse(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

/// The principal a check asks about, when not the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedPrincipal {
    User(UserId),
    /// A service, by its client id.
    Service(String),
}

impl NamedPrincipal {
    /// A principal as a check names it: `User` (by user id) or `Service`.
    pub fn parse(kind: &str, id: &str) -> Result<Self, AppError> {
        match kind {
            USER_TYPE => UserId::parse(id)
                .map(Self::User)
                .map_err(|_| AppError::validation("principal", "id is not a user id")),
            SERVICE_TYPE => Ok(Self::Service(id.to_owned())),
            _ => Err(AppError::validation(
                "principal",
                "type must be User or Service",
            )),
        }
    }
}

/// A check's resource: its type and id, and a service type's attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResource {
    pub kind: ResourceType,
    pub id: String,
    /// Only for [`ResourceType::Other`]; empty otherwise.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl CheckResource {
    /// Refuses attributes for a type Gatehouse owns (400 naming the type).
    pub fn parse(
        kind: &str,
        id: String,
        attributes: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<Self, AppError> {
        let kind = ResourceType::parse(kind);
        if attributes.is_some() && kind.owned_by_gatehouse() {
            return Err(AppError::validation(
                "resource",
                format!(
                    "attributes of a {} come from Gatehouse, not the caller",
                    kind.cedar_name()
                ),
            ));
        }
        Ok(Self {
            kind,
            id,
            attributes: attributes.unwrap_or_default(),
        })
    }
}

/// One check, parsed: may `principal` (the caller when `None`) do `action` on
/// `resource`, in `context`?
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub principal: Option<NamedPrincipal>,
    pub action: String,
    pub resource: CheckResource,
    pub context: serde_json::Map<String, serde_json::Value>,
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

/// Cedar's answer, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    Deny,
}

/// The answer, as Cedar gives it.
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
