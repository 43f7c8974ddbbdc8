//! An outage of the emulated AWS, switched on and off by tests
//! (`POST /_local/aws/outage`): while it lasts, the endpoint the functions reach
//! AWS through closes new connections at once and cuts requests on open ones off
//! without an answer, as an unreachable service does. In the `hung` mode the
//! moto process itself is frozen (`SIGSTOP`): it accepts connections and never
//! answers, as a stuck AWS endpoint does, until it is resumed (`SIGCONT`). moto
//! keeps its state, so everything works again once the outage ends.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;
use tower::ServiceExt;

#[derive(Default)]
pub struct Outage {
    all: AtomicBool,
    /// The moto process to freeze for a hung outage.
    moto_pid: Option<u32>,
    hung: AtomicBool,
    /// Services that answer every call with 503 `ServiceUnavailable` (a
    /// provider failing, as opposed to unreachable): `ses`, `sns`, ...
    failing: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Outage {
    pub fn new(moto_pid: Option<u32>) -> Self {
        Self {
            moto_pid,
            ..Self::default()
        }
    }

    /// Freezes (or resumes) the moto process: AWS that accepts and never answers.
    pub fn set_hung(&self, hung: bool) -> Result<(), String> {
        let pid = self
            .moto_pid
            .and_then(|p| libc::pid_t::try_from(p).ok())
            .ok_or("the stack does not know moto's process")?;
        let signal = if hung { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill(2) with our own child's pid and a valid signal number.
        if unsafe { libc::kill(pid, signal) } != 0 {
            return Err(format!(
                "cannot signal moto: {}",
                std::io::Error::last_os_error()
            ));
        }
        self.hung.store(hung, Ordering::SeqCst);
        tracing::warn!(hung, "emulated AWS hang switched (moto frozen)");
        Ok(())
    }

    /// Any emulated failure is in force: answers now may be errors a test asked for.
    pub fn any(&self) -> bool {
        self.is_down()
            || self.hung.load(Ordering::SeqCst)
            || !self
                .failing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
    }

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
