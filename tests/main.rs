//! Integration tests: the real function binaries behind the local stack (moto, the
//! Runtime API, API Gateway routing and authorizer, Cognito triggers), driven over
//! real HTTP. One stack per test run, shared by every test; each test uses its own
//! email addresses, so tests stay independent.

mod support;

mod access;
mod attacks;
mod auth;
mod authorizer;
mod concurrency;
mod docs_page;
mod events;
mod faults;
mod fidelity;
mod input;
mod log_scan;
mod messages;
mod mfa;
mod notifications;
mod operations;
mod passwords;
mod permissions;
mod profile;
mod schemathesis_run;
mod security;
mod sessions;
mod store_contracts;
mod template;
mod users;
