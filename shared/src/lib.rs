//! Gatehouse's shared crate: the domain, its ports, the use cases over them, the AWS
//! adapters, and the HTTP and event plumbing every function uses.
//!
//! Dependencies point inwards: `domain` knows nothing else, `ports` and `services`
//! know the domain, `adapters` are the only modules that import the AWS SDK.

pub mod adapters;
pub mod config;
pub mod context;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod ports;
pub mod services;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use domain::AppError;
