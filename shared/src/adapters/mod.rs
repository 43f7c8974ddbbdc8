//! Implementations of the ports. Only `cognito` and `dynamodb` import the AWS SDK;
//! `memory` holds in-memory fakes for tests.

pub mod cognito;
pub mod dynamodb;
pub mod memory;
mod sdk_error;
