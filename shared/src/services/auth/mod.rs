//! Authentication use cases, one file per capability. Each service holds only
//! the ports its use cases call, so a function wired with it builds only the AWS
//! clients its IAM policy allows.
//!
//! - [`sign_up`]: register, confirm, resend the code (Cognito only).
//! - [`sessions`]: the session cut-off ([`SessionGuard`]), login (Cognito and the
//!   table's login windows), refresh (Cognito only), logout.
//! - [`passwords`]: change, forgot, reset.
//! - [`mfa`]: the second factor: enrolling an authenticator app, recovery codes,
//!   the second step of a sign-in.
//! - [`step_up`]: changes to an account with TOTP on: the `mfa_code` check,
//!   turning the app off, new recovery codes.
//! - [`sign_ins`]: each sign-in filed, listed and ended one at a time.

mod mfa;
mod passwords;
mod sessions;
mod sign_ins;
mod sign_up;
mod step_up;

pub use mfa::{
    MfaLoginService, SecondFactor, TotpEnabled, TotpStartPorts, TotpStartService, TotpStarted,
    TotpVerifyService,
};
pub use passwords::{
    ForgotPasswordService, PasswordChange, PasswordReset, PasswordResetService, PasswordService,
};
pub use sessions::{Credentials, LoginService, LogoutService, RefreshService, SessionGuard};
pub use sign_ins::{
    SIGN_IN_DAYS, SessionList, SessionListService, SessionsParts, SessionsService, SignIns,
};
pub use sign_up::{ConfirmService, Registration, SignUpAnswer, SignUpService, TakenAddresses};
pub use step_up::tell as tell_second_factor;
pub use step_up::{RecoveryCodesService, StepUp, SteppedUp, TotpDisablePorts, TotpDisableService};

use serde::Serialize;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Confirmed {
    pub confirmed: bool,
}

/// The answer to requests whose outcome must not reveal whether an account exists.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Accepted {
    pub message: &'static str,
}
