//! Every email and SMS the local stack "sends", newest last, served at
//! `GET /_local/outbox`. Never deployed: on AWS, Cognito and SES deliver for real.

use base64::Engine;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub channel: &'static str,
    pub to: String,
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    /// Headers a raw message set beyond the usual (`List-Unsubscribe`, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
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
            headers: BTreeMap::new(),
            sent_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        });
    }

    /// A raw MIME message SES was given (`multipart/alternative`, base64 or
    /// plain parts), to every recipient.
    pub fn send_raw_email(&self, to: &[String], raw: &str) {
        let Some(mail) = parse_mime(raw) else {
            tracing::warn!("a raw email the local outbox cannot read");
            return;
        };
        for recipient in to {
            self.push(Message {
                channel: "email",
                to: recipient.clone(),
                subject: Some(mail.subject.clone()),
                text: mail.text.clone(),
                html: mail.html.clone(),
                headers: mail.headers.clone(),
                sent_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            });
        }
    }

    pub fn send_sms(&self, to: &str, text: String) {
        self.push(Message {
            channel: "sms",
            to: to.to_owned(),
            subject: None,
            text,
            html: None,
            headers: BTreeMap::new(),
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

struct ParsedMail {
    subject: String,
    text: String,
    html: Option<String>,
    headers: BTreeMap<String, String>,
}

/// Header lines (unfolded) and the body after the blank line.
fn split_headers(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))
        .unwrap_or((raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `=?UTF-8?B?...?=` words decoded; anything else as it is.
fn decode_words(value: &str) -> String {
    value
        .split_whitespace()
        .map(|word| {
            word.strip_prefix("=?UTF-8?B?")
                .or_else(|| word.strip_prefix("=?utf-8?b?"))
                .and_then(|w| w.strip_suffix("?="))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .unwrap_or_else(|| word.to_owned())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn decode_body(headers: &[(String, String)], body: &str) -> String {
    let encoding = header(headers, "Content-Transfer-Encoding").unwrap_or_default();
    if encoding.eq_ignore_ascii_case("base64") {
        let compact: String = body.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default()
    } else {
        body.to_owned()
    }
}

fn parse_mime(raw: &str) -> Option<ParsedMail> {
    let (headers, body) = split_headers(raw);
    let subject = decode_words(header(&headers, "Subject").unwrap_or_default());
    let kept: BTreeMap<String, String> = headers
        .iter()
        .filter(|(n, _)| n.to_ascii_lowercase().starts_with("list-"))
        .cloned()
        .collect();
    let content_type = header(&headers, "Content-Type").unwrap_or("text/plain");
    let mut text = String::new();
    let mut html = None;
    if let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
    {
        for part in body.split(&format!("--{boundary}")) {
            let part = part.trim_start_matches(['\r', '\n']);
            if part.starts_with("--") || part.trim().is_empty() {
                continue;
            }
            let (part_headers, part_body) = split_headers(part);
            let kind = header(&part_headers, "Content-Type").unwrap_or("text/plain");
            let decoded = decode_body(&part_headers, part_body);
            if kind.starts_with("text/html") {
                html = Some(decoded);
            } else if kind.starts_with("text/plain") {
                text = decoded;
            }
        }
    } else if content_type.starts_with("text/html") {
        html = Some(decode_body(&headers, body));
    } else {
        text = decode_body(&headers, body);
    }
    Some(ParsedMail {
        subject,
        text,
        html,
        headers: kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_multipart_message_is_read_back_with_its_list_headers() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let raw = format!(
            "From: G <a@example.com>\r\nTo: b@example.com\r\nSubject: =?UTF-8?B?{}?=\r\nList-Unsubscribe: <https://x/u>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nContent-Type: multipart/alternative; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--zz\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--zz--\r\n",
            b64("Grüße"),
            b64("plain text"),
            b64("<p>html</p>")
        );
        let mail = parse_mime(&raw).unwrap();
        assert_eq!(mail.subject, "Grüße");
        assert_eq!(mail.text, "plain text");
        assert_eq!(mail.html.as_deref(), Some("<p>html</p>"));
        assert_eq!(mail.headers["List-Unsubscribe"], "<https://x/u>");
        assert_eq!(
            mail.headers["List-Unsubscribe-Post"],
            "List-Unsubscribe=One-Click"
        );
    }
}
