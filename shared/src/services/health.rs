//! `GET /health`: the version, and whether each dependency answers. Public, so
//! it says nothing of the configuration (no names, no URLs, no errors), and a
//! report is reused for a few seconds: a flood of health checks costs the
//! dependencies (Cognito's quota for reading pool settings is shared with every
//! other read of them in the account) one probe each per instance and interval.

use crate::ports::health::Dependency;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What `GET /health` answers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HealthReport {
    /// `ok` when every dependency answers, else `degraded`.
    pub status: &'static str,
    pub version: &'static str,
    /// Dependency role -> `ok` or `unavailable`.
    pub dependencies: BTreeMap<&'static str, &'static str>,
}

impl HealthReport {
    pub fn healthy(&self) -> bool {
        self.status == "ok"
    }
}

pub struct HealthService {
    dependencies: Vec<Arc<dyn Dependency>>,
    version: &'static str,
    timeout: Duration,
    reuse_for: Duration,
    last: Mutex<Option<(Instant, HealthReport)>>,
}

impl HealthService {
    /// Each probe gets at most this long: a dependency slower than that is
    /// unavailable as far as callers are concerned.
    pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
    pub const REUSE_FOR: Duration = Duration::from_secs(5);

    pub fn new(dependencies: Vec<Arc<dyn Dependency>>, version: &'static str) -> Self {
        Self::with_timing(dependencies, version, Self::PROBE_TIMEOUT, Self::REUSE_FOR)
    }

    pub fn with_timing(
        dependencies: Vec<Arc<dyn Dependency>>,
        version: &'static str,
        timeout: Duration,
        reuse_for: Duration,
    ) -> Self {
        Self {
            dependencies,
            version,
            timeout,
            reuse_for,
            last: Mutex::new(None),
        }
    }

    pub async fn report(&self) -> HealthReport {
        if let Some((at, report)) = &*self.last.lock().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < self.reuse_for
        {
            return report.clone();
        }
        let answers = futures::future::join_all(self.dependencies.iter().map(|d| async move {
            let answered = match tokio::time::timeout(self.timeout, d.ping()).await {
                Ok(Ok(())) => true,
                Ok(Err(err)) => {
                    tracing::warn!(dependency = d.name(), error = %err, "health probe failed");
                    false
                }
                Err(_) => {
                    tracing::warn!(dependency = d.name(), "health probe timed out");
                    false
                }
            };
            (d.name(), answered)
        }))
        .await;
        let healthy = answers.iter().all(|(_, ok)| *ok);
        let report = HealthReport {
            status: if healthy { "ok" } else { "degraded" },
            version: self.version,
            dependencies: answers
                .into_iter()
                .map(|(name, ok)| (name, if ok { "ok" } else { "unavailable" }))
                .collect(),
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), report.clone()));
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppError;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Fake {
        name: &'static str,
        answers: bool,
        hangs: bool,
        pings: AtomicU32,
    }

    #[async_trait]
    impl Dependency for Fake {
        fn name(&self) -> &'static str {
            self.name
        }
        async fn ping(&self) -> Result<(), AppError> {
            self.pings.fetch_add(1, Ordering::SeqCst);
            if self.hangs {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            if self.answers {
                Ok(())
            } else {
                Err(AppError::unexpected(
                    "arn:aws:dynamodb:secret-table is gone",
                ))
            }
        }
    }

    fn fake(name: &'static str, answers: bool, hangs: bool) -> Arc<Fake> {
        Arc::new(Fake {
            name,
            answers,
            hangs,
            pings: AtomicU32::new(0),
        })
    }

    #[tokio::test]
    async fn every_dependency_answering_is_ok_and_a_report_is_reused_briefly() {
        let table = fake("table", true, false);
        let health = HealthService::with_timing(
            vec![table.clone(), fake("queue", true, false)],
            "1.2.3",
            Duration::from_millis(200),
            Duration::from_secs(60),
        );
        let report = health.report().await;
        assert!(report.healthy());
        assert_eq!(report.version, "1.2.3");
        assert_eq!(report.dependencies["table"], "ok");
        assert_eq!(report.dependencies["queue"], "ok");
        health.report().await;
        assert_eq!(
            table.pings.load(Ordering::SeqCst),
            1,
            "reused, not probed again"
        );
    }

    #[tokio::test]
    async fn a_failing_or_hanging_dependency_is_unavailable_and_nothing_of_its_error_shows() {
        let health = HealthService::with_timing(
            vec![
                fake("table", false, false),
                fake("identity", true, true),
                fake("queue", true, false),
            ],
            "1.2.3",
            Duration::from_millis(100),
            Duration::ZERO,
        );
        let started = Instant::now();
        let report = health.report().await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!report.healthy());
        assert_eq!(report.status, "degraded");
        assert_eq!(report.dependencies["table"], "unavailable");
        assert_eq!(report.dependencies["identity"], "unavailable");
        assert_eq!(report.dependencies["queue"], "ok");
        let text = serde_json::to_string(&report).unwrap();
        assert!(!text.contains("arn:") && !text.contains("secret"), "{text}");
    }
}
