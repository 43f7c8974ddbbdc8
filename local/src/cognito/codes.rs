//! The sign-up and reset codes the stand-in issues (moto would accept any code),
//! with Cognito's lifetimes.

use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Cognito's sign-up codes are valid for 24 hours, its reset codes for one.
const SIGN_UP_CODE_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
const RESET_CODE_LIFETIME: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    SignUp,
    Reset,
    /// A new email address, held until its code is entered.
    EmailUpdate,
    /// A phone number's verification.
    PhoneVerify,
}

impl Purpose {
    fn lifetime(self) -> Duration {
        match self {
            Self::SignUp => SIGN_UP_CODE_LIFETIME,
            Self::Reset => RESET_CODE_LIFETIME,
            // Cognito's attribute verification codes last 24 hours too.
            Self::EmailUpdate | Self::PhoneVerify => SIGN_UP_CODE_LIFETIME,
        }
    }
}

/// What a code check found.
#[derive(Debug, PartialEq, Eq)]
pub enum CodeCheck {
    Valid,
    Wrong,
    Expired,
    NoneIssued,
}

struct PendingCode {
    code: String,
    issued: Instant,
    /// Set by `expire` (a local control for tests): the code is past its lifetime.
    expired: bool,
}

impl PendingCode {
    fn is_expired(&self, purpose: Purpose) -> bool {
        self.expired || self.issued.elapsed() > purpose.lifetime()
    }
}

/// Pending codes per pool, user (case-insensitive, as the pool's usernames are)
/// and purpose. A new code replaces the one before it.
#[derive(Default)]
pub struct Codes {
    pending: Mutex<HashMap<(String, String, Purpose), PendingCode>>,
}

fn key(pool_id: &str, username: &str, purpose: Purpose) -> (String, String, Purpose) {
    (pool_id.to_owned(), username.to_lowercase(), purpose)
}

impl Codes {
    fn pending(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String, Purpose), PendingCode>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new six-digit code for `username`, replacing any before it.
    pub fn issue(&self, pool_id: &str, username: &str, purpose: Purpose) -> String {
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000));
        self.pending().insert(
            key(pool_id, username, purpose),
            PendingCode {
                code: code.clone(),
                issued: Instant::now(),
                expired: false,
            },
        );
        code
    }

    pub fn check(
        &self,
        pool_id: &str,
        username: &str,
        purpose: Purpose,
        offered: &str,
    ) -> CodeCheck {
        match self.pending().get(&key(pool_id, username, purpose)) {
            None => CodeCheck::NoneIssued,
            Some(p) if p.is_expired(purpose) => CodeCheck::Expired,
            Some(p) if p.code != offered => CodeCheck::Wrong,
            Some(_) => CodeCheck::Valid,
        }
    }

    /// A code is spent once it has been used.
    pub fn spend(&self, pool_id: &str, username: &str, purpose: Purpose) {
        self.pending().remove(&key(pool_id, username, purpose));
    }

    /// Ages every pending code of `username` (in any pool) past its lifetime, as
    /// waiting a day would. How many codes it expired.
    pub fn expire(&self, username: &str) -> usize {
        let username = username.to_lowercase();
        let mut expired = 0;
        for ((_, user, _), pending) in self.pending().iter_mut() {
            if *user == username {
                pending.expired = true;
                expired += 1;
            }
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_valid_once_and_only_for_its_purpose() {
        let codes = Codes::default();
        let code = codes.issue("pool", "Ada@Example.com", Purpose::SignUp);
        assert_eq!(
            codes.check("pool", "ada@example.com", Purpose::Reset, &code),
            CodeCheck::NoneIssued
        );
        assert_eq!(
            codes.check("pool", "ada@example.com", Purpose::SignUp, "nope"),
            CodeCheck::Wrong
        );
        assert_eq!(
            codes.check("pool", "ada@example.com", Purpose::SignUp, &code),
            CodeCheck::Valid
        );
        codes.spend("pool", "ada@example.com", Purpose::SignUp);
        assert_eq!(
            codes.check("pool", "ada@example.com", Purpose::SignUp, &code),
            CodeCheck::NoneIssued
        );
    }

    #[test]
    fn an_expired_code_is_refused_as_expired_even_when_right() {
        let codes = Codes::default();
        let code = codes.issue("pool", "ada@example.com", Purpose::Reset);
        assert_eq!(codes.expire("ADA@example.com"), 1);
        assert_eq!(
            codes.check("pool", "ada@example.com", Purpose::Reset, &code),
            CodeCheck::Expired
        );
    }
}
