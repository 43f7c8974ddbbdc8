//! Helpers for the functions' handler tests: services over the in-memory fakes,
//! requests from the sample events in `events/`, and response bodies as JSON.
//! Test support only: compiled for tests and the `testing` feature, never into a
//! deployed binary.

use crate::adapters::memory::{InMemoryIdentity, InMemorySessions, InMemoryThrottle};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

/// The sample API Gateway event, with its body replaced by `body` when given.
pub fn request(event: &str, body: Option<Value>) -> Request {
    let mut event: Value = serde_json::from_str(event).expect("sample event is JSON");
    if let Some(body) = body {
        event["body"] = Value::String(body.to_string());
    }
    lambda_http::request::from_str(&event.to_string())
        .expect("sample event is an API Gateway v2 event")
}

/// The sample event with a raw (possibly malformed) body.
pub fn request_with_raw_body(event: &str, body: &str) -> Request {
    let mut event: Value = serde_json::from_str(event).expect("sample event is JSON");
    event["body"] = Value::String(body.to_owned());
    lambda_http::request::from_str(&event.to_string())
        .expect("sample event is an API Gateway v2 event")
}

/// The sample event as a call by `user_id` with a token issued at `issued_at`.
pub fn request_as(
    event: &str,
    user_id: &str,
    issued_at: i64,
    token: &str,
    body: Option<Value>,
) -> Request {
    let mut event: Value = serde_json::from_str(event).expect("sample event is JSON");
    let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
    claims["sub"] = Value::String(user_id.to_owned());
    claims["iat"] = Value::String(issued_at.to_string());
    event["headers"]["authorization"] = Value::String(format!("Bearer {token}"));
    if let Some(body) = body {
        event["body"] = Value::String(body.to_string());
    }
    lambda_http::request::from_str(&event.to_string())
        .expect("sample event is an API Gateway v2 event")
}

pub fn json_of(response: &Response<Body>) -> Value {
    if response.body().is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(response.body().as_ref()).expect("response body is JSON")
}

/// The password policy handler tests use: 10+ characters, lower, upper and a number.
pub fn test_policy() -> crate::domain::PasswordPolicy {
    crate::domain::PasswordPolicy {
        min_length: 10,
        require_lowercase: true,
        require_uppercase: true,
        require_numbers: true,
        require_symbols: false,
    }
}

/// An `AuthService` over in-memory fakes, with the identity fake for reading codes.
pub fn in_memory_auth() -> (
    crate::services::AuthService,
    std::sync::Arc<InMemoryIdentity>,
) {
    let identity = std::sync::Arc::new(InMemoryIdentity::default());
    let service = crate::services::AuthService::new(
        identity.clone(),
        std::sync::Arc::new(InMemorySessions::default()),
        std::sync::Arc::new(InMemoryThrottle::default()),
        test_policy(),
    );
    (service, identity)
}

/// The password the helpers below register users with.
pub const TEST_PASSWORD: &str = "Password123";

/// Registers `email` (unconfirmed) with [`TEST_PASSWORD`].
pub async fn registered(auth: &crate::services::AuthService, email: &str) {
    let registered = auth
        .register(crate::services::RegisterInput {
            email: email.into(),
            password: TEST_PASSWORD.into(),
            display_name: None,
            locale: None,
        })
        .await;
    assert!(registered.is_ok(), "register {email}: {registered:?}");
}

/// Registers, confirms and logs in `email` (password [`TEST_PASSWORD`]) on an
/// [`in_memory_auth`] pair; returns the tokens.
pub async fn signed_in(
    auth: &crate::services::AuthService,
    identity: &InMemoryIdentity,
    email: &str,
) -> crate::domain::Tokens {
    use crate::services::{ConfirmInput, LoginInput};
    registered(auth, email).await;
    let code = identity.code_for(email).unwrap_or_default();
    let confirmed = auth
        .confirm(ConfirmInput {
            email: email.into(),
            code,
        })
        .await;
    assert!(confirmed.is_ok(), "confirm {email}: {confirmed:?}");
    match auth
        .login(LoginInput {
            email: email.into(),
            password: TEST_PASSWORD.into(),
        })
        .await
    {
        Ok(tokens) => tokens,
        Err(err) => panic!("login {email}: {err:?}"),
    }
}
