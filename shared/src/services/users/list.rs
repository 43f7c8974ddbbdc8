//! Listing users, page by page with signed cursors.

use super::*;

/// One page of the admin's user list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserPage {
    pub items: Vec<UserSummary>,
    pub next_cursor: Option<String>,
}

/// The admin's user list, paged by opaque cursors that are signed: a tampered
/// cursor, or one from a list with other filters, is refused (400), never
/// obeyed as another query.
#[derive(Clone)]
pub struct UserListService {
    store: Arc<dyn ProfileStore>,
    signer: Arc<dyn TokenSigner>,
    permissions: Arc<Permissions>,
}

impl UserListService {
    pub const DEFAULT_LIMIT: usize = 20;
    pub const MAX_LIMIT: usize = 100;

    pub fn new(
        store: Arc<dyn ProfileStore>,
        signer: Arc<dyn TokenSigner>,
        permissions: Arc<Permissions>,
    ) -> Self {
        Self {
            store,
            signer,
            permissions,
        }
    }

    /// What a cursor is bound to: the position and the list's filters.
    fn payload(position: &ListPosition, query: &UserQuery) -> String {
        serde_json::json!({
            "e": position.email,
            "u": position.user_id,
            "s": query.status,
            "p": query.email_prefix,
        })
        .to_string()
    }

    async fn cursor_for(
        &self,
        position: &ListPosition,
        query: &UserQuery,
    ) -> Result<String, AppError> {
        seal(&*self.signer, &Self::payload(position, query)).await
    }

    async fn position_of(&self, cursor: &str, query: &UserQuery) -> Result<ListPosition, AppError> {
        let bad = || AppError::validation("cursor", BAD_CURSOR);
        let payload = open(&*self.signer, cursor).await?;
        let fields: serde_json::Value = serde_json::from_str(&payload).map_err(|_| bad())?;
        let position = ListPosition {
            email: Email::parse(fields["e"].as_str().unwrap_or_default()).map_err(|_| bad())?,
            user_id: UserId::parse(fields["u"].as_str().unwrap_or_default()).map_err(|_| bad())?,
        };
        // Signed for this list's filters only.
        if Self::payload(&position, query) != payload {
            return Err(bad());
        }
        Ok(position)
    }

    #[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn list(
        &self,
        caller: &Caller,
        query: &UserQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<UserPage, AppError> {
        self.permissions
            .authorise(
                caller,
                actions::USERS_READ,
                Target::Collection(collections::USERS),
            )
            .await?;
        let after = match cursor {
            Some(cursor) => Some(self.position_of(cursor, query).await?),
            None => None,
        };
        let (items, next) = self.store.list_users(query, after.as_ref(), limit).await?;
        let next_cursor = match next {
            Some(position) => Some(self.cursor_for(&position, query).await?),
            None => None,
        };
        Ok(UserPage { items, next_cursor })
    }
}
