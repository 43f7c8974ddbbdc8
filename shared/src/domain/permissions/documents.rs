//! A policy as stored and shown: its id, text and description, validated.

use super::*;

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
