//! An outage of the emulated AWS, switched on and off by tests
//! (`POST /_local/aws/outage`): while it lasts, the endpoint the functions reach
//! AWS through closes new connections at once and cuts requests on open ones off
//! without an answer, as an unreachable service does. moto keeps its state, so
//! everything works again once the outage ends.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;
use tower::ServiceExt;

#[derive(Default)]
pub struct Outage {
    all: AtomicBool,
    /// Services that answer every call with 503 `ServiceUnavailable` (a
    /// provider failing, as opposed to unreachable): `ses`, `sns`, ...
    failing: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Outage {
    pub fn set(&self, down: bool) {
        self.all.store(down, Ordering::SeqCst);
        tracing::warn!(down, "emulated AWS outage switched");
    }

    pub fn is_down(&self) -> bool {
        self.all.load(Ordering::SeqCst)
    }

    pub fn set_failing(&self, service: &str, failing: bool) {
        let mut services = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        if failing {
            services.insert(service.to_owned());
        } else {
            services.remove(service);
        }
        tracing::warn!(service, failing, "emulated service failure switched");
    }

    pub fn is_failing(&self, service: &str) -> bool {
        self.failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(service)
    }
}

/// Serves `router` on `listener`, subject to the outage switch.
pub async fn serve(listener: TcpListener, router: Router, outage: Arc<Outage>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if outage.is_down() {
            drop(stream);
            continue;
        }
        let router = router.clone();
        let outage = outage.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let router = router.clone();
                    let down = outage.is_down();
                    async move {
                        if down {
                            // An error from the service closes the connection
                            // without a response.
                            return Err(std::io::Error::other("emulated AWS outage"));
                        }
                        let req = req.map(axum::body::Body::new);
                        match router.oneshot(req).await {
                            Ok(response) => Ok(response),
                            Err(never) => match never {},
                        }
                    }
                });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
