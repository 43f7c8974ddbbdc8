//! Notifications: what is sent to whom, rendered from the templates in
//! `shared/templates/notifications/<template>/` (minijinja; `*.html` parts are
//! HTML-escaped, so data a sender supplies cannot inject markup), and the rules
//! that decide whether a recipient gets one.

use super::messages::Language;
use super::{AppError, Email, Profile, UserId};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Every template file: `(template, file, text)`.
const FILES: &[(&str, &str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/notification_templates.rs"));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }
}

/// Marketing needs the recipient's consent (`marketing_emails`) and carries a
/// one-click unsubscribe; transactional messages are about the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Transactional,
    Marketing,
}

/// A template's `template.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateInfo {
    pub category: Category,
    pub channels: Vec<Channel>,
    /// Whether senders may use it (`POST /notifications`); an internal one
    /// (a welcome, "your password was changed") is sent by Gatehouse itself
    /// only, so no sender can forge a security notice. Required in every file.
    pub sendable: bool,
    pub description: String,
}

/// The locales every template is written in (English is the fallback).
pub const LOCALES: [Language; 2] = [Language::English, Language::German];

/// What the templates may say about the recipient.
#[derive(Debug, Clone, Serialize)]
pub struct RecipientView {
    pub display_name: Option<String>,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates {
    env: Environment<'static>,
    info: BTreeMap<&'static str, TemplateInfo>,
}

static TEMPLATES: LazyLock<Result<Templates, String>> = LazyLock::new(Templates::load);

impl Templates {
    fn load() -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        let mut info = BTreeMap::new();
        for (template, file, text) in FILES {
            if *file == "template.json" {
                let parsed: TemplateInfo = serde_json::from_str(text)
                    .map_err(|e| format!("{template}/template.json: {e}"))?;
                info.insert(*template, parsed);
            } else {
                let name: &'static str = Box::leak(format!("{template}/{file}").into_boxed_str());
                env.add_template(name, text)
                    .map_err(|e| format!("{template}/{file}: {e}"))?;
            }
        }
        let templates = Self { env, info };
        // Every template has every part it needs in every locale.
        for (name, info) in &templates.info {
            for language in LOCALES {
                for part in templates.parts(info) {
                    let file = format!("{name}/{}.{part}", language.tag());
                    templates
                        .env
                        .get_template(&file)
                        .map_err(|_| format!("{file} is missing"))?;
                }
            }
        }
        Ok(templates)
    }

    /// The shipped templates; an error only if the repository's are broken
    /// (the unit tests catch that).
    pub fn shipped() -> Result<&'static Self, AppError> {
        TEMPLATES
            .as_ref()
            .map_err(|e| AppError::unexpected(e.clone()))
    }

    fn parts(&self, info: &TemplateInfo) -> Vec<&'static str> {
        let mut parts = Vec::new();
        if info.channels.contains(&Channel::Email) {
            parts.extend(["subject", "txt", "html"]);
        }
        if info.channels.contains(&Channel::Sms) {
            parts.push("sms");
        }
        parts
    }

    pub fn info(&self, template: &str) -> Option<&TemplateInfo> {
        self.info.get(template)
    }

    /// The send-time check: the template exists, offers `channel`, and renders
    /// in every locale with `data` (a missing variable is the sender's 400 now,
    /// not a failed delivery later).
    /// What a sender may send: the sendable templates, by name.
    pub fn sendable(&self) -> impl Iterator<Item = (&'static str, &TemplateInfo)> {
        self.info
            .iter()
            .filter(|(_, info)| info.sendable)
            .map(|(name, info)| (*name, info))
    }

    /// A sender's request: a sendable template, written for the channel, that
    /// renders with the data in every locale.
    pub fn check_sendable(
        &self,
        template: &str,
        channel: Channel,
        data: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<&TemplateInfo, AppError> {
        if self.info(template).is_some_and(|info| !info.sendable) {
            return Err(AppError::validation(
                "template",
                format!("{template} is internal: Gatehouse alone sends it"),
            ));
        }
        self.check(template, channel, data)
    }

    pub fn check(
        &self,
        template: &str,
        channel: Channel,
        data: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<&TemplateInfo, AppError> {
        let info = self.info(template).ok_or_else(|| {
            AppError::validation("template", "is not a template of this deployment")
        })?;
        if !info.channels.contains(&channel) {
            return Err(AppError::validation(
                "channel",
                format!(
                    "template {template} is not written for {}",
                    channel.as_str()
                ),
            ));
        }
        let recipient = RecipientView {
            display_name: Some("Ada".into()),
            email: "ada@example.com".into(),
        };
        for language in LOCALES {
            let rendered = match channel {
                Channel::Email => self
                    .email(
                        template,
                        language,
                        data,
                        &recipient,
                        Some("https://example.com/u"),
                    )
                    .map(drop),
                Channel::Sms => self.sms(template, language, data, &recipient).map(drop),
            };
            rendered.map_err(|e| match e {
                AppError::Unexpected(cause) => AppError::validation("data", cause.to_string()),
                other => other,
            })?;
        }
        Ok(info)
    }

    fn render(
        &self,
        file: &str,
        data: &serde_json::Map<String, serde_json::Value>,
        recipient: &RecipientView,
        unsubscribe_url: Option<&str>,
    ) -> Result<String, AppError> {
        let mut context = data.clone();
        context.insert(
            "recipient".into(),
            serde_json::to_value(recipient).map_err(AppError::unexpected)?,
        );
        if let Some(url) = unsubscribe_url {
            context.insert("unsubscribe_url".into(), url.into());
        }
        let template = self
            .env
            .get_template(file)
            .map_err(|e| AppError::unexpected(e.to_string()))?;
        template
            .render(minijinja::value::Serde(serde_json::Value::Object(context)))
            .map_err(|e| AppError::unexpected(format!("{file}: {}", describe(&e))))
    }

    pub fn email(
        &self,
        template: &str,
        language: Language,
        data: &serde_json::Map<String, serde_json::Value>,
        recipient: &RecipientView,
        unsubscribe_url: Option<&str>,
    ) -> Result<RenderedEmail, AppError> {
        let file = |part: &str| format!("{template}/{}.{part}", language.tag());
        let subject = self.render(&file("subject"), data, recipient, unsubscribe_url)?;
        Ok(RenderedEmail {
            // One line: a subject can never carry a header of its own.
            subject: subject
                .split(['\r', '\n'])
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            text: self.render(&file("txt"), data, recipient, unsubscribe_url)?,
            html: self.render(&file("html"), data, recipient, unsubscribe_url)?,
        })
    }

    pub fn sms(
        &self,
        template: &str,
        language: Language,
        data: &serde_json::Map<String, serde_json::Value>,
        recipient: &RecipientView,
    ) -> Result<String, AppError> {
        let text = self.render(
            &format!("{template}/{}.sms", language.tag()),
            data,
            recipient,
            None,
        )?;
        Ok(text.trim().to_owned())
    }
}

/// minijinja's error without the template source around it.
fn describe(err: &minijinja::Error) -> String {
    match err.detail() {
        Some(detail) => format!("{} ({detail})", err.kind()),
        None => err.kind().to_string(),
    }
}

/// One recipient's message on the delivery queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub notification_id: String,
    pub recipient: UserId,
    pub channel: Channel,
    pub template: String,
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Only Gatehouse's own notices set this (the old address after an email
    /// change); a sender through the API never can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_address: Option<Email>,
}

impl Delivery {
    /// One recipient's message of a notification: to the recipient's own
    /// address or number, as every send through the API.
    pub fn of(
        notification_id: impl Into<String>,
        recipient: UserId,
        channel: Channel,
        template: impl Into<String>,
        data: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        Self {
            notification_id: notification_id.into(),
            recipient,
            channel,
            template: template.into(),
            data,
            to_address: None,
        }
    }

    /// Sent to `address` instead (Gatehouse's own notices only: the old address
    /// after an email change).
    pub fn to_address(self, address: Option<Email>) -> Self {
        Self {
            to_address: address,
            ..self
        }
    }
}

/// Why a recipient is not sent a message they would otherwise get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Suppressed: their own choice, or an address known to bounce.
    OptedOutOfChannel,
    OptedOutOfMarketing,
    Undeliverable,
    /// The account is disabled: it gets nothing until enabled.
    AccountDisabled,
    /// Failed: nothing to send to (and nothing a retry would change).
    NoSuchUser,
    NoVerifiedPhone,
}

impl Skip {
    pub fn reason(self) -> &'static str {
        match self {
            Self::OptedOutOfChannel => "the recipient turned this channel off",
            Self::OptedOutOfMarketing => "the recipient does not accept marketing",
            Self::Undeliverable => "the address is known to bounce or complain",
            Self::AccountDisabled => "the account is disabled",
            Self::NoSuchUser => "no such user",
            Self::NoVerifiedPhone => "no verified phone number (SMS go only to verified numbers)",
        }
    }

    /// Suppressed (counted as such) rather than failed.
    pub fn is_suppression(self) -> bool {
        matches!(
            self,
            Self::OptedOutOfChannel
                | Self::OptedOutOfMarketing
                | Self::Undeliverable
                | Self::AccountDisabled
        )
    }
}

/// Whether `profile` gets a `category` message by `channel`: `None` to send.
/// `notification_channels` (when set) lists the channels a user accepts;
/// marketing needs `marketing_emails: true` (consent is opt-in).
pub fn skip_for(
    profile: &Profile,
    channel: Channel,
    category: Category,
    undeliverable: bool,
) -> Option<Skip> {
    if profile.status == super::UserStatus::Disabled {
        return Some(Skip::AccountDisabled);
    }
    let preferences = &profile.preferences;
    if let Some(channels) = preferences
        .get("notification_channels")
        .and_then(|c| c.as_array())
        && !channels
            .iter()
            .any(|c| c.as_str() == Some(channel.as_str()))
    {
        return Some(Skip::OptedOutOfChannel);
    }
    if category == Category::Marketing
        && preferences
            .get("marketing_emails")
            .and_then(|m| m.as_bool())
            != Some(true)
    {
        return Some(Skip::OptedOutOfMarketing);
    }
    if channel == Channel::Sms && !(profile.phone_verified && profile.phone_number.is_some()) {
        return Some(Skip::NoVerifiedPhone);
    }
    if undeliverable {
        return Some(Skip::Undeliverable);
    }
    None
}

/// The recipient's language, from their `locale` preference.
pub fn language_of(profile: &Profile) -> Language {
    Language::from_locale(profile.preferences.get("locale").and_then(|l| l.as_str()))
}

/// The addresses an SES bounce or complaint event makes undeliverable, with
/// why: permanent bounces and complaints (a transient bounce is retried by
/// SES, not held against the address). `event` is the SES event (the
/// `Message` of the SNS notification), as configuration sets publish it
/// (`eventType`) or identity feedback does (`notificationType`).
pub fn undeliverable_from(event: &serde_json::Value) -> Vec<(Email, String)> {
    let kind = event["eventType"]
        .as_str()
        .or(event["notificationType"].as_str())
        .unwrap_or_default();
    let (recipients, reason) = match kind {
        "Bounce" if event["bounce"]["bounceType"] == "Permanent" => (
            &event["bounce"]["bouncedRecipients"],
            format!(
                "permanent bounce ({})",
                event["bounce"]["bounceSubType"]
                    .as_str()
                    .unwrap_or("General")
            ),
        ),
        "Complaint" => (
            &event["complaint"]["complainedRecipients"],
            "complaint".to_owned(),
        ),
        _ => return Vec::new(),
    };
    recipients
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["emailAddress"].as_str())
        .filter_map(|address| Email::parse(address).ok())
        .map(|address| (address, reason.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn ada() -> RecipientView {
        RecipientView {
            display_name: Some("Ada".into()),
            email: "ada@example.com".into(),
        }
    }

    #[test]
    fn every_shipped_template_loads_with_every_part_in_every_locale() {
        let templates = Templates::shipped().unwrap_or_else(|e| panic!("{e:?}"));
        for name in [
            "welcome",
            "password-changed",
            "email-changed",
            "announcement",
            "security-alert",
            "second-factor",
            "new-sign-in",
        ] {
            assert!(templates.info(name).is_some(), "{name}");
        }
    }

    #[test]
    fn an_unknown_template_a_wrong_channel_or_a_missing_variable_is_refused_at_send_time() {
        let t = Templates::shipped().unwrap();
        assert!(matches!(
            t.check("no-such", Channel::Email, &data(json!({}))),
            Err(AppError::Validation {
                field: "template",
                ..
            })
        ));
        assert!(matches!(
            t.check("welcome", Channel::Sms, &data(json!({}))),
            Err(AppError::Validation {
                field: "channel",
                ..
            })
        ));
        let missing = t.check(
            "announcement",
            Channel::Email,
            &data(json!({"headline": "Hi"})),
        );
        assert!(
            matches!(&missing, Err(AppError::Validation { field: "data", reason }) if reason.contains("undefined")),
            "{missing:?}"
        );
        assert!(
            t.check(
                "announcement",
                Channel::Email,
                &data(json!({"headline": "Hi", "body": "News"}))
            )
            .is_ok()
        );
    }

    #[test]
    fn data_is_escaped_in_html_and_kept_in_text() {
        let t = Templates::shipped().unwrap();
        let mail = t
            .email(
                "security-alert",
                Language::English,
                &data(json!({"message": "<script>alert(1)</script> & more"})),
                &ada(),
                None,
            )
            .unwrap();
        assert!(mail.html.contains("&lt;script&gt;"), "{}", mail.html);
        assert!(!mail.html.contains("<script>"));
        assert!(mail.text.contains("<script>alert(1)</script> & more"));
        assert_eq!(mail.subject, "Gatehouse security notice");
    }

    #[test]
    fn permanent_bounces_and_complaints_mark_addresses_and_transient_bounces_do_not() {
        let bounce = json!({"eventType": "Bounce", "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": "Gone@Example.com"}]}});
        assert_eq!(
            undeliverable_from(&bounce),
            [(
                Email::parse("gone@example.com").unwrap(),
                "permanent bounce (General)".to_owned()
            )]
        );
        let complaint = json!({"notificationType": "Complaint", "complaint": {
            "complainedRecipients": [{"emailAddress": "angry@example.com"}]}});
        assert_eq!(undeliverable_from(&complaint)[0].1, "complaint");
        let transient = json!({"eventType": "Bounce", "bounce": {"bounceType": "Transient",
            "bouncedRecipients": [{"emailAddress": "full@example.com"}]}});
        assert!(undeliverable_from(&transient).is_empty());
        assert!(undeliverable_from(&json!({"eventType": "Delivery"})).is_empty());
    }

    #[test]
    fn a_subject_is_one_line_whatever_the_data() {
        let t = Templates::shipped().unwrap();
        let mail = t
            .email(
                "announcement",
                Language::German,
                &data(json!({"headline": "Neu\r\nBcc: x@example.com", "body": "b"})),
                &ada(),
                Some("https://example.com/u"),
            )
            .unwrap();
        assert_eq!(mail.subject, "Neu Bcc: x@example.com");
        assert!(
            mail.text
                .contains("Keine weiteren Nachrichten: https://example.com/u")
        );
    }
}
