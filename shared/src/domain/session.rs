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

/// The one session check of every protected endpoint: 401 for a token issued
/// before the user's cut-off (logout, password change, disable, ...).
pub fn ensure_current(caller: &Caller, cutoff: Option<i64>) -> Result<(), AppError> {
    if token_is_current(caller.issued_at, cutoff) {
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
    cutoff: Option<i64>,
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
