use gatehouse::services::HealthService;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Error, Request, Response};

/// `GET /health` (no token): 200 when every dependency answers, else 503, with
/// the version and each dependency's state; never cached by anyone between.
pub async fn handle(health: &HealthService, _req: Request) -> Result<Response<Body>, Error> {
    let report = health.report().await;
    let status = if report.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(serde_json::to_string(&report)?))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use gatehouse::AppError;
    use gatehouse::ports::health::Dependency;
    use gatehouse::testing::{json_of, request};
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../../events/health.json");

    struct Answers(bool);

    #[async_trait]
    impl Dependency for Answers {
        fn name(&self) -> &'static str {
            "table"
        }
        async fn ping(&self) -> Result<(), AppError> {
            if self.0 {
                Ok(())
            } else {
                Err(AppError::unexpected("down"))
            }
        }
    }

    #[tokio::test]
    async fn the_sample_event_reports_the_version_and_each_dependency() {
        let health = HealthService::new(vec![Arc::new(Answers(true))], "9.9.9");
        let response = handle(&health, request(EVENT, None)).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body = json_of(&response);
        assert_eq!(body["status"], "ok");
        assert_eq!(body["version"], "9.9.9");
        assert_eq!(body["dependencies"]["table"], "ok");
    }

    #[tokio::test]
    async fn a_dependency_that_does_not_answer_makes_it_503() {
        let health = HealthService::new(vec![Arc::new(Answers(false))], "9.9.9");
        let response = handle(&health, request(EVENT, None)).await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(json_of(&response)["dependencies"]["table"], "unavailable");
    }
}
