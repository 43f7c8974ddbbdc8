//! The compiled policy set, sliced per request, and the lockout check.

use super::*;

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
    /// The slices built so far, by the policies they hold: a role and an
    /// action pick the same slice request after request, so each is built
    /// once per policy-set version (this engine) and shared, not cloned per
    /// decision.
    slices: std::sync::Mutex<HashMap<Vec<usize>, Arc<PolicySet>>>,
}

/// Slices kept per engine; past this many (principals with policies of their
/// own, in many role combinations) the cache starts again.
const MAX_SLICES: usize = 4096;

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
            slices: std::sync::Mutex::new(HashMap::new()),
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

    pub(super) fn index(&mut self, policy: Policy) {
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
    pub(super) fn slice(
        &self,
        principal: &EntityUid,
        ancestors: &[EntityUid],
        action: &EntityUid,
        action_groups: &[EntityUid],
    ) -> Result<Arc<PolicySet>, AppError> {
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
        picked.retain(|&i| applies(&self.policies[i]));
        picked.sort_unstable();
        picked.dedup();
        let mut slices = self.slices.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slice) = slices.get(&picked) {
            return Ok(Arc::clone(slice));
        }
        let slice = Arc::new(
            PolicySet::from_policies(picked.iter().map(|&i| self.policies[i].clone()))
                .map_err(AppError::unexpected)?,
        );
        if slices.len() >= MAX_SLICES {
            slices.clear();
        }
        slices.insert(picked, Arc::clone(&slice));
        Ok(slice)
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
            mfa: None,
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

pub(super) fn action_entities(
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
