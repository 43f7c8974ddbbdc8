//! Use cases over the ports, one service per capability. A service takes domain
//! values (parsed at the edge by `crate::http::bodies` or the trigger handlers),
//! never wire strings.

pub mod auth;
mod profiles;

pub use auth::{
    Accepted, Confirmed, Credentials, ForgotPasswordService, LoginService, LogoutService,
    PasswordChange, PasswordReset, PasswordService, RefreshService, Registration, SessionGuard,
    SignUpService,
};
pub use profiles::ProfileService;
