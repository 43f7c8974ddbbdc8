//! Who may sign up: the pre sign-up trigger's rules.

use super::{AppError, Email};

#[derive(Debug, Clone, Default)]
pub struct SignUpPolicy {
    /// Domains (and their subdomains) that may not sign up.
    pub denied_domains: Vec<String>,
    /// Domains whose sign-ups skip email confirmation, outside production only.
    pub auto_confirm_domains: Vec<String>,
    pub production: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignUpDecision {
    pub auto_confirm: bool,
}

fn normalise_domain(raw: &str) -> String {
    raw.trim()
        .trim_start_matches('@')
        .trim_end_matches('.')
        .to_lowercase()
}

/// Parses a comma- or space-separated list of domains.
pub fn domain_list(raw: &str) -> Vec<String> {
    raw.split([',', ' ', '\n'])
        .map(normalise_domain)
        .filter(|d| !d.is_empty())
        .collect()
}

fn in_list(domain: &str, list: &[String]) -> bool {
    let domain = normalise_domain(domain);
    list.iter()
        .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
}

impl SignUpPolicy {
    /// The address rules, wherever an address enters (sign-up, an email
    /// change): a denied domain is refused.
    pub fn admits(&self, email: &Email) -> Result<(), AppError> {
        self.refuse_denied(email, "for an account")
    }

    fn refuse_denied(&self, email: &Email, purpose: &str) -> Result<(), AppError> {
        if in_list(email.domain(), &self.denied_domains) {
            return Err(AppError::validation(
                "email",
                format!("addresses at {} cannot be used {purpose}", email.domain()),
            ));
        }
        Ok(())
    }

    pub fn evaluate(&self, raw_email: &str) -> Result<SignUpDecision, AppError> {
        let email = Email::parse(raw_email)?;
        self.refuse_denied(&email, "to sign up")?;
        Ok(SignUpDecision {
            auto_confirm: !self.production && in_list(email.domain(), &self.auto_confirm_domains),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(production: bool) -> SignUpPolicy {
        SignUpPolicy {
            denied_domains: domain_list("mailinator.com, Trash.example."),
            auto_confirm_domains: domain_list("test.example"),
            production,
        }
    }

    #[test]
    fn denied_domains_and_their_subdomains_are_refused_whatever_the_case() {
        for email in [
            "a@mailinator.com",
            "A@MAILINATOR.COM",
            "a@eu.mailinator.com",
            "a@trash.example",
        ] {
            let err = policy(false).evaluate(email).unwrap_err();
            assert!(
                err.to_string().contains("cannot be used to sign up"),
                "{email}"
            );
        }
        assert!(policy(false).evaluate("a@notmailinator.com").is_ok());
    }

    #[test]
    fn production_never_auto_confirms() {
        assert!(
            policy(false)
                .evaluate("a@test.example")
                .unwrap()
                .auto_confirm
        );
        assert!(
            !policy(true)
                .evaluate("a@test.example")
                .unwrap()
                .auto_confirm
        );
        assert!(
            !policy(false)
                .evaluate("a@example.com")
                .unwrap()
                .auto_confirm
        );
    }

    #[test]
    fn an_invalid_email_is_refused() {
        assert!(policy(false).evaluate("not-an-email").is_err());
    }
}
