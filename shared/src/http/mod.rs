//! HTTP plumbing shared by every API function: JSON bodies with a size limit,
//! parsed into domain values ([`bodies`]), the caller's identity from the
//! authorizer's claims, and the one place that turns an [`AppError`] into an
//! RFC 9457 problem response.

pub mod bodies;
mod endpoints;
mod problem;
mod request;
mod run;

use crate::domain::{AccessToken, AppError, Caller, Origin, Subject, UserId};
use crate::telemetry::Correlation;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::error::Error as _;
use tracing::Instrument;

use endpoints::*;
pub use endpoints::{
    caller_endpoint, caller_json_endpoint, if_match, json_endpoint, profile_endpoint, respond,
    subject_endpoint, subject_json_endpoint,
};
pub use problem::problem_response;
use request::*;
pub use request::{
    CORRELATION_HEADER, MAX_BODY_BYTES, caller, correlation, json_body, json_body_up_to, origin,
    path_account, path_session_id, path_user_id, subject,
};
pub use run::run;

#[cfg(test)]
mod body_tests {
    use super::body_error;

    fn error_for<T: serde::de::DeserializeOwned + std::fmt::Debug>(raw: &str) -> String {
        body_error(&serde_json::from_str::<T>(raw).unwrap_err())
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        count: u32,
    }

    #[test]
    fn a_body_error_never_echoes_the_callers_input() {
        let injected = error_for::<Body>(r#"{"count": "<script>alert(1)</script>"}"#);
        assert!(!injected.contains("script"), "{injected}");
        assert!(injected.starts_with("does not fit this endpoint: invalid type"));
        let field = error_for::<Body>(r#"{"count": 1, "<b>x</b>": 2}"#);
        assert!(!field.contains("<b>"), "{field}");
        let plain = error_for::<Body>(r#"{"count": 1, "extra": 2}"#);
        assert!(plain.contains("unknown field `extra`"), "{plain}");
        assert_eq!(
            error_for::<Body>("{\"count\": "),
            "is not valid JSON (line 1, column 10)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_claims_in_api_gateway_form_are_split() {
        assert_eq!(parse_claim_list("[admin user]"), vec!["admin", "user"]);
        assert_eq!(parse_claim_list("admin"), vec!["admin"]);
        assert!(parse_claim_list("[]").is_empty());
    }

    #[test]
    fn a_server_error_hides_its_cause_from_the_caller() {
        let err = AppError::unexpected("table gatehouse-secret-table is gone");
        let response = problem_response(&err);
        assert_eq!(response.status(), 500);
        let Body::Text(text) = response.body() else {
            panic!("no text body")
        };
        assert!(!text.contains("secret-table"));
        assert!(text.contains("\"code\":\"internal_error\""));
    }

    #[test]
    fn problems_use_the_problem_json_media_type() {
        let response = problem_response(&AppError::EmailTaken);
        assert_eq!(response.status(), 409);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }

    #[test]
    fn too_many_requests_says_when_to_retry() {
        let response = problem_response(&AppError::TooManyRequests {
            retry_after: Some(std::time::Duration::from_secs(90)),
        });
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "90");
    }
}
