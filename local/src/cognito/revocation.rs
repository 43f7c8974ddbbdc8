//! Cognito's `RevokeToken`, which moto answers with a 500 in server mode: the
//! stand-in revokes a refresh token as Cognito does. From then on a refresh
//! with it is refused (`NotAuthorizedException`), and so is every call Cognito
//! authorises with an access token of its sign-in (the tokens' `origin_jti`),
//! while other sign-ins of the user go on.

use super::{CognitoProxy, claims_of, cognito_error, json_ok};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Mutex;

#[derive(Default)]
pub struct Revocations {
    refresh_tokens: Mutex<HashSet<String>>,
    /// The `origin_jti` of each revoked sign-in.
    sign_ins: Mutex<HashSet<String>>,
}

impl Revocations {
    pub fn refresh_token_revoked(&self, token: &str) -> bool {
        self.refresh_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(token)
    }

    /// Whether `access_token` belongs to a revoked sign-in.
    pub fn access_token_revoked(&self, access_token: &str) -> bool {
        claims_of(access_token)
            .and_then(|claims| claims["origin_jti"].as_str().map(str::to_owned))
            .is_some_and(|jti| {
                self.sign_ins
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(&jti)
            })
    }

    fn revoke(&self, token: &str, origin_jti: Option<String>) {
        self.refresh_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_owned());
        if let Some(jti) = origin_jti {
            self.sign_ins
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(jti);
        }
    }
}

impl CognitoProxy {
    /// `RevokeToken {Token, ClientId, ClientSecret}`: a known client proving
    /// itself with its secret (Cognito also requires it to be the token's
    /// client; the stand-in's one app client with a secret makes that moot).
    pub(super) fn revoke_token(&self, body: &Value) -> Response {
        let client_id = body["ClientId"].as_str().unwrap_or_default();
        let token = body["Token"].as_str().unwrap_or_default();
        if token.is_empty() || !self.pools_by_client.contains_key(client_id) {
            return cognito_error("InvalidParameterException", "Invalid token or client");
        }
        if !self
            .secrets
            .secret_matches(client_id, body["ClientSecret"].as_str())
        {
            return cognito_error("NotAuthorizedException", "Client authentication failed.");
        }
        let origin_jti = self
            .secrets
            .refresh_owner(token)
            .and_then(|owner| owner.origin_jti);
        self.revocations.revoke(token, origin_jti);
        json_ok(json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_with(claims: &Value) -> String {
        use base64::Engine;
        let encode = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        format!(
            "{}.{}.sig",
            encode(&json!({"alg": "RS256"})),
            encode(claims)
        )
    }

    #[test]
    fn a_revoked_sign_in_refuses_its_refresh_token_and_access_tokens_only() {
        let revocations = Revocations::default();
        revocations.revoke("refresh-a", Some("jti-a".into()));
        assert!(revocations.refresh_token_revoked("refresh-a"));
        assert!(!revocations.refresh_token_revoked("refresh-b"));
        assert!(revocations.access_token_revoked(&token_with(&json!({"origin_jti": "jti-a"}))));
        assert!(!revocations.access_token_revoked(&token_with(&json!({"origin_jti": "jti-b"}))));
        assert!(!revocations.access_token_revoked("not a token"));
    }
}
