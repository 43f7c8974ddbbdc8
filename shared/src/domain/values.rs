//! Small value types, parsed once at the edge ("parse, don't validate").

use super::AppError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The stable id of a user: Cognito's `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(AppError::validation("user_id", "is not a valid user id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, trimmed and lower-cased so that one mailbox is one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// The mailbox this address delivers to, for limits that count per mailbox:
    /// a `+tag` is dropped (`a+1@x` and `a+2@x` are `a@x`), and at Gmail, which
    /// ignores dots, so are the dots (`a.b@googlemail.com` is `ab@gmail.com`).
    pub fn mailbox(&self) -> String {
        let Some((local, domain)) = self.0.rsplit_once('@') else {
            return self.0.clone();
        };
        let local = local.split('+').next().unwrap_or(local);
        match domain {
            "gmail.com" | "googlemail.com" => format!("{}@gmail.com", local.replace('.', "")),
            _ => format!("{local}@{domain}"),
        }
    }

    /// One mailbox, one form: the part before `@` is plain ASCII (letters,
    /// digits and `.!#$%&'*+/=?^_`{|}~-`, no quoting), lower-cased; the domain is
    /// IDNA-encoded (UTS 46: a Unicode domain becomes its `xn--` form), so
    /// look-alike characters and Unicode case folding cannot make two throttle
    /// keys or two accounts for one mailbox.
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let trimmed = raw.trim();
        let invalid = |reason: &str| AppError::validation("email", reason.to_owned());
        if trimmed.is_empty() {
            return Err(invalid("is required"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("must not contain spaces"));
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(invalid("must contain '@'"));
        };
        const LOCAL_SYMBOLS: &str = ".!#$%&'*+/=?^_`{|}~-";
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || LOCAL_SYMBOLS.contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(invalid(
                "must have plain letters, digits or .!#$%&'*+/=?^_`{|}~- before '@'",
            ));
        }
        let domain =
            idna::domain_to_ascii_strict(domain).map_err(|_| invalid("has an invalid domain"))?;
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        if !domain.contains('.') || !labels_ok {
            return Err(invalid("has an invalid domain"));
        }
        let normalised = format!("{}@{domain}", local.to_ascii_lowercase());
        // Cognito's limit for a username, which the email is.
        if normalised.len() > 128 {
            return Err(invalid("is longer than 128 characters"));
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form: `+`, a country code and up to 15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let trimmed = raw.trim();
        let digits = trimmed.strip_prefix('+').unwrap_or_default();
        let ok = (8..=15).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(AppError::validation(
                "phone_number",
                "must be in E.164 form, such as +4930123456",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The country calling codes whose numbers may be sent SMS (a deployment's
/// `SmsAllowedCountryCodes`): texts to premium or far-away ranges are how SMS
/// pumping earns, so only the listed ones get any. Matched as a prefix of the
/// number's digits, so `1` admits every NANP number and `1204` only one area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsCountries(Vec<String>);

impl SmsCountries {
    /// A comma-separated list of calling codes without `+` (`1,44,49`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let codes: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let bad = codes
            .iter()
            .find(|c| c.len() > 6 || c.starts_with('0') || !c.chars().all(|d| d.is_ascii_digit()));
        match (bad, codes.is_empty()) {
            (Some(bad), _) => Err(format!(
                "{bad:?} is no country calling code (digits, no + or leading 0)"
            )),
            (None, true) => Err("lists no country calling code".into()),
            (None, false) => Ok(Self(codes)),
        }
    }

    /// 400 `sms_country_not_allowed` for a number outside the list.
    pub fn admit(&self, phone: &PhoneNumber) -> Result<(), AppError> {
        let digits = phone.as_str().trim_start_matches('+');
        if self.0.iter().any(|code| digits.starts_with(code.as_str())) {
            Ok(())
        } else {
            Err(AppError::SmsCountryNotAllowed {
                allowed: self
                    .0
                    .iter()
                    .map(|c| format!("+{c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }
}

/// The name a user shows to others: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(AppError::validation("display_name", "must not be blank"));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(AppError::validation(
                "display_name",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(AppError::validation(
                "display_name",
                "must not contain control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A one-time code sent to the user. Secret: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfirmationCode(String);

impl ConfirmationCode {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(AppError::validation("code", "is required"));
        }
        if trimmed.len() > 64 || trimmed.chars().any(char::is_whitespace) {
            return Err(AppError::validation("code", "is not a valid code"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ConfirmationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConfirmationCode(<redacted>)")
    }
}

/// A role name such as `user` or `admin`: lower-case letters, digits, `-` and `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Role(String);

impl Role {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(AppError::validation(
                "role",
                "must be 1-64 of a-z, 0-9, '-' or '_'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bearer token in transit (access or refresh). Secret: `Debug` hides it.
macro_rules! secret_token {
    ($name:ident, $field:literal) => {
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, AppError> {
                let trimmed = raw.trim();
                if trimmed.is_empty() || trimmed.len() > 16 * 1024 {
                    return Err(AppError::validation($field, "is required"));
                }
                Ok(Self(trimmed.to_owned()))
            }

            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_token!(AccessToken, "access_token");
secret_token!(RefreshToken, "refresh_token");

/// A user's preferred locale, e.g. `en`, `de-AT` (a BCP 47 language tag, simplified).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Locale(String);

impl Locale {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let raw = raw.trim().replace('_', "-");
        let mut parts = raw.split('-');
        let language = parts.next().unwrap_or_default();
        let language_ok =
            (2..=3).contains(&language.len()) && language.chars().all(|c| c.is_ascii_alphabetic());
        let rest_ok = parts
            .all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !language_ok || !rest_ok {
            return Err(AppError::validation(
                "locale",
                "must be a language tag such as en or de-AT",
            ));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_goes_only_to_numbers_starting_with_a_listed_calling_code() {
        let countries = SmsCountries::parse("1, 44,49").unwrap();
        let admits = |raw: &str| countries.admit(&PhoneNumber::parse(raw).unwrap()).is_ok();
        assert!(admits("+4915112345678"));
        assert!(admits("+12025550123"));
        assert!(!admits("+881612345678"));
        assert!(!admits("+4312345678"));
        let narrow = SmsCountries::parse("1204").unwrap();
        assert!(
            narrow
                .admit(&PhoneNumber::parse("+12045550123").unwrap())
                .is_ok()
        );
        match narrow.admit(&PhoneNumber::parse("+18765550123").unwrap()) {
            Err(AppError::SmsCountryNotAllowed { allowed }) => assert_eq!(allowed, "+1204"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_country_list_is_digits_without_plus_or_leading_zero() {
        for bad in ["", "+44", "044", "4a", "1,,x", "1234567"] {
            assert!(SmsCountries::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_mailbox_is_one_whatever_its_tags_case_and_gmail_dots() {
        let mailbox = |raw: &str| Email::parse(raw).unwrap().mailbox();
        assert_eq!(mailbox("A+1@Example.com"), "a@example.com");
        assert_eq!(mailbox("a+x+y@example.com"), "a@example.com");
        assert_eq!(mailbox("a.b@example.com"), "a.b@example.com");
        assert_eq!(mailbox("A.b+news@gmail.com"), "ab@gmail.com");
        assert_eq!(mailbox("a.b@googlemail.com"), "ab@gmail.com");
    }

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice@example.com");
        assert_eq!(email.domain(), "example.com");
    }

    #[test]
    fn one_mailbox_has_one_form_whatever_the_unicode() {
        // A Unicode domain is stored in its IDNA (xn--) form...
        let idn = Email::parse("bob@B\u{fc}cher.example").unwrap();
        assert_eq!(idn.as_str(), "bob@xn--bcher-kva.example");
        assert_eq!(Email::parse("bob@xn--bcher-kva.example").unwrap(), idn);
        // ...and case folding of look-alikes cannot reach another key: the
        // Kelvin sign folds to "k" only inside the domain, where UTS 46 maps it.
        assert_eq!(
            Email::parse("bob@\u{212a}ey.example").unwrap().as_str(),
            "bob@key.example"
        );
        // A Cyrillic "е" is another domain, and says so.
        assert!(
            Email::parse("bob@\u{435}xample.com")
                .unwrap()
                .as_str()
                .starts_with("bob@xn--")
        );
    }

    #[test]
    fn email_without_at_or_domain_dot_is_rejected_with_a_reason() {
        for (raw, reason) in [
            ("alice", "must contain '@'"),
            ("alice@localhost", "has an invalid domain"),
            (
                "@example.com",
                "must have plain letters, digits or .!#$%&'*+/=?^_`{|}~- before '@'",
            ),
            (
                "\u{430}lice@example.com",
                "must have plain letters, digits or .!#$%&'*+/=?^_`{|}~- before '@'",
            ),
            (
                "al..ice@example.com",
                "must have plain letters, digits or .!#$%&'*+/=?^_`{|}~- before '@'",
            ),
            ("a b@example.com", "must not contain spaces"),
            ("", "is required"),
            ("alice@exa..mple.com", "has an invalid domain"),
        ] {
            match Email::parse(raw) {
                Err(AppError::Validation { field, reason: r }) => {
                    assert_eq!(field, "email");
                    assert_eq!(r, reason, "for {raw:?}");
                }
                other => panic!("{raw:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn display_name_is_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse(" Ada ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn confirmation_code_never_shows_in_debug_output() {
        let code = ConfirmationCode::parse("123456").unwrap();
        assert!(!format!("{code:?}").contains("123456"));
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let token = AccessToken::parse("eyJsecret").unwrap();
        assert!(!format!("{token:?}").contains("eyJsecret"));
        assert!(RefreshToken::parse("  ").is_err());
    }

    #[test]
    fn locales_are_language_tags() {
        assert_eq!(Locale::parse("de_AT").unwrap().as_str(), "de-AT");
        assert!(Locale::parse("en").is_ok());
        assert!(Locale::parse("english!").is_err());
        assert!(Locale::parse("").is_err());
    }

    #[test]
    fn role_names_are_restricted() {
        assert!(Role::parse("admin").is_ok());
        assert!(Role::parse("Admin").is_err());
        assert!(Role::parse("").is_err());
    }

    #[test]
    fn user_id_rejects_path_like_input() {
        assert!(UserId::parse("8f452769-9947-4d75-8113-c328cafb5d5f").is_ok());
        assert!(UserId::parse("../etc").is_err());
        assert!(UserId::parse("").is_err());
    }
}
