//! Every email and SMS the local stack "sends", newest last, served at
//! `GET /_local/outbox`. Never deployed: on AWS, Cognito and SES deliver for real.

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub channel: &'static str,
    pub to: String,
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    pub sent_at: String,
}

#[derive(Clone, Default)]
pub struct Outbox {
    messages: Arc<Mutex<Vec<Message>>>,
}

impl Outbox {
    pub fn send_email(&self, to: &str, subject: &str, text: String, html: Option<String>) {
        self.push(Message {
            channel: "email",
            to: to.to_owned(),
            subject: Some(subject.to_owned()),
            text,
            html,
            sent_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        });
    }

    pub fn send_sms(&self, to: &str, text: String) {
        self.push(Message {
            channel: "sms",
            to: to.to_owned(),
            subject: None,
            text,
            html: None,
            sent_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        });
    }

    fn push(&self, message: Message) {
        tracing::info!(
            channel = message.channel,
            "message delivered to the local outbox"
        );
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message);
    }

    pub fn all(&self) -> Vec<Message> {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
