//! What an app client may do: Cognito's check of a confidential client's
//! `SECRET_HASH`, and of the attributes a client may write.
//!
//! `SECRET_HASH`: moto checks it
//! only for SRP and refresh, and for a refresh over the name the user logged in
//! with, where Cognito uses the user's internal name (the `sub` in an
//! email-as-username pool). The stand-in checks it on every public call, as
//! Cognito does, and hands moto the hash moto expects.
//!
//! Its own implementation (not Gatehouse's), so a mistake in Gatehouse's hash
//! shows up as a refusal.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Who a refresh token belongs to, learnt from the login that issued it.
#[derive(Debug, Clone)]
pub struct RefreshOwner {
    /// Cognito's name for the user (the `sub` here).
    pub username: String,
    /// The name moto filed the token under (what the login named).
    pub login_name: String,
    /// The sign-in's `origin_jti`, which its access tokens carry.
    pub origin_jti: Option<String>,
}

#[derive(Default)]
pub struct ClientSecrets {
    by_client: BTreeMap<String, String>,
    write_attributes: BTreeMap<String, Vec<String>>,
    refresh_owners: Mutex<HashMap<String, RefreshOwner>>,
}

/// Why a call's `SECRET_HASH` was refused, in Cognito's words.
pub struct Unverified(pub String);

impl ClientSecrets {
    pub fn new(
        by_client: BTreeMap<String, String>,
        write_attributes: BTreeMap<String, Vec<String>>,
    ) -> Self {
        Self {
            by_client,
            write_attributes,
            refresh_owners: Mutex::default(),
        }
    }

    /// Cognito's refusal when `client_id` may not write one of `names` (a
    /// client that lists no write attributes may write every standard one).
    pub fn check_writable<'a>(
        &self,
        client_id: &str,
        mut names: impl Iterator<Item = &'a str>,
    ) -> Result<(), Unverified> {
        let Some(allowed) = self.write_attributes.get(client_id) else {
            return Ok(());
        };
        match names.find(|name| !allowed.iter().any(|a| a == name)) {
            Some(_) => Err(Unverified(
                "A client attempted to write unauthorized attribute".into(),
            )),
            None => Ok(()),
        }
    }

    /// The hash Cognito expects from `client_id` for `username`, if the client
    /// has a secret.
    pub fn expected(&self, client_id: &str, username: &str) -> Option<String> {
        let secret = self.by_client.get(client_id)?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length works");
        mac.update(username.as_bytes());
        mac.update(client_id.as_bytes());
        Some(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// Cognito's refusal of a call whose hash is missing or wrong.
    pub fn verify(
        &self,
        client_id: &str,
        username: &str,
        offered: Option<&str>,
    ) -> Result<(), Unverified> {
        match self.expected(client_id, username) {
            None => Ok(()),
            Some(expected) if offered == Some(expected.as_str()) => Ok(()),
            Some(_) => Err(Unverified(format!(
                "Client {client_id} is configured with secret but SECRET_HASH was not received or is wrong"
            ))),
        }
    }

    /// Whether `offered` is `client_id`'s secret (a client without one needs none).
    pub fn secret_matches(&self, client_id: &str, offered: Option<&str>) -> bool {
        match self.by_client.get(client_id) {
            None => true,
            Some(secret) => offered.is_some_and(|o| {
                // Compared as digests: the time taken says nothing of the secret.
                use sha2::Digest;
                Sha256::digest(o.as_bytes()) == Sha256::digest(secret.as_bytes())
            }),
        }
    }

    pub fn remember_refresh(&self, token: &str, owner: RefreshOwner) {
        self.refresh_owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_owned(), owner);
    }

    pub fn refresh_owner(&self, token: &str) -> Option<RefreshOwner> {
        self.refresh_owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_without_a_secret_needs_no_hash_and_one_with_needs_the_right_one() {
        let secrets = ClientSecrets::new(
            BTreeMap::from([("c".into(), "secret".into())]),
            BTreeMap::new(),
        );
        assert!(secrets.verify("public", "u", None).is_ok());
        assert!(secrets.verify("c", "u", None).is_err());
        assert!(secrets.verify("c", "u", Some("wrong")).is_err());
        let right = secrets.expected("c", "u").unwrap();
        assert!(secrets.verify("c", "u", Some(&right)).is_ok());
        assert!(
            secrets.verify("c", "v", Some(&right)).is_err(),
            "another user"
        );
    }

    #[test]
    fn only_listed_attributes_are_writable() {
        let secrets = ClientSecrets::new(
            BTreeMap::new(),
            BTreeMap::from([("c".into(), vec!["name".into()])]),
        );
        assert!(secrets.check_writable("c", ["name"].into_iter()).is_ok());
        assert!(
            secrets
                .check_writable("c", ["name", "email"].into_iter())
                .is_err()
        );
        assert!(
            secrets
                .check_writable("open", ["email"].into_iter())
                .is_ok()
        );
    }
}
