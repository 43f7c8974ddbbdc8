//! The traits the use cases need, one per capability, so that each function is
//! wired with exactly the adapters (and so the AWS clients) its use case calls.
//! Adapters in `crate::adapters` implement them.
//!
//! - [`identity`]: what Cognito does for us, split by capability (sign-up,
//!   authentication, token revocation, passwords, account administration, the
//!   user's own record).
//! - [`notify`]: the delivery queue, the email and SMS providers, and the
//!   ledger that makes each delivery happen at most once.
//! - [`store`]: what lives in the application table (profiles, session
//!   cut-offs, throttle windows and their keys).

pub mod health;
pub mod identity;
pub mod notify;
pub mod store;

pub use identity::{
    AccountAdmin, Authenticator, MfaAdmin, PasswordIdentity, SignUpDetails, SignUpIdentity,
    TotpIdentity, UserDirectory,
};
pub use store::{
    AuditLog, ChallengeRecord, MfaRecord, MfaStore, PolicySnapshot, PolicyStore, ProfileStore,
    SecretSealer, SessionStore, SmsPasses, ThrottleKey, ThrottleKeys, ThrottleStore, TokenSigner,
    UserSnapshot, Versioned,
};
