//! Throttles: counted windows shared by every Lambda instance through the table.
//! This module is the one home of the rules; stores only persist windows (see
//! `ports::ThrottleStore`) and `services::throttle` applies them.
//!
//! Login is guarded three ways, so that guessing stays slow without letting
//! anyone lock a victim out:
//! - per email **and** source IP: five failures lock that pair for 15 minutes;
//! - per email from everywhere: past five failures, further attempts are spaced
//!   by a delay that doubles up to a minute (an attacker cycling IPs gains one
//!   guess a minute; the owner waits at most a minute, never 15);
//! - per source IP across emails (password spraying): a hard lock.
//!
//! What sends email or SMS is limited per address and per source IP.

use std::time::Duration;

/// What happens once a window has counted `max` attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLimit {
    /// Refuse everything until the window closes (a full window from the
    /// attempt that reached the limit).
    Lock,
    /// Admit one attempt at a time, each `first × 2^(n-1)` after the last (n =
    /// attempts past the limit), at most `cap` apart.
    Delay { first: Duration, cap: Duration },
}

/// A throttle rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
    pub on_limit: OnLimit,
}

const FIFTEEN_MINUTES: Duration = Duration::from_secs(15 * 60);
const ONE_HOUR: Duration = Duration::from_secs(60 * 60);

/// Failed logins for one email from one source IP.
pub const LOGIN_PER_EMAIL_AND_IP: Limit = Limit {
    max: 5,
    window: FIFTEEN_MINUTES,
    on_limit: OnLimit::Lock,
};

/// Failed logins for one email from all source IPs.
pub const LOGIN_PER_EMAIL: Limit = Limit {
    max: 5,
    window: FIFTEEN_MINUTES,
    on_limit: OnLimit::Delay {
        first: Duration::from_secs(1),
        cap: Duration::from_secs(60),
    },
};

/// Failed logins from one source IP across all emails; `max` is configured.
pub fn login_per_ip(max: u32) -> Limit {
    Limit {
        max,
        window: FIFTEEN_MINUTES,
        on_limit: OnLimit::Lock,
    }
}

/// Codes tried for one account and purpose (a wrong one stays counted), from
/// any source: a sixth try within the window waits, right code or not.
pub const CODE_TRIES: Limit = Limit {
    max: 5,
    window: FIFTEEN_MINUTES,
    on_limit: OnLimit::Lock,
};

/// Second-factor codes (TOTP or recovery) tried for one account, from any
/// source and any sign-in: the eleventh in 15 minutes waits.
pub const MFA_CODE_TRIES: Limit = Limit {
    max: 10,
    window: FIFTEEN_MINUTES,
    on_limit: OnLimit::Lock,
};

/// Codes and notices sent to one address.
pub const SENDS_PER_ADDRESS: Limit = Limit {
    max: 5,
    window: ONE_HOUR,
    on_limit: OnLimit::Lock,
};

const ONE_DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// SMS codes one account asks for, whatever the number (SMS pumping: each
/// text costs the deployment money; a real user needs one or two).
pub const SMS_PER_ACCOUNT: Limit = Limit {
    max: 5,
    window: ONE_DAY,
    on_limit: OnLimit::Lock,
};

/// SMS codes sent to one number, whatever the account asking.
pub const SMS_PER_NUMBER: Limit = Limit {
    max: 5,
    window: ONE_DAY,
    on_limit: OnLimit::Lock,
};

/// Codes and notices requested from one source IP; `max` is configured.
pub fn sends_per_ip(max: u32) -> Limit {
    Limit {
        max,
        window: ONE_HOUR,
        on_limit: OnLimit::Lock,
    }
}

/// Attempts counted since a window opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub count: u32,
    /// When the window closes, in epoch seconds (also the item's TTL).
    pub expires_at: i64,
    /// No attempt is admitted before this (epoch seconds; 0: no delay).
    pub not_before: i64,
}

/// What [`Limit::admit`] decided about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Count the attempt: store this window, then go on.
    Counted(Window),
    /// Refused for this long; nothing is counted.
    Refused(Duration),
}

fn secs(d: Duration) -> i64 {
    d.as_secs() as i64
}

impl Window {
    /// A window whose TTL has passed counts for nothing, even if the table has not
    /// deleted it yet (DynamoDB deletes hours late; moto never does).
    pub fn is_open(&self, now: i64) -> bool {
        self.expires_at > now
    }

    /// The window with one attempt given back (one that never tested anything).
    pub fn released(&self) -> Self {
        Self {
            count: self.count.saturating_sub(1),
            ..*self
        }
    }
}

impl Limit {
    /// Decides an attempt at `now` (epoch seconds) given the stored window, if any.
    pub fn admit(&self, current: Option<&Window>, now: i64) -> Admission {
        let Some(window) = current.filter(|w| w.is_open(now)) else {
            return Admission::Counted(Window {
                count: 1,
                expires_at: now + secs(self.window),
                not_before: 0,
            });
        };
        if window.not_before > now {
            return Admission::Refused(Duration::from_secs((window.not_before - now) as u64));
        }
        let count = window.count + 1;
        match self.on_limit {
            OnLimit::Lock if window.count >= self.max => {
                Admission::Refused(Duration::from_secs((window.expires_at - now).max(1) as u64))
            }
            OnLimit::Lock => Admission::Counted(Window {
                count,
                // The attempt that reaches the limit locks for a whole window.
                expires_at: if count >= self.max {
                    now + secs(self.window)
                } else {
                    window.expires_at
                },
                not_before: 0,
            }),
            OnLimit::Delay { first, cap } if count > self.max => {
                let doublings = (count - self.max - 1).min(20);
                let delay = first.saturating_mul(1 << doublings).min(cap);
                Admission::Counted(Window {
                    count,
                    // Kept open while the attempts go on.
                    expires_at: now + secs(self.window),
                    not_before: now + secs(delay),
                })
            }
            OnLimit::Delay { .. } => Admission::Counted(Window { count, ..*window }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(attempt: Admission) -> Window {
        match attempt {
            Admission::Counted(window) => window,
            Admission::Refused(wait) => panic!("refused for {wait:?}"),
        }
    }

    fn attempts(limit: &Limit, times: &[i64]) -> Window {
        let mut window = None;
        for &t in times {
            window = Some(counted(limit.admit(window.as_ref(), t)));
        }
        window.expect("at least one attempt")
    }

    #[test]
    fn a_lock_lasts_a_whole_window_from_the_attempt_reaching_the_limit() {
        let limit = LOGIN_PER_EMAIL_AND_IP;
        let four = attempts(&limit, &[0, 1, 2, 3]);
        assert_eq!(four.expires_at, 900, "four attempts keep the window");
        let fifth = counted(limit.admit(Some(&four), 800));
        assert_eq!(fifth.expires_at, 1_700, "locked until 800 + 900");
        assert_eq!(
            limit.admit(Some(&fifth), 1_000),
            Admission::Refused(Duration::from_secs(700))
        );
        assert_eq!(
            counted(limit.admit(Some(&fifth), 1_700)).count,
            1,
            "a new window once the lock has passed"
        );
    }

    #[test]
    fn past_the_limit_a_delay_spaces_attempts_doubling_up_to_its_cap() {
        let limit = LOGIN_PER_EMAIL;
        let five = attempts(&limit, &[0, 0, 0, 0, 0]);
        assert_eq!(five.not_before, 0, "no delay up to the limit");
        let mut window = five;
        let mut now = 10;
        let mut delays = vec![];
        for _ in 0..9 {
            window = counted(limit.admit(Some(&window), now));
            delays.push(window.not_before - now);
            assert!(
                matches!(limit.admit(Some(&window), now), Admission::Refused(_)),
                "an attempt inside the delay is refused"
            );
            now = window.not_before;
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn an_expired_window_never_refuses() {
        let window = Window {
            count: 50,
            expires_at: 10,
            not_before: 0,
        };
        assert!(!window.is_open(10));
        assert_eq!(
            counted(LOGIN_PER_EMAIL_AND_IP.admit(Some(&window), 11)).count,
            1
        );
    }

    #[test]
    fn a_released_attempt_does_not_count_and_never_goes_below_zero() {
        let window = counted(LOGIN_PER_EMAIL_AND_IP.admit(None, 0));
        assert_eq!(window.released().count, 0);
        assert_eq!(window.released().released().count, 0);
    }
}
