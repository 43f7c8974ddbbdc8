//! One-click unsubscribe: the signed token in every message, and what it turns off.

use super::*;

/// A signed, expiring token naming the user an unsubscribe link is for.
pub async fn unsubscribe_token(
    signer: &dyn TokenSigner,
    user: &UserId,
    expires_at: i64,
) -> Result<String, AppError> {
    use base64::Engine;
    let payload = format!("unsubscribe:{user}:{expires_at}");
    let signature = signer.sign(&payload).await?;
    Ok(format!(
        "{}.{signature}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload)
    ))
}

/// The user an unsubscribe token names, if it is genuine and unexpired.
pub async fn unsubscribe_user(
    signer: &dyn TokenSigner,
    token: &str,
) -> Result<Option<UserId>, AppError> {
    use base64::Engine;
    let Some((encoded, signature)) = token.split_once('.') else {
        return Ok(None);
    };
    let Some(payload) = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return Ok(None);
    };
    if !signer.verify(&payload, signature).await? {
        return Ok(None);
    }
    let mut parts = payload.splitn(3, ':');
    let (Some("unsubscribe"), Some(user), Some(expires)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let unexpired = expires
        .parse::<i64>()
        .is_ok_and(|at| at > chrono::Utc::now().timestamp());
    Ok(if unexpired {
        UserId::parse(user).ok()
    } else {
        None
    })
}

/// One-click unsubscribe from marketing (RFC 8058): the link's signed token
/// names the user; following it turns `marketing_emails` off, no login needed.
pub struct UnsubscribeService {
    profiles: Arc<dyn ProfileStore>,
    links: Arc<dyn TokenSigner>,
}

impl UnsubscribeService {
    /// Rounds of re-reading a profile that changed meanwhile.
    const RACES: usize = 5;

    pub fn new(profiles: Arc<dyn ProfileStore>, links: Arc<dyn TokenSigner>) -> Self {
        Self { profiles, links }
    }

    /// The user a link is for; a forged, foreign or expired link is a 400.
    pub async fn check(&self, token: &str) -> Result<UserId, AppError> {
        unsubscribe_user(&*self.links, token)
            .await?
            .ok_or_else(|| AppError::validation("token", "this link is not valid or has expired"))
    }

    /// Turns marketing off for the link's user (again is fine).
    #[tracing::instrument(skip_all)]
    pub async fn unsubscribe(&self, token: &str) -> Result<(), AppError> {
        let user = self.check(token).await?;
        for _ in 0..Self::RACES {
            let Some(profile) = self.profiles.get_user(&user).await?.profile else {
                // The account is gone: nothing will be sent to it anyway.
                return Ok(());
            };
            if profile.preferences.get("marketing_emails") == Some(&serde_json::Value::Bool(false))
            {
                return Ok(());
            }
            let mut preferences = profile.preferences.clone();
            preferences.insert("marketing_emails".into(), serde_json::Value::Bool(false));
            if self
                .profiles
                .update_profile(
                    &user,
                    profile.version,
                    profile.display_name.as_deref(),
                    &preferences,
                )
                .await?
            {
                tracing::info!(user_id = %user, "unsubscribed from marketing by link");
                return Ok(());
            }
        }
        Err(AppError::Conflict(
            "the profile kept changing; try the link again",
        ))
    }
}
