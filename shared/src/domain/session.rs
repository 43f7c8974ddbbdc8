//! Ending sessions. Cognito revokes refresh tokens but its access tokens stay valid
//! until they expire, so Gatehouse records, per user, a cut-off: every access token
//! issued before it is refused on every protected endpoint.

use super::mfa::MfaRequiredRoles;
use super::{AppError, Caller, Profile};
use chrono::{DateTime, Utc};

/// Token `iat` values are whole seconds, so the cut-off is the first whole second
/// after the revocation: a token issued in the same second as a logout is refused
/// too, never wrongly accepted. (Login waits out that second; see `AuthService`.)
pub fn cutoff_after(revoked_at: DateTime<Utc>) -> i64 {
    revoked_at.timestamp() + 1
}

/// Whether a token issued at `issued_at` (seconds) is still honoured.
pub fn token_is_current(issued_at: i64, cutoff: Option<i64>) -> bool {
    cutoff.is_none_or(|cutoff| issued_at >= cutoff)
}

/// How long an ended sign-in stays in [`SessionCutoff::ended`]: longer than an
/// access token can live (Cognito allows a day at most), so every token of it
/// has expired before it is forgotten.
pub const ENDED_SIGN_IN_KEPT_SECONDS: i64 = 24 * 60 * 60 + 5 * 60;

/// What ends a user's sessions, read with every protected request: a cut-off
/// for every token issued before it (logout, password change, ...), and the
/// sign-ins ended one at a time (their `origin_jti`, and when).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionCutoff {
    /// Access tokens issued before this (epoch seconds) are refused.
    pub revoked_before: Option<i64>,
    pub ended: std::collections::BTreeMap<String, i64>,
}

impl SessionCutoff {
    /// `ended` with `sign_in` added at `now`, less those ended long enough ago
    /// that no token of theirs is alive.
    pub fn ending(&self, sign_in: &str, now: i64) -> std::collections::BTreeMap<String, i64> {
        let mut ended: std::collections::BTreeMap<String, i64> = self
            .ended
            .iter()
            .filter(|(_, at)| now - **at < ENDED_SIGN_IN_KEPT_SECONDS)
            .map(|(id, at)| (id.clone(), *at))
            .collect();
        ended.insert(sign_in.to_owned(), now);
        ended
    }
}

/// A sign-in's `last_used_at` moves at most this often (a refresh, not every
/// request, writes it).
pub const SIGN_IN_TOUCH_MS: i64 = 60_000;

/// One sign-in: a password (and second-factor) login and the refresh-token
/// family it started. Its id is the tokens' `origin_jti`.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInRecord {
    pub id: String,
    /// Epoch milliseconds: two sign-ins of one second still have an order.
    pub created_at: i64,
    pub last_used_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Finished with a second factor.
    pub mfa: bool,
    /// The refresh token, sealed (KMS, bound to the user): what ending the
    /// sign-in revokes at Cognito.
    pub sealed_refresh_token: Option<String>,
    /// When its refresh token expires; the record goes then (TTL).
    pub expires_at: i64,
}

/// The sign-ins a user has at `now` (epoch seconds), newest first: an expired
/// one is no session, though TTL deletion may not have removed it yet.
pub fn live_newest_first(mut records: Vec<SignInRecord>, now: i64) -> Vec<SignInRecord> {
    records.retain(|r| r.expires_at > now);
    records.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    records
}

impl std::fmt::Debug for SignInRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRecord")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .field("mfa", &self.mfa)
            .finish_non_exhaustive()
    }
}

/// A device unseen for this long is new again (a "new sign-in" notice).
pub const KNOWN_DEVICE_SECONDS: i64 = 90 * 24 * 60 * 60;
/// At most this many devices are remembered per user (the latest seen).
pub const KNOWN_DEVICES_KEPT: usize = 50;

/// A device as a user would name it: the browser (or client) and its system,
/// from the user agent ("Firefox on Linux", "curl").
pub fn device_name(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return "an unknown device".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    let system = [
        ("iPhone", "iOS"),
        ("iPad", "iOS"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        // A client that is no browser names itself first ("curl/8.5.0").
        _ => ua
            .split(['/', ' '])
            .next()
            .unwrap_or(ua)
            .chars()
            .take(40)
            .collect(),
    }
}

/// The network a source IP is in: its IPv4 /24 or IPv6 /48.
pub fn network_of(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => ip.to_owned(),
    }
}

/// What makes a sign-in's device known: its family and its network.
pub fn device_key(user_agent: Option<&str>, ip: &str) -> String {
    format!("{}|{}", device_name(user_agent), network_of(ip))
}

/// A session as `GET /users/me/sessions` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionView {
    pub session_id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session of the token that asked.
    pub current: bool,
    pub mfa: bool,
}

impl SessionView {
    pub fn of(record: &SignInRecord, current: Option<&str>) -> Self {
        let time = |at: i64| {
            DateTime::<Utc>::from_timestamp_millis(at)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        Self {
            session_id: record.id.clone(),
            created_at: time(record.created_at),
            last_used_at: time(record.last_used_at),
            ip: record.ip.clone(),
            user_agent: record.user_agent.clone(),
            current: current == Some(record.id.as_str()),
            mfa: record.mfa,
        }
    }
}

/// The one session check of every protected endpoint: 401 for a token issued
/// before the user's cut-off (logout, password change, disable, ...) or of a
/// sign-in that was ended (`DELETE /users/me/sessions/{id}`).
pub fn ensure_current(caller: &Caller, cutoff: &SessionCutoff) -> Result<(), AppError> {
    let ended = caller
        .session_id
        .as_ref()
        .is_some_and(|id| cutoff.ended.contains_key(id));
    if token_is_current(caller.issued_at, cutoff.revoked_before) && !ended {
        Ok(())
    } else {
        Err(AppError::Unauthenticated("the token has been revoked"))
    }
}

/// The gate of every protected endpoint a user reaches only once enrolled: the
/// token is current ([`ensure_current`]), then a holder of a role in
/// `required` has a second factor on. `profile` is the caller's, read with its
/// second factor; a caller without one holds no role.
pub fn admit(
    caller: &Caller,
    cutoff: &SessionCutoff,
    profile: Option<&Profile>,
    required: &MfaRequiredRoles,
) -> Result<(), AppError> {
    ensure_current(caller, cutoff)?;
    match profile {
        Some(profile) => required.ensure_enrolled(&profile.roles, profile.mfa.unwrap_or_default()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_its_browser_and_system_on_a_network() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(device_name(Some(firefox)), "Firefox on Linux");
        assert_eq!(device_name(Some(chrome)), "Chrome on Windows");
        assert_eq!(device_name(Some(safari)), "Safari on iOS");
        assert_eq!(device_name(Some("curl/8.5.0")), "curl");
        assert_eq!(device_name(None), "an unknown device");
        assert_eq!(network_of("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(network_of("2001:db8:abcd:12::1"), "2001:db8:abcd::/48");
        assert_eq!(
            device_key(Some(firefox), "203.0.113.7"),
            device_key(Some(firefox), "203.0.113.200"),
            "another address of the same network"
        );
        assert_ne!(
            device_key(Some(firefox), "203.0.113.7"),
            device_key(Some(chrome), "203.0.113.7")
        );
    }
    use chrono::TimeZone;

    #[test]
    fn a_token_from_the_same_second_as_a_logout_is_refused() {
        let logout = Utc.timestamp_millis_opt(100_400).unwrap();
        let cutoff = cutoff_after(logout);
        assert!(!token_is_current(100, Some(cutoff)));
        assert!(!token_is_current(99, Some(cutoff)));
        assert!(token_is_current(101, Some(cutoff)));
    }

    #[test]
    fn without_a_cutoff_every_token_is_current() {
        assert!(token_is_current(0, None));
    }
}
