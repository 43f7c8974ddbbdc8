//! The API app client's secret. Cognito generates it; Gatehouse reads it once per
//! cold start (`DescribeUserPoolClient`, allowed by IAM on the pool only), so it
//! is in neither the template, nor the function's environment, nor any log.
//!
//! It does two jobs: every public Cognito call carries `SECRET_HASH`, so holding
//! the client id (it is in every access token) is not enough to call Cognito's
//! sign-in directly and skip Gatehouse's throttle; and it keys the digests that
//! name throttle windows, so a table backup does not reveal who tried to log in.

use super::aws::{AwsClients, Call};
use crate::domain::AppError;
use crate::ports::ThrottleKeys;
use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::Client;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::OnceCell;

type HmacSha256 = Hmac<Sha256>;

/// The secret bytes; never printed.
struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

pub struct AppClientSecret {
    client: Client,
    user_pool_id: String,
    client_id: String,
    /// `None` inside: the client has no secret (a public client).
    secret: OnceCell<Option<Secret>>,
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], AppError> {
    // HMAC takes keys of any length; the error cannot happen, but is not a panic.
    let mut mac = HmacSha256::new_from_slice(key).map_err(AppError::unexpected)?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// Cognito's `SECRET_HASH`: Base64(HMAC-SHA256(secret, username + client id)).
pub fn secret_hash(secret: &[u8], username: &str, client_id: &str) -> Result<String, AppError> {
    Ok(base64::engine::general_purpose::STANDARD
        .encode(hmac(secret, &[username.as_bytes(), client_id.as_bytes()])?))
}

impl AppClientSecret {
    pub fn new(clients: &AwsClients, user_pool_id: String, client_id: String) -> Self {
        Self {
            client: clients.cognito(),
            user_pool_id,
            client_id,
            secret: OnceCell::new(),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn user_pool_id(&self) -> &str {
        &self.user_pool_id
    }

    /// Read once; a failed read is not cached, so the next request tries again.
    async fn secret(&self) -> Result<Option<&Secret>, AppError> {
        self.secret
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .describe_user_pool_client()
                    .user_pool_id(&self.user_pool_id)
                    .client_id(&self.client_id)
                    .send()
                    .await
                    .map_err(|e| Call::cognito("DescribeUserPoolClient").any(e))?;
                Ok::<_, AppError>(
                    out.user_pool_client()
                        .and_then(|c| c.client_secret())
                        .map(|s| Secret(s.as_bytes().to_vec())),
                )
            })
            .await
            .map(Option::as_ref)
    }

    /// The secret itself, for the one call that takes it (`RevokeToken`).
    pub async fn client_secret(&self) -> Result<Option<String>, AppError> {
        self.secret()
            .await?
            .map(|s| String::from_utf8(s.0.clone()).map_err(AppError::unexpected))
            .transpose()
    }

    /// The `SECRET_HASH` for a call naming `username`, if the client has a secret.
    pub async fn hash_for(&self, username: &str) -> Result<Option<String>, AppError> {
        self.secret()
            .await?
            .map(|s| secret_hash(&s.0, username, &self.client_id))
            .transpose()
    }
}

#[async_trait]
impl ThrottleKeys for AppClientSecret {
    async fn key(&self, purpose: &str, value: &str) -> Result<String, AppError> {
        let secret = self.secret().await?.ok_or_else(|| {
            AppError::unexpected("the app client has no secret to key throttle windows with")
        })?;
        keyed_digest(&secret.0, purpose, value)
    }
}

/// Equal, compared in constant time: a signature must not be guessable byte
/// by byte.
pub fn same_bytes(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The throttle key of `value`, hex, under a key derived from `secret` (a key
/// of its own, so a throttle digest is never a `SECRET_HASH`).
pub fn keyed_digest(secret: &[u8], purpose: &str, value: &str) -> Result<String, AppError> {
    let key = hmac(secret, &[b"gatehouse throttle keys v1"])?;
    let digest = hmac(&key, &[purpose.as_bytes(), b"\0", value.as_bytes()])?;
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_hash_is_cognitos() {
        // Computed independently: printf userclient | openssl dgst -sha256
        // -hmac secret -binary | base64
        assert_eq!(
            secret_hash(b"secret", "user", "client").unwrap(),
            "wvW87lzZoI+qQCVGmWVBJLlucdJ65huAVP1z+0MgA6E="
        );
    }
}
