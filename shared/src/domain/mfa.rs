//! The second factor: TOTP codes (RFC 6238: HMAC-SHA1, 6 digits, 30-second
//! steps), recovery codes, and what a password sign-in gives when TOTP is on.

use super::{AppError, Email, Role, Tokens, UserId};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fmt;

/// RFC 6238's step, as Cognito and every authenticator app use it.
pub const TOTP_STEP_SECONDS: i64 = 30;
/// How many recovery codes a user gets at a time.
pub const RECOVERY_CODES: usize = 10;
/// How long Cognito's sign-in session (and so a challenge) lasts.
pub const CHALLENGE_SECONDS: i64 = 180;
/// Wrong codes one challenge takes before it is dead.
pub const CHALLENGE_WRONG_CODES: u32 = 5;

/// The roles whose holders must have an authenticator app on before they act
/// (the `MfaRequiredRoles` parameter): until they turn one on, every route but
/// enrolment, their own profile and logout answers 403
/// `mfa_enrollment_required`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaRequiredRoles(Vec<Role>);

impl MfaRequiredRoles {
    pub fn new(roles: Vec<Role>) -> Self {
        Self(roles)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// 403 `mfa_enrollment_required` for a holder of one of these roles whose
    /// second factor is off.
    pub fn ensure_enrolled(&self, roles: &[Role], mfa: MfaSummary) -> Result<(), AppError> {
        if mfa.totp || !roles.iter().any(|role| self.0.contains(role)) {
            Ok(())
        } else {
            Err(AppError::MfaEnrollmentRequired)
        }
    }
}

/// The second factor as the user's profile shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MfaSummary {
    /// An authenticator app is on.
    pub totp: bool,
    pub recovery_codes_left: usize,
}

/// What a password sign-in gives.
#[derive(Debug)]
pub enum SignIn {
    Tokens(Tokens),
    /// TOTP is on: no tokens until the code (`POST /auth/login/mfa`).
    TotpRequired(MfaChallenge),
}

impl SignIn {
    /// The tokens, if the sign-in is complete.
    pub fn tokens(self) -> Option<Tokens> {
        match self {
            Self::Tokens(tokens) => Some(tokens),
            Self::TotpRequired(_) => None,
        }
    }
}

/// A login's answer: the token body, or `{challenge: "totp", session,
/// expires_in}` and no tokens.
impl serde::Serialize for SignIn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Challenge<'a> {
            challenge: &'static str,
            session: &'a str,
            expires_in: i64,
        }
        match self {
            Self::Tokens(tokens) => tokens.serialize(serializer),
            Self::TotpRequired(challenge) => Challenge {
                challenge: "totp",
                session: &challenge.session,
                expires_in: CHALLENGE_SECONDS,
            }
            .serialize(serializer),
        }
    }
}

/// A sign-in that waits for its second factor. `session` is the identity
/// provider's (Cognito's) and is the caller's only handle on it.
#[derive(Clone)]
pub struct MfaChallenge {
    pub session: String,
    pub user_id: UserId,
    pub email: Email,
}

impl fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaChallenge")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// The key Gatehouse files a challenge under: a digest of the session, so the
/// table never holds a live session.
pub fn challenge_key(session: &str) -> String {
    hex(&Sha256::digest(session.as_bytes()))
}

/// A six-digit code from an authenticator app. Secret: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCode(String);

impl TotpCode {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, AppError> {
        let code: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(code))
        } else {
            Err(AppError::validation(
                field,
                "must be the 6 digits the app shows",
            ))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode(<redacted>)")
    }
}

/// A TOTP secret in RFC 4648 base32, as the authenticator app takes it.
/// Secret: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(String);

impl TotpSecret {
    pub fn from_base32(text: &str) -> Result<Self, AppError> {
        let text = text.trim().trim_end_matches('=').to_ascii_uppercase();
        base32_decode(&text)
            .filter(|bytes| bytes.len() >= 10)
            .map(|_| Self(text))
            .ok_or_else(|| {
                AppError::unexpected("the identity provider gave a malformed TOTP secret")
            })
    }

    pub fn from_bytes(key: &[u8]) -> Self {
        Self(base32_encode(key))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The code at RFC 6238 time step `step` (Unix time / 30).
    pub fn code_at(&self, step: i64) -> TotpCode {
        let key = base32_decode(&self.0).unwrap_or_default();
        // HMAC takes a key of any length: this never fails, and an empty code
        // (which no one can type) would be the answer if it did.
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&key) else {
            return TotpCode(String::new());
        };
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = (digest[19] & 0x0f) as usize;
        let binary = u32::from_be_bytes([
            digest[offset] & 0x7f,
            digest[offset + 1],
            digest[offset + 2],
            digest[offset + 3],
        ]);
        TotpCode(format!("{:06}", binary % 1_000_000))
    }

    /// The step within one of `step` either way whose code `code` is (the
    /// latest, if two steps share it).
    pub fn matching_step(&self, code: &TotpCode, step: i64) -> Option<i64> {
        let mut found = None;
        for candidate in step - 1..=step + 1 {
            if constant_time_eq(self.code_at(candidate).0.as_bytes(), code.0.as_bytes()) {
                found = Some(candidate);
            }
        }
        found
    }

    /// `otpauth://` for authenticator apps: the label `<issuer>:<email>` (the
    /// issuer is the deployment's `AppName`), SHA-1, 6 digits, 30 s.
    pub fn otpauth_uri(&self, issuer: &str, email: &Email) -> String {
        let label = format!("{}:{}", percent(issuer), percent(email.as_str()));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
            self.0,
            percent(issuer)
        )
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// The time step of `unix_seconds`.
pub fn totp_step(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(TOTP_STEP_SECONDS)
}

/// A recovery code as shown once: 4 groups of 4 base32 characters, 80 random
/// bits. Secret: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    /// A fresh code from 10 random bytes.
    pub fn from_random(bytes: [u8; 10]) -> Self {
        let text = base32_encode(&bytes);
        let groups: Vec<&str> = (0..4).map(|i| &text[i * 4..i * 4 + 4]).collect();
        Self(groups.join("-"))
    }

    /// As a user types it: case, dashes and spaces do not matter.
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let text: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        if text.len() != 16 || base32_decode(&text).is_none() {
            return Err(AppError::validation(
                "recovery_code",
                "must be one of the recovery codes shown at enrolment (four groups of four letters and digits)",
            ));
        }
        let groups: Vec<&str> = (0..4).map(|i| &text[i * 4..i * 4 + 4]).collect();
        Ok(Self(groups.join("-")))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored: SHA-256 of the code. Its 80 bits make a guess by
    /// digest as hopeless as a guess at the API, so no slow hash is needed.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(format!(
            "gatehouse recovery code v1\0{}",
            self.0
        )))
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

/// The stored digest `candidate` matches, compared in constant time against
/// every one (no early exit: the time says nothing about which or whether).
pub fn matching_digest<'a>(stored: &'a [String], candidate: &str) -> Option<&'a String> {
    let mut found = None;
    for digest in stored {
        if constant_time_eq(digest.as_bytes(), candidate.as_bytes()) {
            found = Some(digest);
        }
    }
    found
}

/// Equal, compared in constant time (for secrets and their digests).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = BASE32.iter().position(|&a| a == c)? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B (SHA-1), the last 6 of its 8 digits.
    #[test]
    fn codes_match_rfc_6238() {
        let secret = TotpSecret::from_base32(&base32_encode(b"12345678901234567890")).unwrap();
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(secret.code_at(totp_step(time)).expose(), &eight[2..]);
        }
    }

    #[test]
    fn base32_round_trips() {
        for bytes in [&b"foobar"[..], &[0u8; 20], &[255u8; 7]] {
            assert_eq!(base32_decode(&base32_encode(bytes)).unwrap(), bytes);
        }
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert!(base32_decode("not base32!").is_none());
    }

    #[test]
    fn the_otpauth_uri_names_issuer_and_account_and_the_parameters() {
        let secret = TotpSecret::from_base32("JBSWY3DPEHPK3PXP").unwrap();
        let email = Email::parse("ada+x@example.com").unwrap();
        assert_eq!(
            secret.otpauth_uri("Gatehouse", &email),
            "otpauth://totp/Gatehouse:ada%2Bx%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_read_as_typed_and_hide_in_debug() {
        let code = RecoveryCode::from_random([7u8; 10]);
        assert_eq!(code.expose().len(), 19);
        let typed = code.expose().to_lowercase().replace('-', " ");
        assert_eq!(RecoveryCode::parse(&typed).unwrap(), code);
        assert_eq!(RecoveryCode::parse(&typed).unwrap().digest(), code.digest());
        assert!(RecoveryCode::parse("1234").is_err());
        assert!(!format!("{code:?}").contains(code.expose()));
    }

    #[test]
    fn a_digest_is_found_among_many_and_a_stranger_is_not() {
        let stored: Vec<String> = (0..10)
            .map(|i| RecoveryCode::from_random([i; 10]).digest())
            .collect();
        assert_eq!(matching_digest(&stored, &stored[7]), Some(&stored[7]));
        let stranger = RecoveryCode::from_random([99; 10]).digest();
        assert_eq!(matching_digest(&stored, &stranger), None);
    }

    #[test]
    fn a_totp_code_is_six_digits_spaces_aside() {
        assert_eq!(
            TotpCode::parse("code", "123 456").unwrap().expose(),
            "123456"
        );
        assert!(TotpCode::parse("code", "12345").is_err());
        assert!(TotpCode::parse("code", "12345a").is_err());
    }

    #[test]
    fn a_required_role_without_the_app_is_held_and_anything_else_passes() {
        let role = |r: &str| Role::parse(r).unwrap();
        let required = MfaRequiredRoles::new(vec![role("admin"), role("auditor")]);
        let off = MfaSummary::default();
        let on = MfaSummary {
            totp: true,
            recovery_codes_left: 0,
        };
        assert!(matches!(
            required.ensure_enrolled(&[role("user"), role("auditor")], off),
            Err(AppError::MfaEnrollmentRequired)
        ));
        assert!(required.ensure_enrolled(&[role("admin")], on).is_ok());
        assert!(required.ensure_enrolled(&[role("user")], off).is_ok());
        assert!(required.ensure_enrolled(&[], off).is_ok());
        assert!(
            MfaRequiredRoles::default()
                .ensure_enrolled(&[role("admin")], off)
                .is_ok()
        );
    }
}
