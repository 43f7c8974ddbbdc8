//! Sessions: each sign-in filed (a login, a second-factor login) with where it
//! came from, touched by its refreshes, listed, and ended one at a time (its
//! refresh token revoked at Cognito, its access tokens refused by the session
//! check) or all but the caller's own.

use super::sessions::SessionGuard;
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::permissions::actions;
use crate::domain::session::{
    KNOWN_DEVICE_SECONDS, KNOWN_DEVICES_KEPT, SessionView, SignInRecord, device_key, device_name,
};
use crate::domain::{AppError, Caller, Origin, RefreshToken, Tokens, UserId};
use crate::ports::{Authenticator, SecretSealer, SessionStore};
use crate::services::retry::with_retries;
use crate::services::{Audit, Notices, Permissions, Target};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// How long a sign-in lasts: its refresh token's validity (the app client's
/// `RefreshTokenValidity`, 30 days; a template test keeps them equal).
pub const SIGN_IN_DAYS: i64 = 30;

/// Files sign-ins, and tells the owner of one from a device not seen recently.
#[derive(Clone)]
pub struct SignIns {
    sessions: Arc<dyn SessionStore>,
    sealer: Arc<dyn SecretSealer>,
    notices: Notices,
    audit: Audit,
    /// The sessions list, linked from the notice.
    sessions_url: String,
}

impl SignIns {
    pub fn new(
        sessions: Arc<dyn SessionStore>,
        sealer: Arc<dyn SecretSealer>,
        notices: Notices,
        audit: Audit,
        public_base_url: &str,
    ) -> Self {
        Self {
            sessions,
            sealer,
            notices,
            audit,
            sessions_url: format!(
                "{}/users/me/sessions",
                public_base_url.trim_end_matches('/')
            ),
        }
    }

    /// Files the sign-in `tokens` start, from `origin`; its refresh token is
    /// kept sealed, for ending it later. Tokens that name no sign-in (no
    /// `origin_jti`) are a session nobody can end alone: refused.
    pub async fn record(
        &self,
        tokens: &Tokens,
        origin: &Origin,
        mfa: bool,
    ) -> Result<(), AppError> {
        let (Some(issue), Some(refresh)) = (&tokens.issued, &tokens.refresh_token) else {
            return Err(AppError::unexpected(
                "a sign-in's tokens came without their refresh token",
            ));
        };
        let id = issue
            .session_id
            .clone()
            .ok_or_else(|| AppError::unexpected("an access token without origin_jti"))?;
        let sealed = self.sealer.seal(&issue.user_id, refresh).await?;
        let at = Utc::now();
        let now = at.timestamp();
        let record = SignInRecord {
            id,
            created_at: at.timestamp_millis(),
            last_used_at: at.timestamp_millis(),
            ip: Some(origin.source_ip.clone()),
            user_agent: origin.user_agent.clone(),
            mfa,
            sealed_refresh_token: Some(sealed),
            expires_at: now + SIGN_IN_DAYS * 24 * 60 * 60,
        };
        with_retries(|| self.sessions.record_sign_in(&issue.user_id, &record)).await?;
        self.notice_new_device(&issue.user_id, origin, now).await;
        Ok(())
    }

    /// A sign-in whose device family and network match none seen in the last
    /// 90 days emails the owner (not their first sign-in ever: nothing is
    /// known then). Bookkeeping: a failure is logged, the sign-in stands.
    async fn notice_new_device(&self, user: &UserId, origin: &Origin, now: i64) {
        let key = device_key(origin.user_agent.as_deref(), &origin.source_ip);
        let known = match self.sessions.known_devices(user).await {
            Ok(known) => known,
            Err(err) => {
                tracing::warn!(error = %err, "known devices not read; no new-sign-in notice");
                return;
            }
        };
        let new_device = known.as_ref().is_some_and(|seen| {
            seen.get(&key)
                .is_none_or(|at| now - at > KNOWN_DEVICE_SECONDS)
        });
        let mut seen: Vec<(String, i64)> = known
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, at)| *k != key && now - at <= KNOWN_DEVICE_SECONDS)
            .collect();
        seen.sort_by_key(|(_, at)| std::cmp::Reverse(*at));
        seen.truncate(KNOWN_DEVICES_KEPT - 1);
        seen.push((key, now));
        if let Err(err) = self
            .sessions
            .remember_devices(user, &seen.into_iter().collect())
            .await
        {
            tracing::warn!(error = %err, "a sign-in's device not remembered");
        }
        if !new_device {
            return;
        }
        let mut data = serde_json::Map::new();
        data.insert(
            "time".into(),
            DateTime::<Utc>::from_timestamp(now, 0)
                .unwrap_or_default()
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
                .into(),
        );
        data.insert("ip".into(), origin.source_ip.clone().into());
        data.insert(
            "device".into(),
            device_name(origin.user_agent.as_deref()).into(),
        );
        data.insert("sessions_url".into(), self.sessions_url.clone().into());
        self.notices
            .send(
                Notices::moment_id("new-sign-in", user),
                user,
                "new-sign-in",
                data,
                None,
            )
            .await;
        self.audit
            .user(user, AuditAction::NewSignInNoticed, Some(origin))
            .await;
    }
}

/// A refresh of a sign-in: its `last_used_at`, at most once a minute.
/// Bookkeeping: a failure is logged, the refresh stands.
pub(super) async fn touched(sessions: &dyn SessionStore, tokens: &Tokens) {
    let Some(issue) = &tokens.issued else { return };
    let Some(id) = &issue.session_id else { return };
    if let Err(err) = sessions
        .touch_sign_in(&issue.user_id, id, Utc::now().timestamp_millis())
        .await
    {
        tracing::warn!(error = %err, "a sign-in's last use not recorded");
    }
}

/// `GET /users/me/sessions`, and `GET /users/{user_id}/sessions` for a caller
/// allowed to manage users.
#[derive(Clone)]
pub struct SessionListService {
    sessions: Arc<dyn SessionStore>,
    guard: SessionGuard,
    permissions: Arc<Permissions>,
}

impl SessionListService {
    pub fn new(
        sessions: Arc<dyn SessionStore>,
        guard: SessionGuard,
        permissions: Arc<Permissions>,
    ) -> Self {
        Self {
            sessions,
            guard,
            permissions,
        }
    }

    /// Whose sessions: the caller's own (`target` none), or, for a caller
    /// allowed to manage users, the target's.
    async fn whose<'a>(
        &self,
        caller: &'a Caller,
        target: Option<&'a UserId>,
    ) -> Result<&'a UserId, AppError> {
        match target {
            None => {
                self.guard.admit(caller).await?;
                Ok(&caller.user_id)
            }
            Some(user) => {
                self.permissions
                    .authorise(caller, actions::USERS_MANAGE, Target::User(Some(user)))
                    .await?;
                Ok(user)
            }
        }
    }

    /// The user's sessions, newest first; the caller's own marked `current`.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn list(
        &self,
        caller: &Caller,
        target: Option<&UserId>,
    ) -> Result<SessionList, AppError> {
        let user = self.whose(caller, target).await?;
        let current = (user == &caller.user_id)
            .then_some(caller.session_id.as_deref())
            .flatten();
        Ok(SessionList {
            items: self
                .live(user)
                .await?
                .iter()
                .map(|record| SessionView::of(record, current))
                .collect(),
        })
    }

    async fn live(&self, user: &UserId) -> Result<Vec<SignInRecord>, AppError> {
        self.sessions.sign_ins(user, Utc::now().timestamp()).await
    }
}

/// What `GET .../sessions` answers.
#[derive(Debug, serde::Serialize)]
pub struct SessionList {
    pub items: Vec<SessionView>,
}

/// `DELETE /users/me/sessions[/{id}]`, and `DELETE
/// /users/{user_id}/sessions/{id}` for a caller allowed to manage users.
#[derive(Clone)]
pub struct SessionsService {
    list: SessionListService,
    sealer: Arc<dyn SecretSealer>,
    authenticator: Arc<dyn Authenticator>,
    audit: Audit,
}

/// The parts of a [`SessionsService`].
pub struct SessionsParts {
    pub list: SessionListService,
    pub sealer: Arc<dyn SecretSealer>,
    pub authenticator: Arc<dyn Authenticator>,
    pub audit: Audit,
}

impl SessionsService {
    pub fn new(parts: SessionsParts) -> Self {
        let SessionsParts {
            list,
            sealer,
            authenticator,
            audit,
        } = parts;
        Self {
            list,
            sealer,
            authenticator,
            audit,
        }
    }

    /// Ends one session: 404 for an id that is not one of the user's (the
    /// same answer whoever's it is).
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn end(
        &self,
        caller: &Caller,
        target: Option<&UserId>,
        session_id: &str,
        origin: &Origin,
    ) -> Result<(), AppError> {
        let user = self.list.whose(caller, target).await?;
        let record = self
            .list
            .live(user)
            .await?
            .into_iter()
            .find(|r| r.id == session_id)
            .ok_or(AppError::NotFound("session"))?;
        self.end_one(user, &record).await?;
        let mut event = AuditEvent::new(user.clone(), AuditAction::SessionEnded, Some(origin));
        if *user != caller.user_id {
            event = event.by(&caller.user_id);
        }
        self.audit.record(event).await;
        tracing::info!("session ended");
        Ok(())
    }

    /// Ends every session of the caller but the one they call with.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn end_others(&self, caller: &Caller, origin: &Origin) -> Result<(), AppError> {
        let user = self.list.whose(caller, None).await?;
        // A token that names no sign-in would end the caller's own too.
        let Some(mine) = caller.session_id.as_deref() else {
            return Err(AppError::validation(
                "authorization",
                "this access token names no session (no origin_jti); log in again",
            ));
        };
        let others: Vec<SignInRecord> = self
            .list
            .live(user)
            .await?
            .into_iter()
            .filter(|r| r.id != mine)
            .collect();
        for record in &others {
            self.end_one(user, record).await?;
        }
        self.audit
            .user(user, AuditAction::OtherSessionsEnded, Some(origin))
            .await;
        tracing::info!(ended = others.len(), "other sessions ended");
        Ok(())
    }

    /// Cognito first (the refresh token is refused there too, also around
    /// Gatehouse), then the access tokens (refused by every session check),
    /// then the record; a retry after a failure finishes the job.
    async fn end_one(&self, user: &UserId, record: &SignInRecord) -> Result<(), AppError> {
        if let Some(sealed) = &record.sealed_refresh_token {
            let token = RefreshToken::parse(&self.sealer.open(user, sealed).await?)?;
            with_retries(|| self.authenticator.revoke(&token)).await?;
        }
        with_retries(|| self.list.guard.end_sign_in(user, &record.id)).await?;
        with_retries(|| self.list.sessions.forget_sign_in(user, &record.id)).await
    }
}
