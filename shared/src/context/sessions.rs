//! The sessions' wiring: sign-ins filed at login, listed and ended.

use super::{AppContext, KmsSealer};
use crate::config::{ConfigError, public_base_url, session_key_id};
use crate::services::{SessionListService, SessionsParts, SessionsService, SignIns};
use std::sync::Arc;

impl AppContext {
    /// Where sign-ins are filed: the table, their refresh tokens sealed (KMS);
    /// a new device's notice through the queue.
    pub(super) fn sign_ins(&self) -> Result<SignIns, ConfigError> {
        Ok(SignIns::new(
            self.table()?,
            self.session_sealer()?,
            self.notices()?,
            self.audit()?,
            &public_base_url(&*self.env)?,
        ))
    }

    /// The session list: the table only.
    pub fn session_list(&self) -> Result<SessionListService, ConfigError> {
        Ok(SessionListService::new(
            self.table()?,
            self.guard()?,
            self.permissions()?,
        ))
    }

    /// Ending sessions: the table, KMS (a sealed refresh token opened to
    /// revoke it) and Cognito (`RevokeToken`).
    pub fn sessions(&self) -> Result<SessionsService, ConfigError> {
        Ok(SessionsService::new(SessionsParts {
            list: self.session_list()?,
            sealer: self.session_sealer()?,
            authenticator: self.cognito()?,
            audit: self.audit()?,
        }))
    }

    /// The sealer of refresh tokens: a key of its own, so the functions that
    /// open them cannot open TOTP secrets.
    fn session_sealer(&self) -> Result<Arc<KmsSealer>, ConfigError> {
        Ok(Arc::new(KmsSealer::new(
            &self.aws,
            session_key_id(&*self.env)?,
        )))
    }
}
