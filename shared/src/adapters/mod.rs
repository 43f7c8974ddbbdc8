//! Implementations of the ports. Only `cognito` and `dynamodb` import the AWS SDK;
//! `memory` holds in-memory fakes, for tests only.

pub mod cognito;
pub mod dynamodb;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
mod sdk_error;
