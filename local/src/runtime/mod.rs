//! Runs each function's real `bootstrap` binary behind a Lambda Runtime API, as
//! Lambda does: a process polls `/invocation/next` and answers on `/response` or
//! `/error`. Like Lambda, a function scales out (up to its process cap) when
//! invocations arrive while every process is busy, and a process that dies is
//! replaced on demand, so a broken cold start fails every request, locally as on AWS.
//!
//! Lambda's clocks are kept apart, as on AWS: the function's timeout runs from when
//! a process takes the invocation, the init timeout from when a process starts. The
//! wait for a free process counts against neither (on AWS it does not exist: Lambda
//! starts another environment); the caller bounds it with its own clock (API
//! Gateway's 30 s integration timeout, Cognito's 5 s for a trigger's run).
//! `ReservedConcurrentExecutions` is honoured: an invocation beyond it is throttled
//! at once, never queued.

use axum::Router;
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

mod api;
use api::{InstanceApi, fail, init_error, next, respond};

/// Processes per function at most when nothing else is set: the machine's cores,
/// and at least 4 (Lambda's concurrency, scaled to a laptop).
pub fn default_max_instances() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .max(4)
}

/// How long Lambda lets a new process start before it gives up on it.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("function {0} is unknown")]
    UnknownFunction(String),
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the function process exited before answering")]
    Crashed,
    #[error("the function timed out after {0:?}")]
    Timeout(Duration),
    /// The caller's own clock ran out while a process held the invocation
    /// (the function runs on to its own timeout).
    #[error("no answer within {0:?} of the function starting")]
    NotAnsweredWithin(Duration),
    /// The function's `ReservedConcurrentExecutions` are all in use.
    #[error("Rate Exceeded.")]
    Throttled,
    #[error("the function failed: {error_type}: {message}")]
    Function { error_type: String, message: String },
}

type Reply = oneshot::Sender<Result<Value, InvokeError>>;

struct Invocation {
    id: String,
    payload: Value,
    reply: Reply,
    /// Told when a process takes the invocation (the caller's run clock starts).
    started: oneshot::Sender<()>,
    /// A unit of the function's reserved concurrency, held until the invocation ends.
    permit: Option<OwnedSemaphorePermit>,
}

/// A taken invocation: the instance running it, where its answer goes, and its
/// unit of reserved concurrency.
struct InFlight {
    instance: u64,
    reply: Reply,
    _permit: Option<OwnedSemaphorePermit>,
}

/// How a function process is started.
pub struct FunctionSpec {
    pub logical_id: String,
    pub name: String,
    pub binary: PathBuf,
    pub environment: Vec<(String, String)>,
    pub timeout: Duration,
    /// `Tracing: Active`: trace headers say `Sampled=1`.
    pub traced: bool,
    /// `ReservedConcurrentExecutions`, if the template sets it.
    pub reserved_concurrency: Option<usize>,
    /// The local cap on processes (a setting of the stack, not of the template).
    pub max_instances: usize,
    /// Lambda's init timeout ([`INIT_TIMEOUT`]; shorter in tests).
    pub init_timeout: Duration,
}

/// One running process of a function.
struct Instance {
    kill: Option<oneshot::Sender<()>>,
    /// Set when the process first asks for work: its cold start is over.
    ready: Arc<AtomicBool>,
}

pub struct FunctionHost {
    spec: FunctionSpec,
    queue_tx: mpsc::UnboundedSender<Invocation>,
    queue_rx: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    /// Invocations sent but not yet taken by a process.
    queued: AtomicUsize,
    /// Taken invocations, by request id.
    in_flight: std::sync::Mutex<HashMap<String, InFlight>>,
    instances: Mutex<HashMap<u64, Instance>>,
    next_instance: AtomicU64,
    /// `ReservedConcurrentExecutions` as permits (`None`: unreserved).
    reserved: Option<Arc<Semaphore>>,
    /// The stack is shutting down: no process is replaced.
    stopping: AtomicBool,
    /// Asks the host's replacer (see [`FunctionHost::start`]) to start a process
    /// for waiting work after one exited.
    replace: mpsc::UnboundedSender<()>,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

impl FunctionHost {
    pub async fn start(spec: FunctionSpec) -> std::io::Result<Arc<Self>> {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let reserved = spec
            .reserved_concurrency
            .map(|n| Arc::new(Semaphore::new(n)));
        let (replace, mut replacements) = mpsc::unbounded_channel();
        let host = Arc::new(Self {
            reserved,
            stopping: AtomicBool::new(false),
            replace,
            spec,
            queue_tx,
            queue_rx: Mutex::new(queue_rx),
            queued: AtomicUsize::new(0),
            in_flight: std::sync::Mutex::new(HashMap::new()),
            instances: Mutex::new(HashMap::new()),
            next_instance: AtomicU64::new(1),
        });
        // Replaces exited processes while work waits. A task of its own, so that
        // a process's exit never awaits the start of another.
        let weak = Arc::downgrade(&host);
        tokio::spawn(async move {
            while replacements.recv().await.is_some() {
                let Some(host) = weak.upgrade() else { break };
                if let Err(err) = host.scale().await {
                    tracing::error!(function = %host.spec.logical_id, error = %err, "cannot replace a process");
                }
            }
        });
        Ok(host)
    }

    pub fn logical_id(&self) -> &str {
        &self.spec.logical_id
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The environment the function's processes get (not the Runtime API address,
    /// which is per process).
    pub fn environment(&self) -> &[(String, String)] {
        &self.spec.environment
    }

    pub fn binary_name(&self) -> String {
        self.spec
            .binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, InFlight>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_in_flight(&self, id: &str) -> Option<InFlight> {
        self.in_flight().remove(id)
    }

    /// Processes this function may run at once: the local cap, and never more
    /// than its reserved concurrency.
    fn process_cap(&self) -> usize {
        let cap = self.spec.max_instances.max(1);
        self.spec.reserved_concurrency.map_or(cap, |r| cap.min(r))
    }

    /// Starts a first process if none runs (a cold start before any request).
    pub async fn ensure_running(self: &Arc<Self>) -> Result<(), InvokeError> {
        let mut instances = self.instances.lock().await;
        if instances.is_empty() && self.process_cap() > 0 {
            self.spawn_instance(&mut instances).await?;
        }
        Ok(())
    }

    /// Starts another process when more invocations wait than idle processes
    /// can take. A process being stopped (after a timeout) takes nothing more,
    /// as Lambda replaces a timed-out environment.
    async fn scale(self: &Arc<Self>) -> Result<(), InvokeError> {
        let mut instances = self.instances.lock().await;
        let busy = self.in_flight().len();
        let live = instances.values().filter(|i| i.kill.is_some()).count();
        let idle = live.saturating_sub(busy);
        if self.queued.load(Ordering::SeqCst) > idle && instances.len() < self.process_cap() {
            if !instances.is_empty() {
                tracing::info!(
                    function = %self.spec.logical_id,
                    running = instances.len(),
                    "every instance is busy: starting another"
                );
            }
            self.spawn_instance(&mut instances).await?;
        }
        Ok(())
    }

    async fn spawn_instance(
        self: &Arc<Self>,
        instances: &mut HashMap<u64, Instance>,
    ) -> Result<(), InvokeError> {
        let spec = &self.spec;
        let spawn_error = |source| InvokeError::Spawn {
            binary: spec.binary.display().to_string(),
            source,
        };
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(spawn_error)?;
        let api_address = listener.local_addr().map_err(spawn_error)?.to_string();
        let instance = self.next_instance.fetch_add(1, Ordering::SeqCst);
        let (gone_tx, gone) = watch::channel(false);
        let ready = Arc::new(AtomicBool::new(false));
        let mut command = Command::new(&spec.binary);
        command
            .env_clear()
            .envs(spec.environment.iter().cloned())
            .env("AWS_LAMBDA_RUNTIME_API", &api_address)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        let mut child = command.spawn().map_err(spawn_error)?;
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(InstanceApi {
                host: self.clone(),
                instance,
                gone,
                ready: ready.clone(),
            });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let label = self.binary_name();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    eprintln!("[{label}] {line}");
                }
            });
        }
        let (kill_tx, kill_rx) = oneshot::channel();
        instances.insert(
            instance,
            Instance {
                kill: Some(kill_tx),
                ready: ready.clone(),
            },
        );
        self.watch_init(instance, ready);
        let host = self.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status.ok(),
                _ = kill_rx => {
                    let _ = child.kill().await;
                    None
                }
            };
            if let Some(status) = status {
                tracing::warn!(function = %host.spec.logical_id, %status, "function process exited");
            }
            let _ = gone_tx.send(true);
            server.abort();
            host.retire(instance).await;
        });
        Ok(())
    }

    /// Forgets an exited instance: its invocations fail. If its cold start never
    /// finished and no process is left, the queued invocations fail too (a cold
    /// start that keeps failing fails every request); otherwise a replacement
    /// starts for the work that waits, as Lambda replaces an environment.
    async fn retire(self: &Arc<Self>, instance: u64) {
        let (cold_start_failed, none_left) = {
            let mut instances = self.instances.lock().await;
            let retired = instances.remove(&instance);
            let cold_start_failed = retired.is_none_or(|i| !i.ready.load(Ordering::SeqCst));
            (cold_start_failed, instances.is_empty())
        };
        let orphans: Vec<Reply> = {
            let mut in_flight = self.in_flight();
            let ids: Vec<String> = in_flight
                .iter()
                .filter(|(_, taken)| taken.instance == instance)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter()
                .filter_map(|id| in_flight.remove(id))
                .map(|taken| taken.reply)
                .collect()
        };
        for reply in orphans {
            let _ = reply.send(Err(InvokeError::Crashed));
        }
        if cold_start_failed && none_left {
            let mut queue = self.queue_rx.lock().await;
            while let Ok(invocation) = queue.try_recv() {
                self.queued.fetch_sub(1, Ordering::SeqCst);
                let _ = invocation.reply.send(Err(InvokeError::Crashed));
            }
        } else if !self.stopping.load(Ordering::SeqCst) {
            let _ = self.replace.send(());
        }
    }

    /// Stops a process that has not asked for work within Lambda's init timeout.
    fn watch_init(self: &Arc<Self>, instance: u64, ready: Arc<AtomicBool>) {
        let host = self.clone();
        let limit = self.spec.init_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            if !ready.load(Ordering::SeqCst) {
                tracing::error!(
                    function = %host.spec.logical_id,
                    "init timed out after {limit:?}: stopping the process"
                );
                host.stop_instance(instance).await;
            }
        });
    }

    async fn stop_instance(&self, instance: u64) {
        if let Some(kill) = self
            .instances
            .lock()
            .await
            .get_mut(&instance)
            .and_then(|i| i.kill.take())
        {
            let _ = kill.send(());
        }
    }

    /// Stops every process of the function.
    pub async fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for instance in self.instances.lock().await.values_mut() {
            if let Some(kill) = instance.kill.take() {
                let _ = kill.send(());
            }
        }
    }

    /// Invokes the function synchronously, as API Gateway does. The wait for a
    /// free process is bounded only by the caller (API Gateway's own clock).
    pub async fn invoke(self: &Arc<Self>, payload: Value) -> Result<Value, InvokeError> {
        self.invoke_within(payload, None).await
    }

    /// Invokes the function; with `run_limit`, the caller stops waiting once a
    /// process has held the invocation that long (Cognito's 5 s for a trigger),
    /// while the function itself runs on to its own timeout, as on AWS.
    pub async fn invoke_within(
        self: &Arc<Self>,
        payload: Value,
        run_limit: Option<Duration>,
    ) -> Result<Value, InvokeError> {
        let permit = match &self.reserved {
            Some(reserved) => Some(
                reserved
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| InvokeError::Throttled)?,
            ),
            None => None,
        };
        let (reply, mut answer) = oneshot::channel();
        let (started_tx, started) = oneshot::channel();
        let invocation = Invocation {
            id: uuid::Uuid::new_v4().to_string(),
            payload,
            reply,
            started: started_tx,
            permit,
        };
        self.queued.fetch_add(1, Ordering::SeqCst);
        if self.queue_tx.send(invocation).is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(InvokeError::Crashed);
        }
        self.scale().await?;
        let Some(limit) = run_limit else {
            return answer.await.unwrap_or(Err(InvokeError::Crashed));
        };
        tokio::select! {
            result = &mut answer => return result.unwrap_or(Err(InvokeError::Crashed)),
            _ = started => {}
        }
        match tokio::time::timeout(limit, answer).await {
            Ok(result) => result.unwrap_or(Err(InvokeError::Crashed)),
            Err(_) => Err(InvokeError::NotAnsweredWithin(limit)),
        }
    }

    /// Ends an invocation that outlived its timeout, and the process running it.
    fn watch_deadline(self: &Arc<Self>, id: String) {
        let host = self.clone();
        let timeout = self.spec.timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(taken) = host.take_in_flight(&id) {
                let _ = taken.reply.send(Err(InvokeError::Timeout(timeout)));
                host.stop_instance(taken.instance).await;
            }
        });
    }
}

/// Every function of the stack, by logical id.
#[derive(Default, Clone)]
pub struct Functions {
    hosts: HashMap<String, Arc<FunctionHost>>,
}

impl Functions {
    pub fn insert(&mut self, host: Arc<FunctionHost>) {
        self.hosts.insert(host.logical_id().to_owned(), host);
    }

    pub fn get(&self, logical_id: &str) -> Option<&Arc<FunctionHost>> {
        self.hosts.get(logical_id)
    }

    /// By logical id, binary name or function name, as `aws lambda invoke` would name it.
    pub fn find(&self, name: &str) -> Option<&Arc<FunctionHost>> {
        self.hosts.get(name).or_else(|| {
            self.hosts
                .values()
                .find(|h| h.binary_name() == name || h.name() == name)
        })
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<FunctionHost>> {
        self.hosts.values()
    }

    pub async fn invoke(&self, logical_id: &str, payload: Value) -> Result<Value, InvokeError> {
        self.invoke_within(logical_id, payload, None).await
    }

    /// [`FunctionHost::invoke_within`] the function with this logical id.
    pub async fn invoke_within(
        &self,
        logical_id: &str,
        payload: Value,
        run_limit: Option<Duration>,
    ) -> Result<Value, InvokeError> {
        let host = self
            .get(logical_id)
            .ok_or_else(|| InvokeError::UnknownFunction(logical_id.to_owned()))?;
        host.invoke_within(payload, run_limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(binary: &str) -> FunctionSpec {
        FunctionSpec {
            logical_id: "Probe".into(),
            name: "probe".into(),
            binary: binary.into(),
            environment: vec![],
            timeout: Duration::from_secs(5),
            traced: false,
            reserved_concurrency: None,
            max_instances: 4,
            init_timeout: INIT_TIMEOUT,
        }
    }

    async fn host(binary: &str) -> Arc<FunctionHost> {
        FunctionHost::start(spec(binary)).await.unwrap()
    }

    /// A function written against the Runtime API: it sleeps `INIT_SLEEP` seconds
    /// before its first poll, then answers each event with itself after sleeping
    /// the event's `sleep` seconds.
    const FAKE_FUNCTION: &str = r#"#!/usr/bin/env python3
import json, os, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
time.sleep(float(os.environ.get("INIT_SLEEP", "0")))
while True:
    with urllib.request.urlopen(api + "next") as r:
        request_id = r.headers["lambda-runtime-aws-request-id"]
        event = json.loads(r.read())
    time.sleep(event.get("sleep", 0))
    answer = urllib.request.Request(api + request_id + "/response", data=json.dumps(event).encode(), method="POST")
    urllib.request.urlopen(answer).read()
"#;

    /// The fake function as an executable file, and the folder that holds it.
    fn fake_function() -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("runtime-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bootstrap");
        std::fs::write(&path, FAKE_FUNCTION).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (path, dir)
    }

    async fn fake_host(configure: impl FnOnce(&mut FunctionSpec)) -> Arc<FunctionHost> {
        let (path, _) = fake_function();
        let mut spec = spec(path.to_str().unwrap());
        configure(&mut spec);
        let host = FunctionHost::start(spec).await.unwrap();
        host.ensure_running().await.unwrap();
        host
    }

    #[tokio::test]
    async fn waiting_for_a_busy_process_does_not_count_against_the_run_limit() {
        let host = fake_host(|s| s.max_instances = 1).await;
        let busy = tokio::spawn({
            let host = host.clone();
            async move { host.invoke(json!({"sleep": 3})).await }
        });
        while host.in_flight().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Waits about 3 s for the only process, then runs well inside 2 s.
        let queued = host
            .invoke_within(json!({"n": 2}), Some(Duration::from_secs(2)))
            .await
            .unwrap();
        assert_eq!(queued, json!({"n": 2}));
        assert!(busy.await.unwrap().is_ok());
        host.stop().await;
    }

    #[tokio::test]
    async fn a_run_past_the_callers_limit_is_a_timeout_for_the_caller() {
        let host = fake_host(|_| {}).await;
        let err = host
            .invoke_within(json!({"sleep": 2}), Some(Duration::from_millis(300)))
            .await
            .unwrap_err();
        assert!(matches!(err, InvokeError::NotAnsweredWithin(_)), "{err}");
        host.stop().await;
    }

    #[tokio::test]
    async fn reserved_concurrency_throttles_at_once_instead_of_queueing() {
        let host = fake_host(|s| s.reserved_concurrency = Some(1)).await;
        let busy = tokio::spawn({
            let host = host.clone();
            async move { host.invoke(json!({"sleep": 1})).await }
        });
        while host.reserved.as_ref().unwrap().available_permits() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let err = host.invoke(json!({})).await.unwrap_err();
        assert!(matches!(err, InvokeError::Throttled), "{err}");
        assert!(busy.await.unwrap().is_ok());
        assert!(
            host.invoke(json!({})).await.is_ok(),
            "a free unit is used again"
        );
        host.stop().await;
    }

    #[tokio::test]
    async fn reserved_concurrency_zero_throttles_every_invocation() {
        let mut spec = spec("/bin/true");
        spec.reserved_concurrency = Some(0);
        let zero = FunctionHost::start(spec).await.unwrap();
        assert!(matches!(
            zero.invoke(json!({})).await.unwrap_err(),
            InvokeError::Throttled
        ));
    }

    #[tokio::test]
    async fn a_timed_out_process_is_replaced_and_the_queued_work_still_runs() {
        let host = fake_host(|s| {
            s.max_instances = 1;
            s.timeout = Duration::from_secs(1);
        })
        .await;
        let stuck = tokio::spawn({
            let host = host.clone();
            async move { host.invoke(json!({"sleep": 30})).await }
        });
        while host.in_flight().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let next = host.invoke(json!({"n": 1})).await.unwrap();
        assert_eq!(next, json!({"n": 1}));
        assert!(matches!(
            stuck.await.unwrap().unwrap_err(),
            InvokeError::Timeout(_)
        ));
        host.stop().await;
    }

    #[tokio::test]
    async fn a_process_that_never_asks_for_work_is_stopped_at_the_init_timeout() {
        let (path, _) = fake_function();
        let mut spec = spec(path.to_str().unwrap());
        spec.environment = vec![("INIT_SLEEP".into(), "60".into())];
        spec.init_timeout = Duration::from_millis(500);
        let host = FunctionHost::start(spec).await.unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(30), host.invoke(json!({}))).await;
        let err = answered
            .expect("the init timeout ends the wait")
            .unwrap_err();
        assert!(matches!(err, InvokeError::Crashed), "{err}");
    }

    #[tokio::test]
    async fn a_process_that_dies_at_cold_start_fails_every_invocation_without_hanging() {
        let host = host("/bin/false").await;
        for _ in 0..2 {
            let err = host.invoke(json!({})).await.unwrap_err();
            assert!(matches!(err, InvokeError::Crashed), "{err}");
        }
    }

    #[tokio::test]
    async fn a_missing_binary_is_reported_by_name() {
        let host = host("/nonexistent/bootstrap").await;
        let err = host.invoke(json!({})).await.unwrap_err();
        assert!(err.to_string().contains("/nonexistent/bootstrap"));
    }
}
