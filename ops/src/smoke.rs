//! `gatehouse-ops smoke --base-url <URL>`: Gatehouse's main flows against a
//! running deployment, as a user and a service would go through them: health,
//! register, confirm, login, profile, a permission check, a notification to the
//! new user (delivered through the queue), then the account is deleted again.
//!
//! Confirmation codes come from the local stack's outbox (`--codes outbox`, the
//! default for a loopback URL), from a mailbox hook (`--codes hook --mailbox-hook
//! CMD`: run with `SMOKE_EMAIL` set, it prints the newest mail to that address),
//! or not at all when the address's domain is in the deployment's
//! `SignUpAutoConfirmDomains` (`--codes auto-confirm --email A`). Each run
//! registers a new address, `--email` with `+smoke-<id>` added to its local
//! part: `success@simulator.amazonses.com` (SES's mailbox simulator) reaches
//! no one and counts as no bounce. The
//! notification step acts as a service with the `notifications.send` scope
//! (`--client-id`, secret in `GATEHOUSE_SMOKE_CLIENT_SECRET`, `--token-url`);
//! the local stack lends its own.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Codes {
    Outbox,
    Hook(String),
    AutoConfirmed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smoke {
    pub base_url: String,
    pub codes: Codes,
    /// The base address: `local@domain`, each run adds `+smoke-<id>`.
    pub email: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub token_url: Option<String>,
}

const USAGE: &str = "usage: gatehouse-ops smoke --base-url <URL> [--codes outbox|hook|auto-confirm] \
[--mailbox-hook <command>] [--email <base address>] [--client-id <id>] [--token-url <URL>]\n\
(the client secret comes from GATEHOUSE_SMOKE_CLIENT_SECRET)";

pub fn usage() -> &'static str {
    USAGE
}

/// A loopback `http://` URL: the local stack (its host exactly, so
/// `http://127.0.0.1@elsewhere` or `http://localhost.example` are not).
fn is_local(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| {
        u.scheme() == "http"
            && u.username().is_empty()
            && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
    })
}

/// Where a client secret may go: https, or the local stack.
fn may_carry_a_secret(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| u.scheme() == "https") || is_local(url)
}

/// The command line after `smoke`; `Err` says what is wrong.
pub fn parse(args: &[String], secret: Option<String>) -> Result<Smoke, String> {
    let mut base_url = None;
    let mut codes = None;
    let mut hook = None;
    let mut email = None;
    let mut client_id = None;
    let mut token_url = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .clone();
        match flag.as_str() {
            "--base-url" => base_url = Some(value.trim_end_matches('/').to_owned()),
            "--codes" => codes = Some(value),
            "--mailbox-hook" => hook = Some(value),
            "--email" => email = Some(value),
            "--client-id" => client_id = Some(value),
            "--token-url" => token_url = Some(value),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let base_url = base_url.ok_or("--base-url is required")?;
    if !may_carry_a_secret(&base_url) {
        return Err("--base-url must be https:// (or a loopback http:// URL)".into());
    }
    if let Some(token_url) = &token_url
        && !may_carry_a_secret(token_url)
    {
        return Err("--token-url must be https:// (it is sent the client secret)".into());
    }
    let codes = match (codes.as_deref(), hook) {
        (Some("outbox"), _) => Codes::Outbox,
        (None, None) if is_local(&base_url) => Codes::Outbox,
        (Some("hook") | None, Some(command)) => Codes::Hook(command),
        (Some("hook"), None) => return Err("--codes hook needs --mailbox-hook".into()),
        (Some("auto-confirm"), _) => Codes::AutoConfirmed,
        (None, None) => {
            return Err(
                "against a deployment, say where confirmation codes come from: \
                 --codes hook --mailbox-hook CMD, or --codes auto-confirm --email A"
                    .into(),
            );
        }
        (Some(other), _) => return Err(format!("--codes {other}: outbox, hook or auto-confirm")),
    };
    if codes == Codes::AutoConfirmed && email.is_none() {
        return Err("--codes auto-confirm needs --email at one of SignUpAutoConfirmDomains".into());
    }
    let email = email.unwrap_or_else(|| "smoke@example.com".into());
    if email.split('@').count() != 2 || email.starts_with('@') || email.ends_with('@') {
        return Err(format!("--email {email}: not an address"));
    }
    if !is_local(&base_url) && (client_id.is_none() || secret.is_none()) {
        return Err("the notification step acts as a service: --client-id and \
             GATEHOUSE_SMOKE_CLIENT_SECRET (the stack's ServiceClientId output and its secret)"
            .into());
    }
    Ok(Smoke {
        base_url,
        codes,
        email,
        client_id,
        client_secret: secret,
        token_url,
    })
}

/// The first word of exactly six digits in `text`: a confirmation code.
pub fn code_in(text: &str) -> Option<&str> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
}

struct Run {
    smoke: Smoke,
    http: reqwest::Client,
    correlation_id: String,
    email: String,
    password: String,
    access_token: Option<String>,
}

struct Answer {
    status: u16,
    body: Value,
    correlation_id: Option<String>,
}

type Failure = String;

impl Run {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.smoke.base_url)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Answer, Failure> {
        let mut request = self
            .http
            .request(method.clone(), self.url(path))
            .header("x-correlation-id", &self.correlation_id);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {path}: no answer ({e})"))?;
        let status = response.status().as_u16();
        let correlation_id = response
            .headers()
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            correlation_id,
        })
    }

    fn expect(answer: &Answer, status: u16, what: &str) -> Result<(), Failure> {
        if answer.status == status {
            Ok(())
        } else {
            Err(format!(
                "{what}: expected {status}, got {} {}",
                answer.status, answer.body
            ))
        }
    }

    async fn health(&mut self) -> Result<String, Failure> {
        let answer = self
            .call(reqwest::Method::GET, "/health", None, None)
            .await?;
        Self::expect(&answer, 200, "GET /health")?;
        // Every answer carries the correlation id the caller sent.
        if answer.correlation_id.as_deref() != Some(self.correlation_id.as_str()) {
            return Err(format!(
                "GET /health: X-Correlation-Id {:?}, sent {}",
                answer.correlation_id, self.correlation_id
            ));
        }
        Ok(format!("version {}", answer.body["version"]))
    }

    async fn register(&mut self) -> Result<bool, Failure> {
        let body =
            json!({"email": self.email, "password": self.password, "display_name": "Smoke test"});
        let answer = self
            .call(reqwest::Method::POST, "/auth/register", None, Some(body))
            .await?;
        Self::expect(&answer, 201, "POST /auth/register")?;
        Ok(answer.body["confirmed"] == true)
    }

    async fn code(&self) -> Result<String, Failure> {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let text = match &self.smoke.codes {
                Codes::Outbox => {
                    let outbox = self
                        .call(reqwest::Method::GET, "/_local/outbox", None, None)
                        .await?;
                    outbox
                        .body
                        .as_array()
                        .into_iter()
                        .flatten()
                        .rev()
                        .filter(|m| m["to"] == self.email.as_str())
                        .find_map(|m| m["text"].as_str().and_then(code_in).map(str::to_owned))
                }
                Codes::Hook(command) => {
                    let out = tokio::process::Command::new("sh")
                        .arg("-c")
                        .arg(command)
                        .env("SMOKE_EMAIL", &self.email)
                        .output()
                        .await
                        .map_err(|e| format!("the mailbox hook did not run: {e}"))?;
                    code_in(&String::from_utf8_lossy(&out.stdout)).map(str::to_owned)
                }
                Codes::AutoConfirmed => return Err("no code: the account is auto-confirmed".into()),
            };
            if let Some(code) = text {
                return Ok(code);
            }
            if Instant::now() > until {
                return Err(format!(
                    "no confirmation code for {} within 60 s",
                    self.email
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn confirm(&mut self) -> Result<String, Failure> {
        let code = self.code().await?;
        let body = json!({"email": self.email, "code": code, "password": self.password});
        let answer = self
            .call(reqwest::Method::POST, "/auth/confirm", None, Some(body))
            .await?;
        Self::expect(&answer, 200, "POST /auth/confirm")?;
        Ok("with the mailed code".into())
    }

    async fn login(&mut self) -> Result<String, Failure> {
        let body = json!({"email": self.email, "password": self.password});
        let answer = self
            .call(reqwest::Method::POST, "/auth/login", None, Some(body))
            .await?;
        Self::expect(&answer, 200, "POST /auth/login")?;
        self.access_token = answer.body["access_token"].as_str().map(str::to_owned);
        self.access_token
            .as_ref()
            .map(|_| "tokens issued".to_owned())
            .ok_or_else(|| "POST /auth/login: no access_token".into())
    }

    fn token(&self) -> Result<&str, Failure> {
        self.access_token
            .as_deref()
            .ok_or_else(|| "not logged in".into())
    }

    async fn profile(&mut self) -> Result<String, Failure> {
        let answer = self
            .call(reqwest::Method::GET, "/users/me", Some(self.token()?), None)
            .await?;
        Self::expect(&answer, 200, "GET /users/me")?;
        if answer.body["email"] != self.email.as_str() {
            return Err(format!(
                "GET /users/me: another account's profile: {}",
                answer.body
            ));
        }
        answer.body["user_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "GET /users/me: no user_id".into())
    }

    async fn permission(&mut self, user_id: &str) -> Result<String, Failure> {
        let body = json!({"action": "users:read", "resource": {"type": "User", "id": user_id}});
        let answer = self
            .call(
                reqwest::Method::POST,
                "/permissions/check",
                Some(self.token()?),
                Some(body),
            )
            .await?;
        Self::expect(&answer, 200, "POST /permissions/check")?;
        if answer.body["allowed"] != true {
            return Err(format!(
                "a user may not read their own profile: {}",
                answer.body
            ));
        }
        Ok("users:read on itself: allow".into())
    }

    /// The service's credentials: given, or (locally) the stack's own.
    async fn service_credentials(&self) -> Result<(String, String), Failure> {
        if let (Some(id), Some(secret)) = (&self.smoke.client_id, &self.smoke.client_secret) {
            return Ok((id.clone(), secret.clone()));
        }
        let clients = self
            .call(reqwest::Method::GET, "/_local/service-clients", None, None)
            .await?;
        let client = clients
            .body
            .as_array()
            .and_then(|c| c.first())
            .ok_or("the local stack lends no service client")?;
        Ok((
            client["client_id"].as_str().unwrap_or_default().to_owned(),
            client["client_secret"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ))
    }

    async fn service_token(&self) -> Result<String, Failure> {
        let (id, secret) = self.service_credentials().await?;
        let token_url = self
            .smoke
            .token_url
            .clone()
            .unwrap_or_else(|| self.url("/oauth2/token"));
        let response = self
            .http
            .post(&token_url)
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=gatehouse%2Fnotifications.send")
            .send()
            .await
            .map_err(|e| format!("the token endpoint did not answer: {e}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no service token ({status}): {body}"))
    }

    async fn notification(&mut self, user_id: &str) -> Result<String, Failure> {
        let service = self.service_token().await?;
        let body = json!({
            "recipients": [user_id],
            "channel": "email",
            "template": "security-alert",
            "data": {"message": format!("Gatehouse smoke test {}", self.correlation_id)},
        });
        let answer = self
            .call(
                reqwest::Method::POST,
                "/notifications",
                Some(&service),
                Some(body),
            )
            .await?;
        Self::expect(&answer, 202, "POST /notifications")?;
        let id = answer.body["notification_id"]
            .as_str()
            .ok_or("POST /notifications: no notification_id")?
            .to_owned();
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self
                .call(
                    reqwest::Method::GET,
                    &format!("/notifications/{id}"),
                    Some(&service),
                    None,
                )
                .await?;
            Self::expect(&status, 200, "GET /notifications/{id}")?;
            let counts = &status.body["counts"];
            if counts["sent"] == 1 {
                return Ok(format!("{id} sent"));
            }
            if counts["failed"] != 0 || counts["suppressed"] != 0 {
                return Err(format!("the notification was not sent: {}", status.body));
            }
            if Instant::now() > until {
                return Err(format!(
                    "the notification was not sent within 60 s: {}",
                    status.body
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn delete_account(&mut self) -> Result<String, Failure> {
        let body = json!({"current_password": self.password});
        let answer = self
            .call(
                reqwest::Method::DELETE,
                "/users/me",
                Some(self.token()?),
                Some(body),
            )
            .await?;
        Self::expect(&answer, 204, "DELETE /users/me")?;
        self.access_token = None;
        Ok("the smoke account is gone".into())
    }
}

fn report(step: &str, started: Instant, result: &Result<String, Failure>) {
    let ms = started.elapsed().as_millis();
    match result {
        Ok(detail) => println!("ok    {step:<12} {ms:>6} ms  {detail}"),
        Err(why) => println!("FAIL  {step:<12} {ms:>6} ms  {why}"),
    }
}

/// Runs every step; `Ok` when all passed. The account is deleted even when a
/// later step fails.
pub async fn run(smoke: Smoke) -> Result<(), Failure> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (local, domain) = smoke
        .email
        .split_once('@')
        .unwrap_or(("smoke", "example.com"));
    let mut run = Run {
        email: format!("{local}+smoke-{}@{domain}", &run_id[..12]),
        password: format!("Smoke-{}-9a", &run_id[..16]),
        correlation_id: format!("smoke-{}", &run_id[..12]),
        smoke,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?,
        access_token: None,
    };
    println!(
        "smoke test of {} as {} (correlation id {})",
        run.smoke.base_url, run.email, run.correlation_id
    );
    macro_rules! step {
        ($name:expr, $work:expr) => {{
            let started = Instant::now();
            let result = $work;
            report($name, started, &result);
            result
        }};
    }
    step!("health", run.health().await)?;
    let confirmed = step!(
        "register",
        run.register().await.map(|c| if c {
            "auto-confirmed".to_owned()
        } else {
            "code mailed".to_owned()
        })
    )? == "auto-confirmed";
    if !confirmed {
        step!("confirm", run.confirm().await)?;
    }
    step!("login", run.login().await)?;
    let outcome: Result<(), Failure> = async {
        let user_id = step!("profile", run.profile().await)?;
        step!("permission", run.permission(&user_id).await)?;
        step!("notification", run.notification(&user_id).await)?;
        Ok(())
    }
    .await;
    let cleanup = step!("cleanup", run.delete_account().await);
    outcome.and(cleanup.map(drop))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn a_local_url_reads_the_outbox_and_a_deployment_must_say_where_codes_come_from() {
        let local = parse(&args("--base-url http://127.0.0.1:3000/"), None).unwrap();
        assert_eq!(local.codes, Codes::Outbox);
        assert_eq!(local.base_url, "http://127.0.0.1:3000");
        let remote = "--base-url https://api.example.com --client-id c";
        assert!(
            parse(&args(remote), Some("s".into()))
                .unwrap_err()
                .contains("confirmation codes")
        );
        let hooked = parse(
            &args(&format!("{remote} --mailbox-hook ./latest-mail")),
            Some("s".into()),
        )
        .unwrap();
        assert_eq!(hooked.codes, Codes::Hook("./latest-mail".into()));
        let auto = format!("{remote} --codes auto-confirm");
        assert!(
            parse(&args(&auto), Some("s".into()))
                .unwrap_err()
                .contains("--email")
        );
        let auto = parse(
            &args(&format!("{auto} --email success@simulator.amazonses.com")),
            Some("s".into()),
        )
        .unwrap();
        assert_eq!(
            (auto.codes, auto.email.as_str()),
            (Codes::AutoConfirmed, "success@simulator.amazonses.com")
        );
        assert!(parse(&args("--base-url http://127.0.0.1:1 --email nope"), None).is_err());
    }

    #[test]
    fn a_deployment_needs_service_credentials_and_https() {
        let line = "--base-url https://api.example.com --codes auto-confirm --email a@d.example";
        assert!(
            parse(&args(line), None)
                .unwrap_err()
                .contains("GATEHOUSE_SMOKE_CLIENT_SECRET")
        );
        assert!(
            parse(&args("--base-url http://api.example.com"), None)
                .unwrap_err()
                .contains("https")
        );
        for sneaky in [
            "http://127.0.0.1@evil.example",
            "http://localhost.evil.example",
        ] {
            assert!(
                parse(&args(&format!("--base-url {sneaky}")), None).is_err(),
                "{sneaky}"
            );
        }
        let plain_token_url =
            "--base-url http://127.0.0.1:3000 --token-url http://tokens.example/oauth2/token";
        assert!(
            parse(&args(plain_token_url), None)
                .unwrap_err()
                .contains("--token-url")
        );
        assert!(parse(&args("--base-url"), None).is_err());
        assert!(parse(&args("--bogus x"), None).is_err());
    }

    #[test]
    fn a_code_is_a_word_of_six_digits() {
        assert_eq!(code_in("Your code is 123456."), Some("123456"));
        assert_eq!(
            code_in("2026-11-27 ref 1234567 then 654321"),
            Some("654321")
        );
        assert_eq!(code_in("no code"), None);
    }
}
