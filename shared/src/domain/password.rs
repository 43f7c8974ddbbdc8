use super::AppError;
use std::fmt;

/// The user pool's password rules. The template passes the same parameters to the
/// pool and to the functions, so the API can say which rule a password breaks
/// (Cognito's own message does not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub require_lowercase: bool,
    pub require_uppercase: bool,
    pub require_numbers: bool,
    pub require_symbols: bool,
}

/// Cognito's own upper bound on password length.
const MAX_PASSWORD_LEN: usize = 256;
/// The symbols Cognito counts as "special characters".
const SYMBOLS: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-";

impl PasswordPolicy {
    /// Which rule `candidate` breaks, if any, in the order a user would fix them.
    pub fn violation(&self, candidate: &str) -> Option<String> {
        let chars = candidate.chars().count();
        if chars < self.min_length {
            return Some(format!("must be at least {} characters", self.min_length));
        }
        if chars > MAX_PASSWORD_LEN {
            return Some(format!("must be at most {MAX_PASSWORD_LEN} characters"));
        }
        if candidate.starts_with(' ') || candidate.ends_with(' ') {
            return Some("must not begin or end with a space".into());
        }
        if self.require_lowercase && !candidate.chars().any(|c| c.is_ascii_lowercase()) {
            return Some("must contain a lower-case letter".into());
        }
        if self.require_uppercase && !candidate.chars().any(|c| c.is_ascii_uppercase()) {
            return Some("must contain an upper-case letter".into());
        }
        if self.require_numbers && !candidate.chars().any(|c| c.is_ascii_digit()) {
            return Some("must contain a number".into());
        }
        if self.require_symbols && !candidate.chars().any(|c| SYMBOLS.contains(c)) {
            return Some(format!("must contain a symbol such as {SYMBOLS}"));
        }
        None
    }
}

/// A password in transit. Secret: never printed, never serialised.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// A new password, checked against the pool's policy.
    pub fn new_checked(raw: &str, policy: &PasswordPolicy) -> Result<Self, AppError> {
        match policy.violation(raw) {
            Some(reason) => Err(AppError::validation("password", reason)),
            None => Ok(Self(raw.to_owned())),
        }
    }

    /// A password offered at login: only its presence and length are checked, so a
    /// policy change never locks out an existing user.
    pub fn offered(raw: &str) -> Result<Self, AppError> {
        if raw.is_empty() || raw.len() > MAX_PASSWORD_LEN * 4 {
            return Err(AppError::validation("password", "is required"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A new password that passed the pool's policy: the type is the proof, so a use
/// case that takes one cannot forget the check.
#[derive(Clone, Debug)]
pub struct NewPassword(Password);

impl NewPassword {
    /// Checks `raw` against `policy`; the error names the field `password`.
    pub fn parse(raw: &str, policy: &PasswordPolicy) -> Result<Self, AppError> {
        Password::new_checked(raw, policy).map(Self)
    }

    pub fn password(&self) -> &Password {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 10,
            require_lowercase: true,
            require_uppercase: true,
            require_numbers: true,
            require_symbols: true,
        }
    }

    #[test]
    fn each_broken_rule_is_named() {
        let p = policy();
        assert_eq!(
            p.violation("Ab1!"),
            Some("must be at least 10 characters".into())
        );
        assert_eq!(
            p.violation("ABCDEFGH1!"),
            Some("must contain a lower-case letter".into())
        );
        assert_eq!(
            p.violation("abcdefgh1!"),
            Some("must contain an upper-case letter".into())
        );
        assert_eq!(
            p.violation("Abcdefghi!"),
            Some("must contain a number".into())
        );
        assert!(
            p.violation("Abcdefghi1")
                .unwrap()
                .starts_with("must contain a symbol")
        );
        assert_eq!(p.violation("Abcdefgh1!"), None);
    }

    #[test]
    fn relaxed_policy_accepts_simple_passwords() {
        let p = PasswordPolicy {
            min_length: 8,
            require_lowercase: false,
            require_uppercase: false,
            require_numbers: false,
            require_symbols: false,
        };
        assert_eq!(p.violation("abcdefgh"), None);
    }

    #[test]
    fn password_never_shows_in_debug_output() {
        let pw = Password::new_checked("Abcdefgh1!", &policy()).unwrap();
        assert!(!format!("{pw:?}").contains("Abcdefgh1!"));
    }

    #[test]
    fn a_policy_violation_is_a_validation_error_on_password() {
        match Password::new_checked("short", &policy()) {
            Err(AppError::Validation { field, .. }) => assert_eq!(field, "password"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
