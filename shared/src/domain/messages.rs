//! The emails and texts users receive with their codes: branded, in HTML and plain
//! text, in the user's language where we know it (English otherwise).

/// What a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    SignUpCode,
    ResendCode,
    PasswordResetCode,
    /// To a new address an account is moving to: the code that confirms it.
    EmailChangeCode,
    /// By SMS, to a phone number being verified.
    PhoneCode,
    /// To the owner of an address someone tried to register again (sign-up
    /// answers alike for new and taken addresses, so the owner hears it here).
    SignUpAttempt,
}

/// The `ClientMetadata` key and value that ask the custom message trigger for a
/// [`MessageKind::SignUpAttempt`] notice instead of a plain reset message.
pub const NOTICE_METADATA_KEY: &str = "gatehouse_notice";
pub const SIGN_UP_ATTEMPT_NOTICE: &str = "sign_up_attempt";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    German,
}

impl Language {
    /// From a locale such as `de`, `de-AT` or `de_CH`; English when unknown.
    pub fn from_locale(locale: Option<&str>) -> Self {
        let primary = locale
            .unwrap_or_default()
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_lowercase();
        match primary.as_str() {
            "de" => Self::German,
            _ => Self::English,
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::German => "de",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMessage {
    pub subject: String,
    pub html: String,
    pub text: String,
}

struct Copy {
    subject: &'static str,
    heading: &'static str,
    body: &'static str,
    footer: &'static str,
}

fn copy(kind: MessageKind, language: Language) -> Copy {
    use Language::*;
    use MessageKind::*;
    match (kind, language) {
        (SignUpCode | ResendCode, English) => Copy {
            subject: "Confirm your {app} account",
            heading: "Welcome to {app}",
            body: "Enter this code to confirm your email address:",
            footer: "If you did not sign up for {app}, ignore this email.",
        },
        (SignUpCode | ResendCode, German) => Copy {
            subject: "Bestätigen Sie Ihr {app}-Konto",
            heading: "Willkommen bei {app}",
            body: "Geben Sie diesen Code ein, um Ihre E-Mail-Adresse zu bestätigen:",
            footer: "Wenn Sie sich nicht bei {app} registriert haben, ignorieren Sie diese E-Mail.",
        },
        (PasswordResetCode, English) => Copy {
            subject: "Reset your {app} password",
            heading: "Password reset",
            body: "Enter this code to choose a new password:",
            footer: "If you did not ask to reset your password, ignore this email; your password stays as it is.",
        },
        (PasswordResetCode, German) => Copy {
            subject: "Setzen Sie Ihr {app}-Passwort zurück",
            heading: "Passwort zurücksetzen",
            body: "Geben Sie diesen Code ein, um ein neues Passwort zu wählen:",
            footer: "Wenn Sie kein neues Passwort angefordert haben, ignorieren Sie diese E-Mail; Ihr Passwort bleibt unverändert.",
        },
        (EmailChangeCode, English) => Copy {
            subject: "Confirm your new {app} email address",
            heading: "Confirm your new address",
            body: "Enter this code to make this your {app} sign-in and contact address:",
            footer: "If you did not ask for this, ignore this email; nothing changes without the code.",
        },
        (EmailChangeCode, German) => Copy {
            subject: "Bestätigen Sie Ihre neue {app}-E-Mail-Adresse",
            heading: "Neue Adresse bestätigen",
            body: "Geben Sie diesen Code ein, um diese Adresse für die Anmeldung bei {app} und für Nachrichten zu verwenden:",
            footer: "Wenn Sie das nicht angefordert haben, ignorieren Sie diese E-Mail; ohne den Code ändert sich nichts.",
        },
        (PhoneCode, English) => Copy {
            subject: "Your {app} code",
            heading: "{app}",
            body: "Your code to verify this phone number:",
            footer: "Not you? Ignore this message.",
        },
        (PhoneCode, German) => Copy {
            subject: "Ihr {app}-Code",
            heading: "{app}",
            body: "Ihr Code zur Bestätigung dieser Telefonnummer:",
            footer: "Nicht Sie? Ignorieren Sie diese Nachricht.",
        },
        (SignUpAttempt, English) => Copy {
            subject: "Someone tried to sign up to {app} with your email",
            heading: "You already have an account",
            body: "Someone, perhaps you, tried to create a {app} account with this email address, which already has one. If you forgot your password, enter this code to choose a new one:",
            footer: "If this was not you, ignore this email; your account and password are unchanged.",
        },
        (SignUpAttempt, German) => Copy {
            subject: "Jemand wollte sich mit Ihrer E-Mail-Adresse bei {app} registrieren",
            heading: "Sie haben bereits ein Konto",
            body: "Jemand, vielleicht Sie, wollte mit dieser E-Mail-Adresse ein {app}-Konto anlegen; es gibt bereits eines. Wenn Sie Ihr Passwort vergessen haben, geben Sie diesen Code ein, um ein neues zu wählen:",
            footer: "Wenn Sie das nicht waren, ignorieren Sie diese E-Mail; Ihr Konto und Ihr Passwort bleiben unverändert.",
        },
    }
}

fn escape_html(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders a message. `code` is inserted verbatim: Cognito passes a placeholder
/// (`{####}`) that it replaces with the real code after the trigger returns.
pub fn render(
    kind: MessageKind,
    language: Language,
    app_name: &str,
    code: &str,
) -> RenderedMessage {
    let c = copy(kind, language);
    let fill = |s: &str| s.replace("{app}", app_name);
    let fill_html = |s: &str| s.replace("{app}", &escape_html(app_name));
    let subject = fill(c.subject);
    let text = format!(
        "{}\n\n{}\n\n{code}\n\n{}",
        fill(c.heading),
        fill(c.body),
        fill(c.footer)
    );
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><body style=\"font-family:sans-serif\">\
<h1>{heading}</h1><p>{body}</p>\
<p style=\"font-size:24px;font-weight:bold;letter-spacing:4px\">{code}</p>\
<p style=\"color:#666\">{footer}</p></body></html>",
        lang = language.tag(),
        heading = fill_html(c.heading),
        body = fill_html(c.body),
        footer = fill_html(c.footer),
    );
    RenderedMessage {
        subject,
        html,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_pick_their_language_and_fall_back_to_english() {
        assert_eq!(Language::from_locale(Some("de-AT")), Language::German);
        assert_eq!(Language::from_locale(Some("de_CH")), Language::German);
        assert_eq!(Language::from_locale(Some("fr")), Language::English);
        assert_eq!(Language::from_locale(None), Language::English);
    }

    #[test]
    fn every_message_carries_the_code_in_both_parts() {
        for kind in [
            MessageKind::SignUpCode,
            MessageKind::ResendCode,
            MessageKind::PasswordResetCode,
            MessageKind::SignUpAttempt,
            MessageKind::EmailChangeCode,
            MessageKind::PhoneCode,
        ] {
            for language in [Language::English, Language::German] {
                let m = render(kind, language, "Gatehouse", "{####}");
                assert!(m.html.contains("{####}") && m.text.contains("{####}"));
                assert!(m.subject.contains("Gatehouse"));
            }
        }
    }

    #[test]
    fn the_brand_is_escaped_in_html() {
        let m = render(MessageKind::SignUpCode, Language::English, "A<b>", "1");
        assert!(m.html.contains("A&lt;b&gt;"));
        assert!(!m.html.contains("A<b>"));
    }

    #[test]
    fn german_users_get_german_copy() {
        let m = render(
            MessageKind::PasswordResetCode,
            Language::German,
            "Gatehouse",
            "1",
        );
        assert_eq!(m.subject, "Setzen Sie Ihr Gatehouse-Passwort zurück");
    }
}
