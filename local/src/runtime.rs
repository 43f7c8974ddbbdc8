//! Runs each function's real `bootstrap` binary behind a Lambda Runtime API, as
//! Lambda does: a process polls `/invocation/next` and answers on `/response` or
//! `/error`. Like Lambda, a function scales out (up to [`MAX_INSTANCES`] processes)
//! when invocations arrive while every process is busy, and a process that dies is
//! replaced on demand, so a broken cold start fails every request, locally as on AWS.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

/// Processes per function at most (Lambda's concurrency, scaled to a laptop).
pub const MAX_INSTANCES: usize = 4;

/// How long Lambda lets a new process start before it gives up on it.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

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
    #[error("the function failed: {error_type}: {message}")]
    Function { error_type: String, message: String },
}

type Reply = oneshot::Sender<Result<Value, InvokeError>>;

struct Invocation {
    id: String,
    payload: Value,
    reply: Reply,
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
}

/// One running process of a function.
struct Instance {
    kill: Option<oneshot::Sender<()>>,
}

pub struct FunctionHost {
    spec: FunctionSpec,
    queue_tx: mpsc::UnboundedSender<Invocation>,
    queue_rx: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    /// Invocations sent but not yet taken by a process.
    queued: AtomicUsize,
    /// Taken invocations, by request id, with the instance running each.
    in_flight: std::sync::Mutex<HashMap<String, (u64, Reply)>>,
    instances: Mutex<HashMap<u64, Instance>>,
    next_instance: AtomicU64,
}

/// The Runtime API as one instance sees it: `gone` turns true when its process
/// has exited, so a poll it left behind gives up its place in the queue.
#[derive(Clone)]
struct InstanceApi {
    host: Arc<FunctionHost>,
    instance: u64,
    gone: watch::Receiver<bool>,
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
        Ok(Arc::new(Self {
            spec,
            queue_tx,
            queue_rx: Mutex::new(queue_rx),
            queued: AtomicUsize::new(0),
            in_flight: std::sync::Mutex::new(HashMap::new()),
            instances: Mutex::new(HashMap::new()),
            next_instance: AtomicU64::new(1),
        }))
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

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Reply)>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_in_flight(&self, id: &str) -> Option<(u64, Reply)> {
        self.in_flight().remove(id)
    }

    /// Starts a first process if none runs (a cold start before any request).
    pub async fn ensure_running(self: &Arc<Self>) -> Result<(), InvokeError> {
        let mut instances = self.instances.lock().await;
        if instances.is_empty() {
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
        if self.queued.load(Ordering::SeqCst) > idle && instances.len() < MAX_INSTANCES {
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
            },
        );
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

    /// Forgets an exited instance: its invocations fail, and if no process is
    /// left, so do the queued ones (a cold start that keeps failing).
    async fn retire(&self, instance: u64) {
        let mut instances = self.instances.lock().await;
        instances.remove(&instance);
        let orphans: Vec<Reply> = {
            let mut in_flight = self.in_flight();
            let ids: Vec<String> = in_flight
                .iter()
                .filter(|(_, (owner, _))| *owner == instance)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter()
                .filter_map(|id| in_flight.remove(id))
                .map(|(_, reply)| reply)
                .collect()
        };
        for reply in orphans {
            let _ = reply.send(Err(InvokeError::Crashed));
        }
        if instances.is_empty() {
            drop(instances);
            let mut queue = self.queue_rx.lock().await;
            while let Ok(invocation) = queue.try_recv() {
                self.queued.fetch_sub(1, Ordering::SeqCst);
                let _ = invocation.reply.send(Err(InvokeError::Crashed));
            }
        }
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
        for instance in self.instances.lock().await.values_mut() {
            if let Some(kill) = instance.kill.take() {
                let _ = kill.send(());
            }
        }
    }

    /// Invokes the function synchronously, as API Gateway and Cognito do.
    pub async fn invoke(self: &Arc<Self>, payload: Value) -> Result<Value, InvokeError> {
        let (reply, answer) = oneshot::channel();
        let invocation = Invocation {
            id: uuid::Uuid::new_v4().to_string(),
            payload,
            reply,
        };
        self.queued.fetch_add(1, Ordering::SeqCst);
        if self.queue_tx.send(invocation).is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(InvokeError::Crashed);
        }
        self.scale().await?;
        // The function's own timeout runs from when a process takes the
        // invocation (see `next`); this guard only ends a wait on processes that
        // never ask for work, as Lambda's init timeout does.
        let guard = self.spec.timeout + INIT_TIMEOUT;
        tokio::select! {
            result = answer => result.unwrap_or(Err(InvokeError::Crashed)),
            _ = tokio::time::sleep(guard) => Err(InvokeError::Timeout(guard)),
        }
    }

    /// Ends an invocation that outlived its timeout, and the process running it.
    fn watch_deadline(self: &Arc<Self>, id: String) {
        let host = self.clone();
        let timeout = self.spec.timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some((instance, reply)) = host.take_in_flight(&id) {
                let _ = reply.send(Err(InvokeError::Timeout(timeout)));
                host.stop_instance(instance).await;
            }
        });
    }
}

/// A new X-Ray trace header, as Lambda sends one with each invocation (the
/// runtime client puts it in `_X_AMZN_TRACE_ID`); sampled when the function's
/// tracing is active.
fn trace_id(sampled: bool) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let parent = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled={}",
        now_ms() / 1000,
        &id[..24],
        &parent[..16],
        u8::from(sampled)
    )
}

async fn next(State(api): State<InstanceApi>) -> Response {
    let InstanceApi {
        host,
        instance,
        mut gone,
    } = api;
    let mut queue = tokio::select! {
        queue = host.queue_rx.lock() => queue,
        _ = gone.wait_for(|gone| *gone) => return StatusCode::GONE.into_response(),
    };
    loop {
        let received = tokio::select! {
            received = queue.recv() => received,
            _ = gone.wait_for(|gone| *gone) => return StatusCode::GONE.into_response(),
        };
        let Some(invocation) = received else {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        };
        host.queued.fetch_sub(1, Ordering::SeqCst);
        // The caller gave up (timeout) before this was picked up.
        if invocation.reply.is_closed() {
            continue;
        }
        let mut headers = HeaderMap::new();
        let arn = format!(
            "arn:aws:lambda:{}:{}:function:{}",
            crate::template::REGION,
            crate::template::ACCOUNT_ID,
            host.spec.name
        );
        for (name, value) in [
            ("lambda-runtime-aws-request-id", invocation.id.clone()),
            (
                "lambda-runtime-deadline-ms",
                (now_ms() + host.spec.timeout.as_millis()).to_string(),
            ),
            ("lambda-runtime-invoked-function-arn", arn),
            ("lambda-runtime-trace-id", trace_id(host.spec.traced)),
            ("content-type", "application/json".to_owned()),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        host.in_flight()
            .insert(invocation.id.clone(), (instance, invocation.reply));
        host.watch_deadline(invocation.id);
        return (StatusCode::OK, headers, invocation.payload.to_string()).into_response();
    }
}

async fn respond(
    State(api): State<InstanceApi>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let Some((_, reply)) = api.host.take_in_flight(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = reply.send(Ok(value));
    StatusCode::ACCEPTED
}

fn function_error(body: &[u8]) -> InvokeError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    InvokeError::Function {
        error_type: value["errorType"]
            .as_str()
            .unwrap_or("Unhandled")
            .to_owned(),
        message: value["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}

async fn fail(State(api): State<InstanceApi>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let Some((_, reply)) = api.host.take_in_flight(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let _ = reply.send(Err(function_error(&body)));
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<InstanceApi>, body: Bytes) -> StatusCode {
    let err = function_error(&body);
    tracing::error!(function = %api.host.spec.logical_id, error = %err, "cold start failed");
    StatusCode::ACCEPTED
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
        let host = self
            .get(logical_id)
            .ok_or_else(|| InvokeError::UnknownFunction(logical_id.to_owned()))?;
        host.invoke(payload).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn host(binary: &str) -> Arc<FunctionHost> {
        FunctionHost::start(FunctionSpec {
            logical_id: "Broken".into(),
            name: "broken".into(),
            binary: binary.into(),
            environment: vec![],
            timeout: Duration::from_secs(5),
            traced: false,
        })
        .await
        .unwrap()
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
