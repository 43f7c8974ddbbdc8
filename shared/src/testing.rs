//! Helpers for the functions' handler tests: requests from the sample events in
//! `events/`, and response bodies as JSON. Test support only.

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
