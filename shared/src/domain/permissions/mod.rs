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

mod check;
mod documents;
mod engine;
mod entities;

pub use check::{
    Check, CheckResource, Decision, NamedPrincipal, Question, ResourceType, Verdict, action_uid,
};
pub use documents::PolicyDocument;
pub use engine::{PolicyEngine, admins_keep_control};
use entities::*;
pub use entities::{Principal, Resource};

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
            mfa: None,
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
