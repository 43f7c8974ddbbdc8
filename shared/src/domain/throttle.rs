//! Brute-force protection for login: a fixed window per email address, shared by
//! every Lambda instance through the table. This module is the one home of the
//! rule; stores only persist windows (see `ports::LoginWindowStore`).

use std::time::Duration;

pub const MAX_FAILED_LOGINS: u32 = 5;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Login attempts for one email since the window opened. Each attempt is counted
/// before the password is checked (so parallel guesses cannot slip past the
/// limit) and a successful login clears the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginWindow {
    pub failures: u32,
    /// When the window closes, in epoch seconds (also the item's TTL). The attempt
    /// that reaches the limit moves it to a full window from then, so a lockout
    /// always lasts the whole window.
    pub expires_at: i64,
}

/// What [`LoginWindow::admit`] decided about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAttempt {
    /// Count the attempt: store this window, then let the password be checked.
    Counted(LoginWindow),
    /// The email is locked for this long; nothing is counted.
    Locked(Duration),
}

impl LoginWindow {
    fn opened_at(now: i64) -> Self {
        Self {
            failures: 1,
            expires_at: now + LOGIN_WINDOW.as_secs() as i64,
        }
    }

    /// A window whose TTL has passed counts for nothing, even if the table has not
    /// deleted it yet (DynamoDB deletes hours late; moto never does).
    pub fn is_open(&self, now: i64) -> bool {
        self.expires_at > now
    }

    /// How long further attempts are refused, if they are.
    pub fn retry_after(&self, now: i64) -> Option<Duration> {
        (self.is_open(now) && self.failures >= MAX_FAILED_LOGINS)
            .then(|| Duration::from_secs((self.expires_at - now).max(1) as u64))
    }

    /// Decides an attempt at `now` (epoch seconds) given the stored window, if any:
    /// a closed or missing window opens a new one; a locked one refuses; an open
    /// one counts the attempt, and the attempt that reaches the limit locks the
    /// email for a whole window from now.
    pub fn admit(current: Option<&LoginWindow>, now: i64) -> LoginAttempt {
        let Some(window) = current.filter(|w| w.is_open(now)) else {
            return LoginAttempt::Counted(Self::opened_at(now));
        };
        if let Some(wait) = window.retry_after(now) {
            return LoginAttempt::Locked(wait);
        }
        let failures = window.failures + 1;
        let expires_at = if failures >= MAX_FAILED_LOGINS {
            now + LOGIN_WINDOW.as_secs() as i64
        } else {
            window.expires_at
        };
        LoginAttempt::Counted(Self {
            failures,
            expires_at,
        })
    }

    /// The window with one attempt given back (one that never tested the password).
    pub fn released(&self) -> Self {
        Self {
            failures: self.failures.saturating_sub(1),
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(attempt: LoginAttempt) -> LoginWindow {
        match attempt {
            LoginAttempt::Counted(window) => window,
            LoginAttempt::Locked(wait) => panic!("locked for {wait:?}"),
        }
    }

    #[test]
    fn the_attempt_reaching_the_limit_locks_for_a_whole_window_from_then() {
        let mut window = counted(LoginWindow::admit(None, 0));
        for t in [1, 2, 3] {
            window = counted(LoginWindow::admit(Some(&window), t));
        }
        assert_eq!(window.expires_at, 900, "four attempts keep the window");
        let fifth = counted(LoginWindow::admit(Some(&window), 800));
        assert_eq!(fifth.expires_at, 1_700, "locked until 800 + 900");
        assert_eq!(
            LoginWindow::admit(Some(&fifth), 1_000),
            LoginAttempt::Locked(Duration::from_secs(700))
        );
        assert_eq!(
            counted(LoginWindow::admit(Some(&fifth), 1_700)).failures,
            1,
            "a new window once the lock has passed"
        );
    }

    #[test]
    fn an_expired_window_never_locks() {
        let window = LoginWindow {
            failures: 50,
            expires_at: 10,
        };
        assert!(!window.is_open(10));
        assert_eq!(window.retry_after(11), None);
        assert_eq!(counted(LoginWindow::admit(Some(&window), 11)).failures, 1);
    }

    #[test]
    fn a_released_attempt_does_not_count_and_never_goes_below_zero() {
        let window = counted(LoginWindow::admit(None, 0));
        assert_eq!(window.released().failures, 0);
        assert_eq!(window.released().released().failures, 0);
    }
}
