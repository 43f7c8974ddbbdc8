//! A permission check: the question, and the answer.

use super::*;

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
