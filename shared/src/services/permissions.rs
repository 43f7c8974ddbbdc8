//! The one decision function every endpoint authorises through, the check
//! endpoints other services call, and the policy administration API.
//!
//! A decision reads the caller (roles, status, session cut-off), the users it is
//! about and the policy set's version in one `BatchGetItem`; the compiled policy
//! set is kept warm per version, so a stored change is seen on the very next
//! decision, and a revoked role denies at once. Decisions are never cached.

use super::Audit;
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::mfa::MfaRequiredRoles;
use crate::domain::permissions::{
    BUILTIN_PREFIX, Check, Decision, NamedPrincipal, PolicyDocument, PolicyEngine, Principal,
    Question, Resource, ResourceType, Sender, actions, builtin_policies, collections,
};
use crate::domain::session::admit;
use crate::domain::{AppError, Caller, Origin, Profile, Subject, UserId};
use crate::metrics::{self, Metric};
use crate::ports::{PolicySnapshot, PolicyStore};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// What an endpoint asks about.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A user by id (`None`: the path named no valid id).
    User(Option<&'a UserId>),
    /// One of Gatehouse's collections.
    Collection(&'static str),
    /// A notification, with its sender.
    Notification {
        id: &'a str,
        sender: Option<&'a Sender>,
    },
}

impl Target<'_> {
    /// The Cedar resource an endpoint's target is, with the target user's
    /// profile when it is a user: the one mapping, for endpoints and checks.
    pub fn resource(self, profile: Option<Profile>) -> Resource {
        match self {
            Target::User(Some(id)) => Resource::user(id.clone(), profile),
            Target::User(None) => Resource::UnknownUser,
            Target::Collection(name) => Resource::Collection(name),
            Target::Notification { id, sender } => Resource::Notification {
                id: id.to_owned(),
                sender: sender.cloned(),
            },
        }
    }
}

/// What an allowed request has read already: the caller's profile and the
/// target user's (when the target is a user), from the decision's one read.
#[derive(Debug, Clone, Default)]
pub struct Authorised {
    pub me: Option<Profile>,
    pub target: Option<Profile>,
}

pub struct Permissions {
    store: Arc<dyn PolicyStore>,
    compiled: Mutex<Option<(u64, Arc<PolicyEngine>)>>,
    mfa_required: MfaRequiredRoles,
}

impl Permissions {
    pub const MAX_BATCH: usize = 100;

    pub fn new(store: Arc<dyn PolicyStore>) -> Self {
        Self {
            store,
            compiled: Mutex::new(None),
            mfa_required: MfaRequiredRoles::default(),
        }
    }

    /// Holders of these roles are refused (403 `mfa_enrollment_required`)
    /// until their second factor is on.
    pub fn with_mfa_required(self, roles: MfaRequiredRoles) -> Self {
        Self {
            mfa_required: roles,
            ..self
        }
    }

    pub fn mfa_required_roles(&self) -> &MfaRequiredRoles {
        &self.mfa_required
    }

    /// The compiled policy set of `version`: the warm one when it is that
    /// version, else the stored policies read and compiled again.
    async fn engine(&self, version: u64) -> Result<Arc<PolicyEngine>, AppError> {
        let warm = self
            .compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some((warm_version, engine)) = warm
            && warm_version == version
        {
            return Ok(engine);
        }
        let (stored_version, stored) = if version == 0 {
            (0, Vec::new())
        } else {
            self.store.policies().await?
        };
        // Compiling is CPU work (78 ms for 1,000 policies): off the async
        // thread, so the runtime's timers (the deadline guard) keep running.
        let engine = Arc::new(
            tokio::task::spawn_blocking(move || PolicyEngine::new(&stored))
                .await
                .map_err(AppError::unexpected)??,
        );
        *self.compiled.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((stored_version, Arc::clone(&engine)));
        Ok(engine)
    }

    fn current_caller(
        &self,
        snapshot: &PolicySnapshot,
        caller: &Caller,
    ) -> Result<Principal, AppError> {
        let me = snapshot
            .users
            .get(&caller.user_id)
            .cloned()
            .unwrap_or_default();
        admit(caller, &me.cutoff, me.profile.as_ref(), &self.mfa_required)?;
        Ok(Principal::user(caller.user_id.clone(), me.profile))
    }

    /// The endpoints' gate: the caller's token is current and the policies
    /// allow `action` on `target`; otherwise 401 or 403.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id, action))]
    pub async fn authorise(
        &self,
        caller: &Caller,
        action: &'static str,
        target: Target<'_>,
    ) -> Result<Authorised, AppError> {
        let mut users = vec![caller.user_id.clone()];
        if let Target::User(Some(id)) = target
            && *id != caller.user_id
        {
            users.push(id.clone());
        }
        let snapshot = self.store.snapshot(&users).await?;
        let principal = self.current_caller(&snapshot, caller)?;
        let engine = self.engine(snapshot.version).await?;
        let profile_of = |id: &UserId| snapshot.users.get(id).and_then(|u| u.profile.clone());
        let target_profile = match target {
            Target::User(Some(id)) => profile_of(id),
            _ => None,
        };
        let resource = target.resource(target_profile.clone());
        let allowed = engine.allows(&principal, action, &resource)?;
        metrics::record(Metric::PermissionDecision { allowed });
        if !allowed {
            return Err(AppError::Forbidden(refusal(action)));
        }
        Ok(Authorised {
            me: profile_of(&caller.user_id),
            target: target_profile,
        })
    }

    /// [`Self::authorise`] for a route services may call too: a service is
    /// decided on by its client id and its token's scopes.
    pub async fn authorise_subject(
        &self,
        subject: &Subject,
        action: &'static str,
        target: Target<'_>,
    ) -> Result<(), AppError> {
        let (client_id, scopes) = match subject {
            Subject::User(caller) => {
                return self.authorise(caller, action, target).await.map(drop);
            }
            Subject::Service { client_id, scopes } => (client_id, scopes),
        };
        let snapshot = self.store.snapshot(&[]).await?;
        let engine = self.engine(snapshot.version).await?;
        let principal = Principal::Service {
            client_id: client_id.clone(),
            scopes: scopes.clone(),
        };
        let resource = target.resource(None);
        let allowed = engine.allows(&principal, action, &resource)?;
        metrics::record(Metric::PermissionDecision { allowed });
        if allowed {
            Ok(())
        } else {
            Err(AppError::Forbidden(refusal(action)))
        }
    }

    /// Answers one check for `subject`. Asking about another principal needs
    /// `permissions:check`; a check that does not fit the schema is a 400.
    #[tracing::instrument(skip_all)]
    pub async fn check(&self, subject: &Subject, check: &Check) -> Result<Decision, AppError> {
        let mut decisions = self
            .decide_all(subject, std::slice::from_ref(check), |_, err| err)
            .await?;
        Ok(decisions.remove(0))
    }

    /// Answers `checks` for `subject`, in order; an error names the check by
    /// its position (`checks`: `item 3: ...`).
    #[tracing::instrument(skip_all, fields(checks = checks.len()))]
    pub async fn check_batch(
        &self,
        subject: &Subject,
        checks: &[Check],
    ) -> Result<Vec<Decision>, AppError> {
        self.decide_all(subject, checks, batch_item).await
    }

    async fn decide_all(
        &self,
        subject: &Subject,
        checks: &[Check],
        label: fn(usize, AppError) -> AppError,
    ) -> Result<Vec<Decision>, AppError> {
        let mut users = BTreeSet::new();
        if let Subject::User(caller) = subject {
            users.insert(caller.user_id.clone());
        }
        for check in checks {
            if let Some(NamedPrincipal::User(id)) = &check.principal {
                users.insert(id.clone());
            }
            if check.resource.kind == ResourceType::User
                && let Ok(id) = UserId::parse(&check.resource.id)
            {
                users.insert(id);
            }
        }
        let users: Vec<UserId> = users.into_iter().collect();
        let snapshot = self.store.snapshot(&users).await?;
        let caller = match subject {
            Subject::User(caller) => self.current_caller(&snapshot, caller)?,
            Subject::Service { client_id, scopes } => Principal::Service {
                client_id: client_id.clone(),
                scopes: scopes.clone(),
            },
        };
        let engine = self.engine(snapshot.version).await?;
        let profile_of = |id: &UserId| snapshot.users.get(id).and_then(|u| u.profile.clone());
        // Gatehouse's own facts about notifications, from the store.
        let mut senders = HashMap::new();
        for check in checks {
            if check.resource.kind == ResourceType::Notification
                && !senders.contains_key(&check.resource.id)
            {
                let sender = self.store.notification_sender(&check.resource.id).await?;
                senders.insert(check.resource.id.clone(), sender);
            }
        }
        let mut decisions = Vec::with_capacity(checks.len());
        for (i, check) in checks.iter().enumerate() {
            let question = self
                .question(&engine, &caller, check, &profile_of, &senders)
                .map_err(|e| label(i, e))?;
            decisions.push(engine.decide(&question).map_err(|e| label(i, e))?);
        }
        let allowed = decisions.iter().filter(|d| d.allowed).count() as u64;
        metrics::record_many(Metric::PermissionDecision { allowed: true }, allowed);
        metrics::record_many(
            Metric::PermissionDecision { allowed: false },
            decisions.len() as u64 - allowed,
        );
        Ok(decisions)
    }

    fn question(
        &self,
        engine: &PolicyEngine,
        caller: &Principal,
        check: &Check,
        profile_of: &dyn Fn(&UserId) -> Option<Profile>,
        senders: &HashMap<String, Option<Sender>>,
    ) -> Result<Question, AppError> {
        let principal = match &check.principal {
            None => caller.clone(),
            Some(named) => {
                let principal = match named {
                    NamedPrincipal::User(id) => Principal::user(id.clone(), profile_of(id)),
                    NamedPrincipal::Service(client_id) => match caller {
                        Principal::Service { client_id: own, .. } if own == client_id => {
                            caller.clone()
                        }
                        _ => Principal::Service {
                            client_id: client_id.clone(),
                            scopes: Vec::new(),
                        },
                    },
                };
                if principal.name() != caller.name() {
                    let about = Resource::Principal(Box::new(principal.clone()));
                    let allowed = engine.allows(caller, actions::PERMISSIONS_CHECK, &about)?;
                    metrics::record(Metric::PermissionDecision { allowed });
                    if !allowed {
                        return Err(AppError::Forbidden(refusal(actions::PERMISSIONS_CHECK)));
                    }
                }
                if let Principal::User { profile: None, .. } = principal {
                    return Err(AppError::NotFound("principal"));
                }
                principal
            }
        };
        let id = &check.resource.id;
        let resource = match &check.resource.kind {
            ResourceType::Notification => Target::Notification {
                id,
                sender: senders.get(id).and_then(Option::as_ref),
            }
            .resource(None),
            ResourceType::User => {
                let user = UserId::parse(id).ok();
                let profile = user.as_ref().and_then(profile_of);
                Target::User(user.as_ref()).resource(profile)
            }
            ResourceType::Service => Resource::Principal(Box::new(Principal::Service {
                client_id: id.clone(),
                scopes: Vec::new(),
            })),
            kind => Resource::Other {
                kind: kind.cedar_name().to_owned(),
                id: id.clone(),
                attributes: check.resource.attributes.clone(),
            },
        };
        Ok(Question {
            principal,
            action: check.action.clone(),
            resource,
            context: check.context.clone(),
        })
    }
}

/// Names a batch's failing check by its position (`checks`: `item 3: ...`).
pub fn batch_item(i: usize, err: AppError) -> AppError {
    match err {
        AppError::Validation { field, reason } => {
            AppError::validation("checks", format!("item {i}: {field} {reason}"))
        }
        other => other,
    }
}

/// Why a request was refused, in the caller's terms.
fn refusal(action: &str) -> String {
    match action {
        actions::USERS_READ | actions::EVENTS_READ | actions::ROLES_READ => {
            "you may not read other users".into()
        }
        actions::USERS_MANAGE | actions::ROLES_MANAGE => "you may not manage users".into(),
        actions::PERMISSIONS_CHECK => "you may not ask about other principals".into(),
        actions::POLICIES_READ | actions::POLICIES_MANAGE => "you may not manage policies".into(),
        actions::NOTIFICATIONS_SEND => "you may not send notifications".into(),
        actions::NOTIFICATIONS_READ => "you may not read this notification".into(),
        other => format!("the policies do not allow {other} here"),
    }
}

/// A policy as `GET /policies` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListedPolicy {
    #[serde(flatten)]
    pub document: PolicyDocument,
    /// Ships with Gatehouse: cannot be replaced or deleted through the API.
    pub builtin: bool,
}

/// `GET/PUT/DELETE /policies`: administrators manage stored policies; each
/// change is in the administrator's audit trail.
#[derive(Clone)]
pub struct PolicyAdmin {
    permissions: Arc<Permissions>,
    store: Arc<dyn PolicyStore>,
    audit: Audit,
}

impl PolicyAdmin {
    pub fn new(permissions: Arc<Permissions>, store: Arc<dyn PolicyStore>, audit: Audit) -> Self {
        Self {
            permissions,
            store,
            audit,
        }
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn list(&self, caller: &Caller) -> Result<Vec<ListedPolicy>, AppError> {
        self.permissions
            .authorise(
                caller,
                actions::POLICIES_READ,
                Target::Collection(collections::POLICIES),
            )
            .await?;
        let mut listed: Vec<ListedPolicy> = builtin_policies()?
            .into_iter()
            .map(|document| ListedPolicy {
                document,
                builtin: true,
            })
            .collect();
        let (_, mut stored) = self.store.policies().await?;
        stored.sort_by(|a, b| a.id.cmp(&b.id));
        listed.extend(stored.into_iter().map(|document| ListedPolicy {
            document,
            builtin: false,
        }));
        Ok(listed)
    }

    /// Stores `policy` under `id`; `Ok(true)` when it is new.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id, policy_id = %id))]
    pub async fn put(
        &self,
        caller: &Caller,
        id: &str,
        description: &str,
        policy: &str,
        origin: &Origin,
    ) -> Result<(ListedPolicy, bool), AppError> {
        self.permissions
            .authorise(
                caller,
                actions::POLICIES_MANAGE,
                Target::Collection(collections::POLICIES),
            )
            .await?;
        let document = PolicyDocument::submitted(id, description, policy)?;
        let (_, mut after) = self.store.policies().await?;
        after.retain(|p| p.id != document.id);
        after.push(document.clone());
        Self::keeps_administrators(&after)?;
        let created = self.store.put_policy(&document).await?;
        self.record(caller, AuditAction::PolicyStored, id, origin)
            .await;
        Ok((
            ListedPolicy {
                document,
                builtin: false,
            },
            created,
        ))
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id, policy_id = %id))]
    pub async fn delete(&self, caller: &Caller, id: &str, origin: &Origin) -> Result<(), AppError> {
        self.permissions
            .authorise(
                caller,
                actions::POLICIES_MANAGE,
                Target::Collection(collections::POLICIES),
            )
            .await?;
        PolicyDocument::check_id(id)?;
        if id.starts_with(BUILTIN_PREFIX) {
            return Err(AppError::validation(
                "id",
                "built-in policies ship with Gatehouse and cannot be deleted; a forbid policy can narrow them",
            ));
        }
        let (_, mut after) = self.store.policies().await?;
        after.retain(|p| p.id != id);
        Self::keeps_administrators(&after)?;
        if !self.store.delete_policy(id).await? {
            return Err(AppError::NotFound("policy"));
        }
        self.record(caller, AuditAction::PolicyDeleted, id, origin)
            .await;
        Ok(())
    }

    /// Refuses a change after which no administrator could manage policies and
    /// roles (the set is evaluated for the built-in admin role before it is
    /// stored). Two racing changes are each checked alone; the break-glass
    /// command (`gatehouse-ops policies`) mends what slips through.
    fn keeps_administrators(after: &[PolicyDocument]) -> Result<(), AppError> {
        if crate::domain::permissions::admins_keep_control(after)? {
            Ok(())
        } else {
            Err(AppError::validation(
                "policy",
                "would leave no one able to manage policies and roles (evaluated for the built-in admin role)",
            ))
        }
    }

    async fn record(&self, caller: &Caller, action: AuditAction, id: &str, origin: &Origin) {
        let mut event = AuditEvent::new(caller.user_id.clone(), action, Some(origin));
        event.policy_id = Some(id.to_owned());
        self.audit.record(event).await;
    }
}
