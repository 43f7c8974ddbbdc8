//! API Gateway's JWT authorizer: the token from the identity source, its RS256
//! signature against the issuer's JWKS, `iss`, `exp`/`nbf`, and `aud` (or, when a
//! token has no `aud`, `client_id`) against the configured audience. Like API
//! Gateway it does not look at `token_use`; the functions do.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no token in the identity source")]
    Missing,
    #[error("the token is malformed or its signature is invalid: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("no key {0:?} in the issuer's JWKS")]
    UnknownKey(Option<String>),
    #[error("the token has no key id")]
    NoKeyId,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the token's audience is not allowed")]
    Audience,
    #[error("cannot fetch the JWKS: {0}")]
    Jwks(String),
}

impl AuthError {
    /// The reason as API Gateway puts it in `www-authenticate`'s `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            Self::Missing => "the token is missing",
            Self::Invalid(err) => match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the token has expired",
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                    "the token does not have a valid issuer"
                }
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => "the token is not valid yet",
                _ => "the token is invalid",
            },
            Self::UnknownKey(_) | Self::NoKeyId | Self::Jwks(_) => "the token signature is invalid",
            Self::IssuedInFuture => "the token is not valid yet",
            Self::Audience => "the token does not have a valid audience",
        }
    }
}

pub struct Authorizer {
    pub issuer: String,
    pub audience: Vec<String>,
    pub header: String,
    jwks_url: String,
    keys: RwLock<Option<JwkSet>>,
    /// When the JWKS was last fetched: unknown key ids refetch at most this often.
    fetched: RwLock<Option<std::time::Instant>>,
}

const JWKS_REFETCH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a JWKS fetch may take.
const JWKS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl Authorizer {
    /// `identity_source` is API Gateway's `$request.header.<Name>`.
    pub fn new(
        issuer: String,
        audience: Vec<String>,
        identity_source: &str,
        jwks_url: String,
    ) -> Self {
        let header = identity_source
            .strip_prefix("$request.header.")
            .unwrap_or("Authorization")
            .to_lowercase();
        Self {
            issuer,
            audience,
            header,
            jwks_url,
            keys: RwLock::new(None),
            fetched: RwLock::new(None),
        }
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        let find = |set: &JwkSet| {
            set.find(kid)
                .map(|jwk| DecodingKey::from_jwk(jwk).map_err(AuthError::from))
        };
        if let Some(found) = self.keys.read().await.as_ref().and_then(find) {
            return found;
        }
        // Unknown key id: the issuer may have rotated keys, so fetch again, but not
        // on every request a forged token makes.
        let recently = self
            .fetched
            .read()
            .await
            .is_some_and(|t| t.elapsed() < JWKS_REFETCH_INTERVAL);
        if recently {
            return Err(AuthError::UnknownKey(Some(kid.to_owned())));
        }
        // A failed fetch counts too: an issuer that does not answer is asked
        // again only after the interval, not by every request.
        *self.fetched.write().await = Some(std::time::Instant::now());
        let set = self.fetch().await?;
        let found = find(&set);
        *self.keys.write().await = Some(set);
        found.unwrap_or_else(|| Err(AuthError::UnknownKey(Some(kid.to_owned()))))
    }

    /// The issuer's key set, within [`JWKS_TIMEOUT`]: a stuck issuer makes the
    /// authorizer refuse, never hang.
    async fn fetch(&self) -> Result<JwkSet, AuthError> {
        let fetched = async {
            reqwest::get(&self.jwks_url)
                .await
                .map_err(|e| AuthError::Jwks(e.to_string()))?
                .json::<JwkSet>()
                .await
                .map_err(|e| AuthError::Jwks(e.to_string()))
        };
        tokio::time::timeout(JWKS_TIMEOUT, fetched)
            .await
            .unwrap_or_else(|_| Err(AuthError::Jwks("the JWKS did not arrive in time".into())))
    }

    /// Fetches the key set before the first request, as API Gateway has it
    /// cached, so requests do not wait on the issuer.
    pub async fn prefetch(&self) -> Result<(), AuthError> {
        let set = self.fetch().await?;
        *self.keys.write().await = Some(set);
        *self.fetched.write().await = Some(std::time::Instant::now());
        Ok(())
    }

    /// Checks the raw header value and returns the token's claims.
    pub async fn authorize(
        &self,
        header_value: Option<&str>,
    ) -> Result<Map<String, Value>, AuthError> {
        let raw = header_value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(AuthError::Missing)?;
        let token = raw
            .strip_prefix("Bearer ")
            .or_else(|| raw.strip_prefix("bearer "))
            .unwrap_or(raw)
            .trim();
        let header = decode_header(token)?;
        let key = self
            .key(header.kid.as_deref().ok_or(AuthError::NoKeyId)?)
            .await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims = decode::<Map<String, Value>>(token, &key, &validation)?.claims;
        let audience_claim = claims.get("aud").or_else(|| claims.get("client_id"));
        let allowed = match audience_claim {
            Some(Value::String(aud)) => self.audience.contains(aud),
            Some(Value::Array(auds)) => auds
                .iter()
                .filter_map(Value::as_str)
                .any(|a| self.audience.iter().any(|x| x == a)),
            _ => false,
        };
        if !allowed {
            return Err(AuthError::Audience);
        }
        let now = chrono::Utc::now().timestamp();
        if claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| iat > now)
        {
            return Err(AuthError::IssuedInFuture);
        }
        Ok(claims)
    }
}

/// Claims as API Gateway passes them to a function: every value a string, arrays
/// flattened to `[a b c]`.
pub fn claims_for_payload(claims: &Map<String, Value>) -> Map<String, Value> {
    claims
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| i
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| i.to_string()))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (name.clone(), Value::String(text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_are_flattened_to_strings_like_api_gateway() {
        let claims = json!({"sub": "u1", "iat": 17, "cognito:groups": ["admin", "user"]});
        let flat = claims_for_payload(claims.as_object().unwrap());
        assert_eq!(flat["sub"], "u1");
        assert_eq!(flat["iat"], "17");
        assert_eq!(flat["cognito:groups"], "[admin user]");
    }
}
