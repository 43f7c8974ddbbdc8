//! Typed configuration, read once at cold start. A missing or malformed variable
//! fails the cold start and names the variable.

use crate::domain::{Email, PasswordPolicy, Role, SignUpPolicy, domain_list};
use crate::services::{TakenAddresses, ThrottleLimits};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Where variables come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<S: std::hash::BuildHasher> Source for std::collections::HashMap<&str, &str, S> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).map(|v| v.to_string())
    }
}

fn optional(src: &dyn Source, name: &'static str) -> Option<String> {
    src.get(name)
}

fn required(src: &dyn Source, name: &'static str) -> Result<String, ConfigError> {
    src.get(name).ok_or(ConfigError::Missing(name))
}

fn parsed<T: std::str::FromStr>(src: &dyn Source, name: &'static str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    required(src, name)?
        .parse()
        .map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        })
}

/// The API's app client, which every call to Cognito's public APIs names.
pub fn user_pool_client_id(src: &dyn Source) -> Result<String, ConfigError> {
    required(src, "USER_POOL_CLIENT_ID")
}

/// The KMS key that seals each user's TOTP secret (`MFA_KEY_ID`).
pub fn mfa_key_id(src: &dyn Source) -> Result<String, ConfigError> {
    required(src, "MFA_KEY_ID")
}

/// The KMS key that seals each sign-in's refresh token (not the TOTP key).
pub fn session_key_id(src: &dyn Source) -> Result<String, ConfigError> {
    required(src, "SESSION_KEY_ID")
}

/// The pool id, given only to functions that call Cognito's admin APIs.
pub fn user_pool_id(src: &dyn Source) -> Result<String, ConfigError> {
    required(src, "USER_POOL_ID")
}

/// The per-source-IP throttle limits (the per-email ones are fixed rules).
pub fn throttle_limits(src: &dyn Source) -> Result<ThrottleLimits, ConfigError> {
    Ok(ThrottleLimits {
        login_failures_per_ip: parsed(src, "LOGIN_FAILURES_PER_SOURCE_IP")?,
        sends_per_ip: parsed(src, "SENDS_PER_SOURCE_IP")?,
    })
}

/// The country calling codes SMS may go to (`SMS_ALLOWED_COUNTRY_CODES`, from
/// the template's `SmsAllowedCountryCodes`).
pub fn sms_countries(src: &dyn Source) -> Result<crate::domain::SmsCountries, ConfigError> {
    let name = "SMS_ALLOWED_COUNTRY_CODES";
    crate::domain::SmsCountries::parse(&required(src, name)?)
        .map_err(|reason| ConfigError::Invalid { name, reason })
}

/// Whether sign-up reveals that an address is taken (`SIGNUP_REVEALS_TAKEN_EMAILS`,
/// default false).
pub fn taken_addresses(src: &dyn Source) -> Result<TakenAddresses, ConfigError> {
    match optional(src, "SIGNUP_REVEALS_TAKEN_EMAILS").as_deref() {
        None | Some("false") => Ok(TakenAddresses::Hide),
        Some("true") => Ok(TakenAddresses::Reveal),
        Some(other) => Err(ConfigError::Invalid {
            name: "SIGNUP_REVEALS_TAKEN_EMAILS",
            reason: format!("{other:?} is not true or false"),
        }),
    }
}

/// The pool's password policy (the template passes the pool's own parameters), so
/// the API can say which rule a new password breaks.
pub fn password_policy(src: &dyn Source) -> Result<PasswordPolicy, ConfigError> {
    Ok(PasswordPolicy {
        min_length: parsed(src, "PASSWORD_MIN_LENGTH")?,
        require_lowercase: parsed(src, "PASSWORD_REQUIRE_LOWERCASE")?,
        require_uppercase: parsed(src, "PASSWORD_REQUIRE_UPPERCASE")?,
        require_numbers: parsed(src, "PASSWORD_REQUIRE_NUMBERS")?,
        require_symbols: parsed(src, "PASSWORD_REQUIRE_SYMBOLS")?,
    })
}

/// `ADMIN_EMAILS`: comma-separated addresses whose confirmation grants `admin`.
pub fn admin_emails(src: &dyn Source) -> Result<Vec<Email>, ConfigError> {
    optional(src, "ADMIN_EMAILS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            Email::parse(e).map_err(|err| ConfigError::Invalid {
                name: "ADMIN_EMAILS",
                reason: err.to_string(),
            })
        })
        .collect()
}

/// `MFA_REQUIRED_ROLES`: comma-separated roles whose holders must turn on a
/// second factor before anything else; empty (the environment's way of saying
/// none) names none. The template gives it to every function (`Globals`).
pub fn mfa_required_roles(
    src: &dyn Source,
) -> Result<crate::domain::mfa::MfaRequiredRoles, ConfigError> {
    optional(src, "MFA_REQUIRED_ROLES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| {
            crate::domain::Role::parse(r).map_err(|err| ConfigError::Invalid {
                name: "MFA_REQUIRED_ROLES",
                reason: err.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(crate::domain::mfa::MfaRequiredRoles::new)
}

/// Where links in emails point: a deployment's own domain
/// (`PUBLIC_BASE_URL`), else the API's execute-api URL (`API_URL`).
pub fn public_base_url(src: &dyn Source) -> Result<String, ConfigError> {
    let base = match optional(src, "PUBLIC_BASE_URL").filter(|b| !b.is_empty()) {
        Some(base) => base,
        None => required(src, "API_URL")?,
    };
    if base.starts_with("https://") || base.starts_with("http://127.0.0.1") {
        Ok(base)
    } else {
        Err(ConfigError::Invalid {
            name: "PUBLIC_BASE_URL",
            reason: "must be an https:// URL".into(),
        })
    }
}

/// How long audit events are kept (`AUDIT_RETENTION_DAYS`, default 365).
pub fn audit_retention_days(src: &dyn Source) -> Result<u32, ConfigError> {
    match optional(src, "AUDIT_RETENTION_DAYS") {
        None => Ok(365),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|d| *d > 0)
            .ok_or(ConfigError::Invalid {
                name: "AUDIT_RETENTION_DAYS",
                reason: format!("{raw:?} is not a number of days"),
            }),
    }
}

/// What the functions that touch application data need.
#[derive(Debug, Clone)]
pub struct TableConfig {
    pub table_name: String,
    pub default_role: Role,
}

impl TableConfig {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let role = required(src, "DEFAULT_ROLE")?;
        Ok(Self {
            table_name: required(src, "TABLE_NAME")?,
            default_role: Role::parse(&role).map_err(|e| ConfigError::Invalid {
                name: "DEFAULT_ROLE",
                reason: e.to_string(),
            })?,
        })
    }
}

/// The pre sign-up trigger's rules.
pub fn sign_up_policy(src: &dyn Source) -> Result<SignUpPolicy, ConfigError> {
    let stage = required(src, "STAGE")?;
    Ok(SignUpPolicy {
        denied_domains: domain_list(&optional(src, "SIGNUP_DENIED_DOMAINS").unwrap_or_default()),
        auto_confirm_domains: domain_list(
            &optional(src, "SIGNUP_AUTO_CONFIRM_DOMAINS").unwrap_or_default(),
        ),
        production: stage == "prod",
    })
}

/// The delivery queue, for the functions that queue notifications.
pub fn notification_queue_url(src: &dyn Source) -> Result<String, ConfigError> {
    required(src, "NOTIFICATION_QUEUE_URL")
}

/// `NOTIFICATION_DAILY_AUDIENCE`: the most recipients one sender may target
/// in a UTC day (at least 1).
pub fn notification_daily_audience(src: &dyn Source) -> Result<u64, ConfigError> {
    match parsed::<u64>(src, "NOTIFICATION_DAILY_AUDIENCE")? {
        0 => Err(ConfigError::Invalid {
            name: "NOTIFICATION_DAILY_AUDIENCE",
            reason: "must be at least 1".into(),
        }),
        limit => Ok(limit),
    }
}

/// What the notification functions need: the queue, the sender and its SES
/// configuration set, where users reach the API (unsubscribe links), and the
/// circuit breaker's settings.
#[derive(Debug, Clone)]
pub struct NotificationConfig {
    pub queue_url: String,
    /// `AppName <SenderEmail>`.
    pub from: String,
    pub configuration_set: Option<String>,
    pub public_base_url: String,
    pub breaker_threshold: u32,
    pub breaker_cooldown_secs: u64,
    /// The queue's visibility timeout: a claim's lease must outlast a delivery.
    pub lease_secs: i64,
    /// The queue's `maxReceiveCount`: the receive after which a message kept
    /// for another try goes to the dead-letter queue instead.
    pub max_receive_count: u32,
}

impl NotificationConfig {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let sender = required(src, "SENDER_EMAIL")?;
        Email::parse(&sender).map_err(|e| ConfigError::Invalid {
            name: "SENDER_EMAIL",
            reason: e.to_string(),
        })?;
        let app = app_name(src)?;
        let base = public_base_url(src)?;
        Ok(Self {
            queue_url: required(src, "NOTIFICATION_QUEUE_URL")?,
            from: format!("{app} <{sender}>"),
            configuration_set: optional(src, "SES_CONFIGURATION_SET"),
            public_base_url: base,
            breaker_threshold: optional(src, "BREAKER_THRESHOLD")
                .map(|_| parsed(src, "BREAKER_THRESHOLD"))
                .transpose()?
                .unwrap_or(5),
            breaker_cooldown_secs: optional(src, "BREAKER_COOLDOWN_SECONDS")
                .map(|_| parsed(src, "BREAKER_COOLDOWN_SECONDS"))
                .transpose()?
                .unwrap_or(60),
            lease_secs: optional(src, "DELIVERY_LEASE_SECONDS")
                .map(|_| parsed(src, "DELIVERY_LEASE_SECONDS"))
                .transpose()?
                .unwrap_or(180),
            max_receive_count: optional(src, "NOTIFICATION_MAX_RECEIVE_COUNT")
                .map(|_| parsed(src, "NOTIFICATION_MAX_RECEIVE_COUNT"))
                .transpose()?
                .unwrap_or(5),
        })
    }
}

/// The product name used in the emails users receive.
pub fn app_name(src: &dyn Source) -> Result<String, ConfigError> {
    required(src, "APP_NAME")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn mfa_required_roles_name_roles_or_none() {
        let roles =
            |raw: &'static str| mfa_required_roles(&HashMap::from([("MFA_REQUIRED_ROLES", raw)]));
        assert_eq!(
            roles(" admin, auditor ").unwrap(),
            crate::domain::mfa::MfaRequiredRoles::new(vec![
                crate::domain::Role::parse("admin").unwrap(),
                crate::domain::Role::parse("auditor").unwrap(),
            ])
        );
        assert!(roles("").unwrap().is_empty());
        assert!(matches!(
            roles("Admin!"),
            Err(ConfigError::Invalid {
                name: "MFA_REQUIRED_ROLES",
                ..
            })
        ));
        assert!(
            mfa_required_roles(&HashMap::<&str, &str>::new())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn links_use_the_public_url_when_set_and_the_apis_own_url_otherwise() {
        let env = |public: &'static str| -> HashMap<&'static str, &'static str> {
            HashMap::from([
                ("SENDER_EMAIL", "no-reply@example.com"),
                ("APP_NAME", "Gatehouse"),
                ("NOTIFICATION_QUEUE_URL", "https://sqs/queue"),
                ("PUBLIC_BASE_URL", public),
                (
                    "API_URL",
                    "https://abc123.execute-api.us-east-1.amazonaws.com",
                ),
            ])
        };
        let base = |public| {
            NotificationConfig::from_source(&env(public))
                .unwrap()
                .public_base_url
        };
        assert_eq!(
            base(""),
            "https://abc123.execute-api.us-east-1.amazonaws.com"
        );
        assert_eq!(base("https://id.example.org"), "https://id.example.org");
    }

    #[test]
    fn a_missing_variable_is_named() {
        let env: HashMap<&str, &str> = HashMap::from([("TABLE_NAME", "t")]);
        assert_eq!(
            TableConfig::from_source(&env).unwrap_err(),
            ConfigError::Missing("DEFAULT_ROLE")
        );
    }

    #[test]
    fn a_malformed_number_is_named() {
        let env: HashMap<&str, &str> = HashMap::from([("PASSWORD_MIN_LENGTH", "ten")]);
        let err = password_policy(&env).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "PASSWORD_MIN_LENGTH",
                ..
            }
        ));
    }

    #[test]
    fn the_prod_stage_never_auto_confirms() {
        let env: HashMap<&str, &str> = HashMap::from([
            ("STAGE", "prod"),
            ("SIGNUP_AUTO_CONFIRM_DOMAINS", "test.example"),
        ]);
        let policy = sign_up_policy(&env).unwrap();
        assert!(policy.production);
        assert!(!policy.evaluate("a@test.example").unwrap().auto_confirm);
    }

    #[test]
    fn a_complete_password_policy_parses() {
        let env: HashMap<&str, &str> = HashMap::from([
            ("PASSWORD_MIN_LENGTH", "10"),
            ("PASSWORD_REQUIRE_LOWERCASE", "true"),
            ("PASSWORD_REQUIRE_UPPERCASE", "true"),
            ("PASSWORD_REQUIRE_NUMBERS", "true"),
            ("PASSWORD_REQUIRE_SYMBOLS", "false"),
        ]);
        let policy = password_policy(&env).unwrap();
        assert_eq!(policy.min_length, 10);
        assert!(!policy.require_symbols);
    }
}
