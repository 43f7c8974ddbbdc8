//! Implementations of the ports: the only modules that import the AWS SDK.
//!
//! - [`aws`]: the SDK clients of one cold start ([`AwsClients`], each built on
//!   first use) and the typed cause every failed call is reported with.
//! - [`cognito`]: the identity ports over Amazon Cognito user pools.
//! - [`dynamodb`]: the store ports over the application table.
//! - [`kms`]: sealing small per-user secrets (the TOTP secret) with a KMS key.
//! - `memory`: in-memory fakes, for tests only.

pub mod aws;
pub mod client_secret;
pub mod cognito;
pub mod dynamodb;
pub mod health;
pub mod kms;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod notify;

pub use aws::{AwsCallError, AwsClients, AwsService};
