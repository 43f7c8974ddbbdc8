//! Reading a user's audit trail, page by page.

use super::*;

/// A page of a user's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

/// A user's audit trail, newest first, for the user themself or a caller
/// allowed to read users; cursors are signed for that user's trail.
#[derive(Clone)]
pub struct AuditTrailService {
    log: Arc<dyn AuditLog>,
    signer: Arc<dyn TokenSigner>,
    permissions: Arc<Permissions>,
}

impl AuditTrailService {
    pub const PAGE: usize = 50;

    pub fn new(
        log: Arc<dyn AuditLog>,
        signer: Arc<dyn TokenSigner>,
        permissions: Arc<Permissions>,
    ) -> Self {
        Self {
            log,
            signer,
            permissions,
        }
    }

    fn payload(user: &UserId, position: &AuditPosition) -> String {
        serde_json::json!({"u": user, "a": position.at, "i": position.id}).to_string()
    }

    async fn position_of(&self, user: &UserId, cursor: &str) -> Result<AuditPosition, AppError> {
        let bad = || AppError::validation("cursor", BAD_CURSOR);
        let payload = open(&*self.signer, cursor).await?;
        let fields: serde_json::Value = serde_json::from_str(&payload).map_err(|_| bad())?;
        let position: AuditPosition = serde_json::from_value(serde_json::json!({
            "at": fields["a"], "id": fields["i"]
        }))
        .map_err(|_| bad())?;
        // Signed for this user's trail only.
        if Self::payload(user, &position) != payload {
            return Err(bad());
        }
        Ok(position)
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn events(
        &self,
        caller: &Caller,
        target: Option<&UserId>,
        cursor: Option<&str>,
    ) -> Result<EventPage, AppError> {
        self.permissions
            .authorise(caller, actions::EVENTS_READ, Target::User(target))
            .await?;
        let target = target.ok_or(AppError::NotFound("user"))?;
        let before = match cursor {
            Some(cursor) => Some(self.position_of(target, cursor).await?),
            None => None,
        };
        let (items, next) = self.log.events(target, before.as_ref(), Self::PAGE).await?;
        let next_cursor = match next {
            Some(position) => Some(seal(&*self.signer, &Self::payload(target, &position)).await?),
            None => None,
        };
        Ok(EventPage { items, next_cursor })
    }
}
