//! The one place that turns an [`AppError`] into an RFC 9457 problem response.

use super::*;

/// The parts of a problem response that depend on the error.
pub(super) struct ProblemKind {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
}

pub(super) fn classify(err: &AppError) -> ProblemKind {
    let kind = |status, code, title| ProblemKind {
        status,
        code,
        title,
    };
    match err {
        AppError::Validation { .. } => kind(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Invalid request",
        ),
        AppError::MalformedBody(_) => kind(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            "Malformed request body",
        ),
        AppError::PayloadTooLarge { .. } => kind(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Request body too large",
        ),
        AppError::UnsupportedMediaType => kind(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
        ),
        AppError::EmailTaken => kind(
            StatusCode::CONFLICT,
            "email_taken",
            "Email already registered",
        ),
        AppError::InvalidCredentials => kind(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Invalid credentials",
        ),
        AppError::UserNotConfirmed => kind(
            StatusCode::FORBIDDEN,
            "user_not_confirmed",
            "Account not confirmed",
        ),
        AppError::InvalidCode => kind(StatusCode::BAD_REQUEST, "invalid_code", "Invalid code"),
        AppError::ExpiredCode => kind(StatusCode::BAD_REQUEST, "expired_code", "Expired code"),
        AppError::WrongMfaCode => kind(StatusCode::UNAUTHORIZED, "invalid_code", "Invalid code"),
        AppError::MfaCodeRequired => kind(
            StatusCode::FORBIDDEN,
            "mfa_code_required",
            "Second factor required",
        ),
        AppError::MfaEnrollmentRequired => kind(
            StatusCode::FORBIDDEN,
            "mfa_enrollment_required",
            "Second factor enrolment required",
        ),
        AppError::InvalidMfaSession => kind(
            StatusCode::UNAUTHORIZED,
            "invalid_session",
            "Invalid sign-in session",
        ),
        AppError::SmsCountryNotAllowed { .. } => kind(
            StatusCode::BAD_REQUEST,
            "sms_country_not_allowed",
            "SMS not sent to this country",
        ),
        AppError::Unauthenticated(_) => {
            kind(StatusCode::UNAUTHORIZED, "invalid_token", "Unauthenticated")
        }
        AppError::Forbidden(_) => kind(StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
        AppError::NotFound(_) => kind(StatusCode::NOT_FOUND, "not_found", "Not found"),
        AppError::PreconditionFailed => kind(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            "Precondition failed",
        ),
        AppError::Conflict(_) => kind(StatusCode::CONFLICT, "conflict", "Conflict"),
        AppError::MethodNotAllowed { .. } => kind(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
        ),
        AppError::TooManyRequests { .. } => kind(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many requests",
        ),
        AppError::Unavailable(_) => kind(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        ),
        AppError::Unexpected(_) => kind(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
        ),
    }
}

#[derive(Serialize)]
pub(super) struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

/// The one mapping from errors to responses. Logs once: 5xx with the full cause
/// chain, 4xx with the code only. The body of a 5xx never shows the cause.
pub fn problem_response(err: &AppError) -> Response<Body> {
    let ProblemKind {
        status,
        code,
        title,
    } = classify(err);
    if status.is_server_error() {
        let mut chain = Vec::new();
        let mut source = err.source();
        while let Some(cause) = source {
            chain.push(cause.to_string());
            source = cause.source();
        }
        tracing::error!(code, error = %err, causes = ?chain, "request failed");
    } else {
        tracing::info!(code, status = status.as_u16(), "request refused");
    }
    let detail = if status.is_server_error() {
        "The request could not be completed. Try again later.".to_owned()
    } else {
        err.to_string()
    };
    let field = match err {
        AppError::Validation { field, .. } => Some(*field),
        AppError::SmsCountryNotAllowed { .. } => Some("phone_number"),
        _ => None,
    };
    let body = Problem {
        kind: format!("https://gatehouse.dev/problems/{code}"),
        title,
        status: status.as_u16(),
        detail,
        code,
        field,
    };
    let mut response = json_response(status, &body, "application/problem+json");
    match err {
        AppError::TooManyRequests {
            retry_after: Some(wait),
        } => {
            let secs = wait.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        AppError::MethodNotAllowed { allow } => {
            if let Ok(value) = HeaderValue::from_str(allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
        }
        // A dependency is down: worth another try shortly, not at once.
        AppError::Unavailable(_) => {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        AppError::Unauthenticated(_) => {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        _ => {}
    }
    response
}
