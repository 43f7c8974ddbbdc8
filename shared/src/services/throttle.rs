//! Applies the throttle rules (`domain::throttle`) through the store. A source
//! IP an email has logged in from is "known" for 30 days, and attempts from it
//! skip the email-wide delay (they still meet the per-IP and per-email-and-IP
//! limits): attempts from elsewhere cannot slow the owner's own places. Each
//! attempt is counted before anything is tested, by compare-and-set, so parallel
//! attempts cannot slip past a limit; an attempt refused by one window gives back
//! what it counted in the others.

use crate::domain::{
    Admission, AppError, CODE_TRIES, Email, LOGIN_PER_EMAIL, LOGIN_PER_EMAIL_AND_IP, Limit,
    MFA_CODE_TRIES, Origin, PhoneNumber, SENDS_PER_ADDRESS, SMS_PER_ACCOUNT, SMS_PER_NUMBER,
    UserId, login_per_ip, sends_per_ip,
};
use crate::ports::{ThrottleKey, ThrottleKeys, ThrottleStore};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

/// How often an attempt re-reads a window after losing a race to a parallel
/// attempt before it is refused (fail closed: never let through uncounted).
const WINDOW_RACES: usize = 10;

const LOGIN: &str = "LOGIN";
/// A source IP an email has logged in from (the owner's own places).
const KNOWN: &str = "KNOWN";
/// How long a source stays known after a successful login.
const KNOWN_FOR: i64 = 30 * 24 * 60 * 60;
/// One "locked" note per email and window in the audit trail.
const LOCK_NOTE: &str = "NOTE#LOCKED";
const SEND: &str = "SEND";
/// SMS codes, per number and per account, by the day.
const SMS: &str = "SMS";

/// The limits a deployment configures (the per-email rules are fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failed logins from one source IP, across emails, per 15 minutes.
    pub login_failures_per_ip: u32,
    /// Codes and notices requested from one source IP per hour.
    pub sends_per_ip: u32,
}

/// What a mailed or texted code is for: each purpose has its own count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    Confirm,
    PasswordReset,
    EmailChange,
    PhoneChange,
    /// A second factor: TOTP or recovery codes, at sign-in or enrolment.
    SecondFactor,
}

impl CodePurpose {
    fn counter(self) -> &'static str {
        match self {
            Self::Confirm => "CODE#CONFIRM",
            Self::PasswordReset => "CODE#RESET",
            Self::EmailChange => "CODE#EMAIL",
            Self::PhoneChange => "CODE#PHONE",
            Self::SecondFactor => "CODE#MFA",
        }
    }

    fn limit(self) -> Limit {
        match self {
            Self::SecondFactor => MFA_CODE_TRIES,
            _ => CODE_TRIES,
        }
    }
}

/// A code try, counted before the code is tested: settle it with
/// [`Throttle::code_settled`].
#[derive(Debug)]
pub struct CodeTry(ThrottleKey);

#[derive(Clone)]
pub struct Throttle {
    store: Arc<dyn ThrottleStore>,
    keys: Arc<dyn ThrottleKeys>,
    limits: ThrottleLimits,
}

/// Why a login attempt was refused before reaching Cognito.
#[derive(Debug)]
pub struct LoginRefusal {
    /// The source IP's window refused, not one of the account's.
    pub by_source_ip: bool,
    pub error: AppError,
}

/// A failure that is no refusal (the store failing).
impl From<AppError> for LoginRefusal {
    fn from(error: AppError) -> Self {
        Self {
            by_source_ip: false,
            error,
        }
    }
}

impl From<LoginRefusal> for AppError {
    fn from(refusal: LoginRefusal) -> Self {
        refusal.error
    }
}

/// The windows one login attempt was counted in, to settle once the password
/// has been tested (or not).
#[derive(Debug)]
pub struct LoginCount {
    /// `None` from a source the email has logged in from before: the owner's
    /// places are not slowed by attempts from elsewhere.
    email: Option<ThrottleKey>,
    email_and_ip: ThrottleKey,
    ip: ThrottleKey,
    known: ThrottleKey,
}

impl Throttle {
    pub fn new(
        store: Arc<dyn ThrottleStore>,
        keys: Arc<dyn ThrottleKeys>,
        limits: ThrottleLimits,
    ) -> Self {
        Self {
            store,
            keys,
            limits,
        }
    }

    async fn email_subject(&self, email: &Email) -> Result<String, AppError> {
        self.keys.key("email", email.as_str()).await
    }

    async fn ip_subject(&self, origin: &Origin) -> Result<String, AppError> {
        self.keys.key("ip", &origin.source_ip).await
    }

    /// Counts a login attempt in the source IP's, the email-and-IP's and the
    /// email's windows, in that order, or refuses it (429 with `Retry-After`).
    /// A refusal says whether the source IP's window refused (spraying) or
    /// the account's (too many failures: locked for a while).
    pub async fn login_attempt(
        &self,
        email: &Email,
        origin: &Origin,
    ) -> Result<LoginCount, LoginRefusal> {
        let email_subject = self.email_subject(email).await?;
        let ip_subject = self.ip_subject(origin).await?;
        let known = ThrottleKey {
            subject: email_subject.clone(),
            counter: format!("{KNOWN}#{ip_subject}"),
        };
        let now = Utc::now().timestamp();
        let from_known_place = self
            .store
            .load(&known)
            .await?
            .is_some_and(|k| k.value.is_open(now));
        let count = LoginCount {
            ip: ThrottleKey {
                subject: ip_subject.clone(),
                counter: LOGIN.into(),
            },
            email_and_ip: ThrottleKey {
                subject: email_subject.clone(),
                counter: format!("{LOGIN}#{ip_subject}"),
            },
            email: (!from_known_place).then(|| ThrottleKey {
                subject: email_subject,
                counter: LOGIN.into(),
            }),
            known,
        };
        let mut windows = vec![
            (&count.ip, login_per_ip(self.limits.login_failures_per_ip)),
            (&count.email_and_ip, LOGIN_PER_EMAIL_AND_IP),
        ];
        if let Some(email) = &count.email {
            windows.push((email, LOGIN_PER_EMAIL));
        }
        self.count_all(&windows)
            .await
            .map_err(|(window, error)| LoginRefusal {
                by_source_ip: window == 0,
                error,
            })?;
        Ok(count)
    }

    /// Whether this refusal is the first of its window for the email (the
    /// audit trail notes a lockout once, however many attempts hit it).
    pub async fn first_lock_note(&self, email: &Email) -> Result<bool, AppError> {
        let key = ThrottleKey {
            subject: self.email_subject(email).await?,
            counter: LOCK_NOTE.into(),
        };
        self.first_note(&key).await
    }

    /// Whether `key`'s note is new for this window (and records it).
    async fn first_note(&self, key: &ThrottleKey) -> Result<bool, AppError> {
        let now = Utc::now().timestamp();
        let stored = self.store.load(key).await?;
        if stored.as_ref().is_some_and(|s| s.value.is_open(now)) {
            return Ok(false);
        }
        let note = crate::domain::Window {
            count: 1,
            expires_at: now + LOGIN_PER_EMAIL_AND_IP.window.as_secs() as i64,
            not_before: 0,
        };
        self.store.save(key, &note, stored.map(|s| s.version)).await
    }

    /// The password was right: the email's windows are forgotten, and the source
    /// IP's counts only failures.
    pub async fn login_succeeded(&self, count: LoginCount) -> Result<(), AppError> {
        self.store.clear(&count.email_and_ip).await?;
        let email = ThrottleKey {
            subject: count.known.subject.clone(),
            counter: LOGIN.into(),
        };
        self.store.clear(&email).await?;
        // This source is now one of the owner's places for a while (a place
        // already known stays so until 30 days after the login that made it
        // known: no write on every login).
        if count.email.is_none() {
            return self.release(&count.ip).await;
        }
        let now = Utc::now().timestamp();
        let stored = self.store.load(&count.known).await?;
        let known = crate::domain::Window {
            count: 1,
            expires_at: now + KNOWN_FOR,
            not_before: 0,
        };
        self.store
            .save(&count.known, &known, stored.map(|s| s.version))
            .await?;
        self.release(&count.ip).await
    }

    /// Nothing was tested (Cognito failed, the account needs another step): the
    /// attempt is given back everywhere.
    pub async fn login_untested(&self, count: LoginCount) -> Result<(), AppError> {
        for key in [
            Some(&count.ip),
            Some(&count.email_and_ip),
            count.email.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            self.release(key).await?;
        }
        Ok(())
    }

    /// A password reset proves the owner: every login lock on the email, from
    /// every source IP, is lifted.
    pub async fn lift_login_locks(&self, email: &Email) -> Result<(), AppError> {
        let subject = self.email_subject(email).await?;
        self.store.clear_all(&subject, LOGIN).await
    }

    /// Counts a code about to be tested for `account` (its email or user id)
    /// and `purpose`, from any source, or refuses it: after five tries in 15
    /// minutes the next waits, right code or not (429 with `Retry-After`).
    /// The second value says whether this refusal is the first of its window
    /// (for one note in the audit trail).
    pub async fn code_try(
        &self,
        account: &str,
        purpose: CodePurpose,
    ) -> Result<CodeTry, (AppError, bool)> {
        let key = ThrottleKey {
            subject: self
                .keys
                .key("account", account)
                .await
                .map_err(|e| (e, false))?,
            counter: purpose.counter().into(),
        };
        match self.count_all(&[(&key, purpose.limit())]).await {
            Ok(()) => Ok(CodeTry(key)),
            Err((_, refused)) => {
                let note = ThrottleKey {
                    subject: key.subject.clone(),
                    counter: format!("{}#{LOCK_NOTE}", purpose.counter()),
                };
                let first = self.first_note(&note).await.unwrap_or(false);
                Err((refused, first))
            }
        }
    }

    /// Settles a code try: a right code (or one never tested) gives its count
    /// back, so the window counts wrong codes only.
    pub async fn code_settled(&self, tried: CodeTry, wrong: bool) -> Result<(), AppError> {
        if wrong {
            return Ok(());
        }
        self.release(&tried.0).await
    }

    /// Counts a request that sends a code or a notice to `email`, or refuses it.
    /// Counted per mailbox: tags and Gmail's dots do not make another one.
    pub async fn send_attempt(&self, email: &Email, origin: &Origin) -> Result<(), AppError> {
        let subject = self.keys.key("email", &email.mailbox()).await?;
        self.send_to(subject, origin).await
    }

    /// Counts a request that sends a code by SMS to `phone` for `account`, or
    /// refuses it (429 with `Retry-After`): per source IP as every send, and a
    /// day's cap per number and per account (each text costs money).
    pub async fn sms_attempt(
        &self,
        account: &UserId,
        phone: &PhoneNumber,
        origin: &Origin,
    ) -> Result<(), AppError> {
        let ip = ThrottleKey {
            subject: self.ip_subject(origin).await?,
            counter: SEND.into(),
        };
        let number = ThrottleKey {
            subject: self.keys.key("phone", phone.as_str()).await?,
            counter: SMS.into(),
        };
        let sender = ThrottleKey {
            subject: self.keys.key("account", account.as_str()).await?,
            counter: SMS.into(),
        };
        self.count_all(&[
            (&ip, sends_per_ip(self.limits.sends_per_ip)),
            (&number, SMS_PER_NUMBER),
            (&sender, SMS_PER_ACCOUNT),
        ])
        .await
        .map_err(|(_, err)| err)
    }

    async fn send_to(&self, subject: String, origin: &Origin) -> Result<(), AppError> {
        let address = ThrottleKey {
            subject,
            counter: SEND.into(),
        };
        let ip = ThrottleKey {
            subject: self.ip_subject(origin).await?,
            counter: SEND.into(),
        };
        self.count_all(&[
            (&ip, sends_per_ip(self.limits.sends_per_ip)),
            (&address, SENDS_PER_ADDRESS),
        ])
        .await
        .map_err(|(_, err)| err)
    }

    /// Counts in every window, or in none: a refusal gives back what was counted.
    /// On refusal, the index of the window that refused.
    async fn count_all(&self, windows: &[(&ThrottleKey, Limit)]) -> Result<(), (usize, AppError)> {
        let now = Utc::now().timestamp();
        for (done, (key, limit)) in windows.iter().enumerate() {
            if let Err(refused) = self.count(key, limit, now).await {
                for (counted, _) in &windows[..done] {
                    self.release(counted).await.map_err(|e| (done, e))?;
                }
                return Err((done, refused));
            }
        }
        Ok(())
    }

    async fn count(&self, key: &ThrottleKey, limit: &Limit, now: i64) -> Result<(), AppError> {
        for _ in 0..WINDOW_RACES {
            let stored = self.store.load(key).await?;
            match limit.admit(stored.as_ref().map(|s| &s.value), now) {
                Admission::Refused(wait) => {
                    return Err(AppError::TooManyRequests {
                        retry_after: Some(wait),
                    });
                }
                Admission::Counted(window) => {
                    if self
                        .store
                        .save(key, &window, stored.map(|s| s.version))
                        .await?
                    {
                        return Ok(());
                    }
                }
            }
        }
        Err(AppError::TooManyRequests {
            retry_after: Some(Duration::from_secs(1)),
        })
    }

    async fn release(&self, key: &ThrottleKey) -> Result<(), AppError> {
        for _ in 0..WINDOW_RACES {
            let Some(stored) = self.store.load(key).await? else {
                return Ok(());
            };
            if self
                .store
                .save(key, &stored.value.released(), Some(stored.version))
                .await?
            {
                return Ok(());
            }
        }
        Ok(())
    }
}
