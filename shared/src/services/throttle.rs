//! Applies the throttle rules (`domain::throttle`) through the store: each
//! attempt is counted before anything is tested, by compare-and-set, so parallel
//! attempts cannot slip past a limit; an attempt refused by one window gives back
//! what it counted in the others.

use crate::domain::{
    Admission, AppError, Email, LOGIN_PER_EMAIL, LOGIN_PER_EMAIL_AND_IP, Limit, Origin,
    PhoneNumber, SENDS_PER_ADDRESS, login_per_ip, sends_per_ip,
};
use crate::ports::{ThrottleKey, ThrottleKeys, ThrottleStore};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

/// How often an attempt re-reads a window after losing a race to a parallel
/// attempt before it is refused (fail closed: never let through uncounted).
const WINDOW_RACES: usize = 10;

const LOGIN: &str = "LOGIN";
const SEND: &str = "SEND";

/// The limits a deployment configures (the per-email rules are fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failed logins from one source IP, across emails, per 15 minutes.
    pub login_failures_per_ip: u32,
    /// Codes and notices requested from one source IP per hour.
    pub sends_per_ip: u32,
}

#[derive(Clone)]
pub struct Throttle {
    store: Arc<dyn ThrottleStore>,
    keys: Arc<dyn ThrottleKeys>,
    limits: ThrottleLimits,
}

/// The windows one login attempt was counted in, to settle once the password
/// has been tested (or not).
#[derive(Debug)]
pub struct LoginCount {
    email: ThrottleKey,
    email_and_ip: ThrottleKey,
    ip: ThrottleKey,
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
    pub async fn login_attempt(
        &self,
        email: &Email,
        origin: &Origin,
    ) -> Result<LoginCount, AppError> {
        let email_subject = self.email_subject(email).await?;
        let ip_subject = self.ip_subject(origin).await?;
        let count = LoginCount {
            ip: ThrottleKey {
                subject: ip_subject.clone(),
                counter: LOGIN.into(),
            },
            email_and_ip: ThrottleKey {
                subject: email_subject.clone(),
                counter: format!("{LOGIN}#{ip_subject}"),
            },
            email: ThrottleKey {
                subject: email_subject,
                counter: LOGIN.into(),
            },
        };
        self.count_all(&[
            (&count.ip, login_per_ip(self.limits.login_failures_per_ip)),
            (&count.email_and_ip, LOGIN_PER_EMAIL_AND_IP),
            (&count.email, LOGIN_PER_EMAIL),
        ])
        .await?;
        Ok(count)
    }

    /// The password was right: the email's windows are forgotten, and the source
    /// IP's counts only failures.
    pub async fn login_succeeded(&self, count: LoginCount) -> Result<(), AppError> {
        self.store.clear(&count.email_and_ip).await?;
        self.store.clear(&count.email).await?;
        self.release(&count.ip).await
    }

    /// Nothing was tested (Cognito failed, the account needs another step): the
    /// attempt is given back everywhere.
    pub async fn login_untested(&self, count: LoginCount) -> Result<(), AppError> {
        for key in [&count.ip, &count.email_and_ip, &count.email] {
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

    /// Counts a request that sends a code or a notice to `email`, or refuses it.
    pub async fn send_attempt(&self, email: &Email, origin: &Origin) -> Result<(), AppError> {
        let subject = self.email_subject(email).await?;
        self.send_to(subject, origin).await
    }

    /// Counts a request that sends a code by SMS to `phone`, or refuses it.
    pub async fn sms_attempt(&self, phone: &PhoneNumber, origin: &Origin) -> Result<(), AppError> {
        let subject = self.keys.key("phone", phone.as_str()).await?;
        self.send_to(subject, origin).await
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
    }

    /// Counts in every window, or in none: a refusal gives back what was counted.
    async fn count_all(&self, windows: &[(&ThrottleKey, Limit)]) -> Result<(), AppError> {
        let now = Utc::now().timestamp();
        for (done, (key, limit)) in windows.iter().enumerate() {
            if let Err(refused) = self.count(key, limit, now).await {
                for (counted, _) in &windows[..done] {
                    self.release(counted).await?;
                }
                return Err(refused);
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
