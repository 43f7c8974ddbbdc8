//! Cognito's software-token (TOTP) MFA, which moto 5.2.6 fakes: it gives every
//! user one hard-coded secret and checks codes only under an environment
//! variable, with no clock drift. Cognito gives each user a random secret
//! (`AssociateSoftwareToken`), takes it once a code from it is verified
//! (`VerifySoftwareToken`), checks RFC 6238 codes (HMAC-SHA1, 6 digits, 30 s
//! steps, one step of drift either way), refuses a code once one of its step or
//! a later one was accepted, and once the user's TOTP is enabled
//! (`SetUserMFAPreference`, `AdminSetUserMFAPreference`) a password login gets the
//! `SOFTWARE_TOKEN_MFA` challenge instead of tokens, answered by
//! `RespondToAuthChallenge` within the session's 3 minutes. The stand-in keeps all
//! of that itself; moto never learns of it, so its own MFA never interferes.

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use serde_json::Value;
use sha1::Sha1;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// RFC 6238 as Cognito uses it.
const STEP_SECONDS: u64 = 30;
const DIGITS: u32 = 6;
/// Cognito's sign-in session lasts 3 minutes (the app client's default
/// `AuthSessionValidity`).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(3 * 60);

/// The code of `secret` at time step `step` (RFC 4226's truncation).
pub fn code_at(secret: &[u8], step: u64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// RFC 4648 base32 without padding, as Cognito's `SecretCode` is written.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn now_step() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / STEP_SECONDS
}

/// What checking a code found.
#[derive(Debug, PartialEq, Eq)]
pub enum TotpCheck {
    Accepted,
    /// Wrong, out of the drift window, or used already.
    Refused,
    /// The user has no secret to check it against.
    NoSecret,
}

/// One user's software token.
#[derive(Default)]
struct UserToken {
    /// Associated, not yet verified: what a new `AssociateSoftwareToken` gave.
    pending: Option<Vec<u8>>,
    /// Verified: the secret codes are checked against.
    secret: Option<Vec<u8>>,
    enabled: bool,
    /// The latest time step a code was accepted for: that code, and any older
    /// one, is refused from then on.
    last_step: Option<u64>,
}

/// A password login that awaits its code.
pub struct Challenge {
    pub pool_id: String,
    pub username: String,
    pub client_id: String,
    /// The `InitiateAuth` call as it came (the password is in it): answered
    /// again at moto once the code is right, so the tokens are issued then, as
    /// Cognito issues them. Held in memory for the session's 3 minutes only.
    pub initiate_auth: Value,
    started: Instant,
}

/// Every pool's software tokens and open challenges.
#[derive(Default)]
pub struct SoftwareTokens {
    users: Mutex<HashMap<(String, String), UserToken>>,
    challenges: Mutex<HashMap<String, Challenge>>,
}

fn key(pool_id: &str, username: &str) -> (String, String) {
    (pool_id.to_owned(), username.to_owned())
}

impl SoftwareTokens {
    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), UserToken>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn challenges(&self) -> std::sync::MutexGuard<'_, HashMap<String, Challenge>> {
        self.challenges.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new random secret (256 bits: Cognito's `SecretCode` is 52 base32
    /// characters), pending until verified; its base32 form. The verified
    /// secret, if any, stays until then.
    pub fn associate(&self, pool_id: &str, username: &str) -> String {
        let secret: [u8; 32] = rand::rng().random();
        self.users()
            .entry(key(pool_id, username))
            .or_default()
            .pending = Some(secret.to_vec());
        base32(&secret)
    }

    /// Checks `code` against `secret` in the drift window, refusing a step at
    /// or before `last_step`; the step it matched.
    fn matching_step(secret: &[u8], code: &str, last_step: Option<u64>) -> Option<u64> {
        let now = now_step();
        (now.saturating_sub(1)..=now + 1)
            .filter(|step| last_step.is_none_or(|last| *step > last))
            .find(|step| code_at(secret, *step) == code)
    }

    /// `VerifySoftwareToken`: a code of the pending secret makes it the user's.
    pub fn verify(&self, pool_id: &str, username: &str, code: &str) -> TotpCheck {
        let mut users = self.users();
        let Some(user) = users.get_mut(&key(pool_id, username)) else {
            return TotpCheck::NoSecret;
        };
        let Some(pending) = user.pending.clone() else {
            return TotpCheck::NoSecret;
        };
        match Self::matching_step(&pending, code, None) {
            Some(step) => {
                user.secret = Some(pending);
                user.pending = None;
                user.last_step = Some(step);
                TotpCheck::Accepted
            }
            None => TotpCheck::Refused,
        }
    }

    /// A sign-in code against the verified secret, used up if accepted.
    pub fn check(&self, pool_id: &str, username: &str, code: &str) -> TotpCheck {
        let mut users = self.users();
        let Some(user) = users.get_mut(&key(pool_id, username)) else {
            return TotpCheck::NoSecret;
        };
        let Some(secret) = user.secret.clone() else {
            return TotpCheck::NoSecret;
        };
        match Self::matching_step(&secret, code, user.last_step) {
            Some(step) => {
                user.last_step = Some(step);
                TotpCheck::Accepted
            }
            None => TotpCheck::Refused,
        }
    }

    /// Turns TOTP on or off for sign-in. On needs a verified secret (`false`
    /// otherwise); off keeps the secret, as Cognito does.
    pub fn set_enabled(&self, pool_id: &str, username: &str, enabled: bool) -> bool {
        let mut users = self.users();
        let user = users.entry(key(pool_id, username)).or_default();
        if enabled && user.secret.is_none() {
            return false;
        }
        user.enabled = enabled;
        true
    }

    pub fn is_enabled(&self, pool_id: &str, username: &str) -> bool {
        self.users()
            .get(&key(pool_id, username))
            .is_some_and(|u| u.enabled)
    }

    /// Opens a challenge; its session string.
    pub fn open_challenge(
        &self,
        pool_id: &str,
        username: &str,
        client_id: &str,
        initiate_auth: Value,
    ) -> String {
        use base64::Engine;
        let bytes: [u8; 48] = rand::rng().random();
        let session = base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut challenges = self.challenges();
        challenges.retain(|_, c| c.started.elapsed() < SESSION_LIFETIME);
        challenges.insert(
            session.clone(),
            Challenge {
                pool_id: pool_id.to_owned(),
                username: username.to_owned(),
                client_id: client_id.to_owned(),
                initiate_auth,
                started: Instant::now(),
            },
        );
        session
    }

    /// The open challenge of `session` for `client_id`, if it has not expired.
    pub fn challenge(&self, session: &str, client_id: &str) -> Option<(String, String, Value)> {
        let challenges = self.challenges();
        let c = challenges.get(session)?;
        (c.client_id == client_id && c.started.elapsed() < SESSION_LIFETIME).then(|| {
            (
                c.pool_id.clone(),
                c.username.clone(),
                c.initiate_auth.clone(),
            )
        })
    }

    /// Ends a challenge once answered: a session works once.
    pub fn close_challenge(&self, session: &str) {
        self.challenges().remove(session);
    }

    /// Test control: the session's 3 minutes are up.
    #[cfg(test)]
    fn age_challenge(&self, session: &str) {
        if let Some(c) = self.challenges().get_mut(session) {
            c.started = Instant::now() - SESSION_LIFETIME;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 vectors, cut to 6 digits (the last six of the
    /// 8-digit values).
    #[test]
    fn codes_match_rfc_6238() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(code_at(secret, time / 30), eight[2..], "at {time}");
        }
    }

    #[test]
    fn base32_is_rfc_4648_without_padding() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(&[0u8; 20]).len(), 32);
    }

    fn verified(tokens: &SoftwareTokens) -> Vec<u8> {
        tokens.associate("pool", "u");
        let secret = tokens.users()[&key("pool", "u")].pending.clone().unwrap();
        // Verified with the previous step's code, so the current one is fresh.
        let previous = code_at(&secret, now_step() - 1);
        assert_eq!(tokens.verify("pool", "u", &previous), TotpCheck::Accepted);
        secret
    }

    #[test]
    fn each_association_is_a_new_random_secret() {
        let tokens = SoftwareTokens::default();
        assert_ne!(tokens.associate("pool", "a"), tokens.associate("pool", "b"));
        assert_ne!(tokens.associate("pool", "a"), tokens.associate("pool", "a"));
    }

    #[test]
    fn a_code_is_accepted_once_and_never_again_nor_an_older_one() {
        let tokens = SoftwareTokens::default();
        let secret = verified(&tokens);
        let now = code_at(&secret, now_step());
        assert_eq!(tokens.check("pool", "u", &now), TotpCheck::Accepted);
        assert_eq!(tokens.check("pool", "u", &now), TotpCheck::Refused);
        let previous = code_at(&secret, now_step() - 1);
        assert_eq!(tokens.check("pool", "u", &previous), TotpCheck::Refused);
    }

    #[test]
    fn one_step_of_drift_either_way_and_no_more() {
        let step = now_step();
        let window =
            |s: u64| SoftwareTokens::matching_step(&[7u8; 20], &code_at(&[7u8; 20], s), None);
        assert_eq!(window(step - 1), Some(step - 1));
        assert_eq!(window(step + 1), Some(step + 1));
        for far in [step - 2, step + 2] {
            // (unless the far code happens to equal a near one's)
            if ![step - 1, step, step + 1]
                .iter()
                .any(|s| code_at(&[7u8; 20], *s) == code_at(&[7u8; 20], far))
            {
                assert_eq!(window(far), None, "step {far}");
            }
        }
    }

    #[test]
    fn enabling_needs_a_verified_secret() {
        let tokens = SoftwareTokens::default();
        tokens.associate("pool", "u");
        assert!(!tokens.set_enabled("pool", "u", true));
        assert!(!tokens.is_enabled("pool", "u"));
        verified(&tokens);
        assert!(tokens.set_enabled("pool", "u", true));
        assert!(tokens.is_enabled("pool", "u"));
    }

    #[test]
    fn a_session_belongs_to_its_client_and_lasts_three_minutes() {
        let tokens = SoftwareTokens::default();
        let session = tokens.open_challenge("pool", "u", "client", Value::Null);
        assert!(tokens.challenge(&session, "other").is_none());
        assert!(tokens.challenge(&session, "client").is_some());
        tokens.age_challenge(&session);
        assert!(tokens.challenge(&session, "client").is_none());
    }
}
