//! A user's preference settings and the changes a `PATCH /users/me` asks for.
//! Every setting is validated here, with a message naming it.

use super::{AppError, DisplayName, Locale};
use serde_json::Value;
use std::collections::BTreeMap;

/// The settings a profile may hold, by the name the API uses.
pub const SETTINGS: &[&str] = &[
    "locale",
    "timezone",
    "marketing_emails",
    "notification_channels",
];

/// The channels notifications can use.
pub const CHANNELS: &[&str] = &["email", "sms"];

/// A validated value for one setting, in the form it is stored.
fn setting(name: &str, value: &Value) -> Result<Value, AppError> {
    let invalid =
        |field: &'static str, reason: &str| Err(AppError::validation(field, reason.to_owned()));
    match name {
        "locale" => match value.as_str() {
            Some(raw) => Locale::parse(raw)
                .map(|l| Value::String(l.as_str().to_owned()))
                .map_err(|_| {
                    AppError::validation(
                        "preferences.locale",
                        "must be a BCP 47 language tag such as en or de-AT",
                    )
                }),
            None => invalid("preferences.locale", "must be a string"),
        },
        "timezone" => match value.as_str() {
            Some(raw) if raw.parse::<chrono_tz::Tz>().is_ok() => Ok(Value::String(raw.to_owned())),
            _ => invalid(
                "preferences.timezone",
                "must be an IANA time zone name such as Europe/Berlin",
            ),
        },
        "marketing_emails" => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => invalid("preferences.marketing_emails", "must be true or false"),
        },
        "notification_channels" => {
            let Some(items) = value.as_array() else {
                return invalid(
                    "preferences.notification_channels",
                    "must be a list of email and sms",
                );
            };
            let mut channels = Vec::new();
            for item in items {
                match item.as_str().filter(|c| CHANNELS.contains(c)) {
                    Some(c) if !channels.contains(&c) => channels.push(c),
                    Some(_) => {
                        return invalid(
                            "preferences.notification_channels",
                            "must not name a channel twice",
                        );
                    }
                    None => {
                        return invalid(
                            "preferences.notification_channels",
                            "may only contain email and sms",
                        );
                    }
                }
            }
            Ok(Value::Array(
                channels
                    .into_iter()
                    .map(|c| Value::String(c.into()))
                    .collect(),
            ))
        }
        _ => Err(AppError::validation(
            "preferences",
            format!("has an unknown setting; known: {}", SETTINGS.join(", ")),
        )),
    }
}

/// What a `PATCH /users/me` changes. `None`: left as it is; `Some(None)`:
/// cleared (JSON `null`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfilePatch {
    pub display_name: Option<Option<DisplayName>>,
    /// Settings to set (`Some`) or remove (`None`), already validated.
    pub preferences: BTreeMap<String, Option<Value>>,
}

impl ProfilePatch {
    /// Validates a request body: only `display_name` and `preferences`;
    /// `roles`, `status`, `email` and `user_id` are refused by name.
    pub fn parse(body: &serde_json::Map<String, Value>) -> Result<Self, AppError> {
        let mut patch = Self::default();
        for (key, value) in body {
            match key.as_str() {
                "display_name" => {
                    patch.display_name = Some(match value {
                        Value::Null => None,
                        Value::String(raw) => Some(
                            DisplayName::parse(raw)
                                .map_err(|e| AppError::validation("display_name", reason_of(e)))?,
                        ),
                        _ => {
                            return Err(AppError::validation("display_name", "must be a string"));
                        }
                    });
                }
                "preferences" => {
                    let Some(settings) = value.as_object() else {
                        return Err(AppError::validation("preferences", "must be an object"));
                    };
                    for (name, value) in settings {
                        let stored = match value {
                            Value::Null if SETTINGS.contains(&name.as_str()) => None,
                            _ => Some(setting(name, value)?),
                        };
                        patch.preferences.insert(name.clone(), stored);
                    }
                }
                "roles" => return Err(fixed("roles", "are granted by an administrator")),
                "status" => return Err(fixed("status", "is set by an administrator")),
                "email" => return Err(fixed("email", "is changed with POST /users/me/email")),
                "user_id" => return Err(fixed("user_id", "never changes")),
                _ => {
                    return Err(AppError::validation(
                        "body",
                        "has an unknown field; a profile has display_name and preferences",
                    ));
                }
            }
        }
        if patch == Self::default() {
            return Err(AppError::validation(
                "body",
                "changes nothing; send display_name or preferences",
            ));
        }
        Ok(patch)
    }

    /// The preferences after this patch.
    pub fn apply_to(&self, current: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
        let mut next = current.clone();
        for (name, value) in &self.preferences {
            match value {
                Some(v) => next.insert(name.clone(), v.clone()),
                None => next.remove(name),
            };
        }
        next
    }
}

fn fixed(field: &'static str, reason: &str) -> AppError {
    AppError::validation(field, format!("cannot be changed here: it {reason}"))
}

fn reason_of(err: AppError) -> String {
    match err {
        AppError::Validation { reason, .. } => reason,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<ProfilePatch, AppError> {
        ProfilePatch::parse(body.as_object().unwrap())
    }

    fn field_of(err: AppError) -> &'static str {
        match err {
            AppError::Validation { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_invalid_setting_is_refused_naming_it() {
        for (body, field) in [
            (
                json!({"preferences": {"locale": "not a tag"}}),
                "preferences.locale",
            ),
            (
                json!({"preferences": {"timezone": "Mars/Olympus"}}),
                "preferences.timezone",
            ),
            (
                json!({"preferences": {"marketing_emails": "yes"}}),
                "preferences.marketing_emails",
            ),
            (
                json!({"preferences": {"notification_channels": ["email", "fax"]}}),
                "preferences.notification_channels",
            ),
            (
                json!({"preferences": {"notification_channels": ["sms", "sms"]}}),
                "preferences.notification_channels",
            ),
            (json!({"preferences": {"colour": "blue"}}), "preferences"),
            (json!({"display_name": "   "}), "display_name"),
            (json!({"roles": ["admin"]}), "roles"),
            (json!({"status": "active"}), "status"),
            (json!({"email": "x@example.com"}), "email"),
            (json!({"user_id": "x"}), "user_id"),
            (json!({"nickname": "x"}), "body"),
            (json!({}), "body"),
        ] {
            assert_eq!(field_of(parse(body.clone()).unwrap_err()), field, "{body}");
        }
    }

    #[test]
    fn valid_settings_merge_and_null_removes() {
        let patch = parse(json!({
            "display_name": "Ada",
            "preferences": {"locale": "de_AT", "timezone": "Europe/Vienna",
                            "notification_channels": ["sms", "email"], "marketing_emails": null}
        }))
        .unwrap();
        let current = BTreeMap::from([
            ("marketing_emails".to_owned(), json!(true)),
            ("timezone".to_owned(), json!("UTC")),
        ]);
        let next = patch.apply_to(&current);
        assert_eq!(next["locale"], "de-AT");
        assert_eq!(next["timezone"], "Europe/Vienna");
        assert_eq!(next["notification_channels"], json!(["sms", "email"]));
        assert!(!next.contains_key("marketing_emails"));
        assert_eq!(
            patch.display_name,
            Some(Some(DisplayName::parse("Ada").unwrap()))
        );
    }
}
