//! How Cognito delivers a code by email: the custom message trigger's subject and
//! HTML (with the code in place of the placeholder), or Cognito's default text;
//! locally, into the outbox.

use super::triggers::CODE_PLACEHOLDER;
use crate::outbox::Outbox;
use aws_lambda_events::cognito::CognitoEventUserPoolsCustomMessageResponse;

/// Puts the code message for `email` in the outbox.
pub fn deliver_code(
    outbox: &Outbox,
    email: &str,
    custom: Option<&CognitoEventUserPoolsCustomMessageResponse>,
    code: &str,
) {
    let subject = custom
        .and_then(|r| r.email_subject.as_deref())
        .unwrap_or("Your verification code");
    match custom.and_then(|r| r.email_message.as_deref()) {
        Some(html) => {
            let html = html.replace(CODE_PLACEHOLDER, code);
            outbox.send_email(email, subject, strip_tags(&html), Some(html));
        }
        None => outbox.send_email(
            email,
            subject,
            format!("Your verification code is {code}."),
            None,
        ),
    }
}

/// Where Cognito says it sent a code: `a***@e***`.
pub fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!(
            "{}***@{}***",
            local.chars().next().unwrap_or('*'),
            domain.chars().next().unwrap_or('*')
        ),
        None => "***".into(),
    }
}

/// Cognito sends a custom message as HTML; the text part is the same without tags,
/// one line per block.
fn strip_tags(html: &str) -> String {
    let mut with_breaks = html.to_owned();
    for block_end in [
        "<br>", "<br/>", "<br />", "</p>", "</h1>", "</h2>", "</h3>", "</div>", "</li>",
    ] {
        with_breaks = with_breaks.replace(block_end, "\n");
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in with_breaks.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_messages_get_a_plain_text_twin() {
        assert_eq!(
            strip_tags("<h1>Hi</h1><p>Hello</p><p>Code: <b>123456</b></p>"),
            "Hi\nHello\nCode: 123456"
        );
    }

    #[test]
    fn destinations_are_masked_like_cognito() {
        assert_eq!(mask("ada@example.com"), "a***@e***");
    }
}
