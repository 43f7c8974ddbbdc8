//! Brute-force protection for login: a fixed window per email address, shared by
//! every Lambda instance through the table.

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

impl LoginWindow {
    pub fn opened_at(now: i64) -> Self {
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

    /// When an attempt at `now` that reaches the limit locks the email until.
    pub fn locked_until(now: i64) -> i64 {
        now + LOGIN_WINDOW.as_secs() as i64
    }

    /// How long further attempts are refused, if they are.
    pub fn retry_after(&self, now: i64) -> Option<Duration> {
        (self.is_open(now) && self.failures >= MAX_FAILED_LOGINS)
            .then(|| Duration::from_secs((self.expires_at - now).max(1) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_until_the_window_closes() {
        let now = 1_000;
        let mut window = LoginWindow::opened_at(now);
        for _ in 1..MAX_FAILED_LOGINS {
            assert_eq!(window.retry_after(now), None);
            window.failures += 1;
        }
        assert_eq!(window.retry_after(now + 60), Some(Duration::from_secs(840)));
        assert_eq!(window.retry_after(now + 900), None, "closed window");
    }

    #[test]
    fn an_expired_window_never_locks() {
        let window = LoginWindow {
            failures: 50,
            expires_at: 10,
        };
        assert!(!window.is_open(10));
        assert_eq!(window.retry_after(11), None);
    }
}
