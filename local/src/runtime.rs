//! Runs each function's real `bootstrap` binary behind its own Lambda Runtime API, as
//! Lambda does: the process polls `/invocation/next`, answers on `/response` or
//! `/error`. A process that dies is started again on the next invocation, so a
//! broken cold start fails every request, locally as on AWS.

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
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

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
}

struct Process {
    kill: Option<oneshot::Sender<()>>,
}

pub struct FunctionHost {
    spec: FunctionSpec,
    api_address: String,
    queue_tx: mpsc::UnboundedSender<Invocation>,
    queue_rx: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    in_flight: std::sync::Mutex<HashMap<String, Reply>>,
    process: Mutex<Option<Process>>,
    exits: watch::Sender<u64>,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

impl FunctionHost {
    /// Binds this function's Runtime API on a free loopback port.
    pub async fn start(spec: FunctionSpec) -> std::io::Result<Arc<Self>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let host = Arc::new(Self {
            spec,
            api_address: listener.local_addr()?.to_string(),
            queue_tx,
            queue_rx: Mutex::new(queue_rx),
            in_flight: std::sync::Mutex::new(HashMap::new()),
            process: Mutex::new(None),
            exits: watch::channel(0).0,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(host.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(host)
    }

    pub fn logical_id(&self) -> &str {
        &self.spec.logical_id
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn binary_name(&self) -> String {
        self.spec
            .binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn take_in_flight(&self, id: &str) -> Option<Reply> {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
    }

    /// Starts the process if none is running (a cold start).
    pub async fn ensure_running(self: &Arc<Self>) -> Result<(), InvokeError> {
        let mut process = self.process.lock().await;
        if process.is_some() {
            return Ok(());
        }
        let spec = &self.spec;
        let mut command = Command::new(&spec.binary);
        command
            .env_clear()
            .envs(spec.environment.iter().cloned())
            .env("AWS_LAMBDA_RUNTIME_API", &self.api_address)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        let mut child = command.spawn().map_err(|source| InvokeError::Spawn {
            binary: spec.binary.display().to_string(),
            source,
        })?;
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
        *process = Some(Process {
            kill: Some(kill_tx),
        });
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
            *host.process.lock().await = None;
            let orphans: Vec<Reply> = host
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain()
                .map(|(_, reply)| reply)
                .collect();
            for reply in orphans {
                let _ = reply.send(Err(InvokeError::Crashed));
            }
            host.exits.send_modify(|n| *n += 1);
        });
        Ok(())
    }

    pub async fn stop(&self) {
        if let Some(process) = self.process.lock().await.as_mut()
            && let Some(kill) = process.kill.take()
        {
            let _ = kill.send(());
        }
    }

    /// Invokes the function synchronously, as API Gateway and Cognito do.
    pub async fn invoke(self: &Arc<Self>, payload: Value) -> Result<Value, InvokeError> {
        let mut exits = self.exits.subscribe();
        exits.mark_unchanged();
        self.ensure_running().await?;
        let (reply, answer) = oneshot::channel();
        let timeout = self.spec.timeout;
        let invocation = Invocation {
            id: uuid::Uuid::new_v4().to_string(),
            payload,
            reply,
        };
        self.queue_tx
            .send(invocation)
            .map_err(|_| InvokeError::Crashed)?;
        // The function's own timeout runs from when its process takes the
        // invocation (see `next`); this guard only ends a wait on a process that
        // never asks for work, as Lambda's init timeout does.
        let guard = timeout + INIT_TIMEOUT;
        tokio::select! {
            result = answer => result.unwrap_or(Err(InvokeError::Crashed)),
            _ = exits.changed() => Err(InvokeError::Crashed),
            _ = tokio::time::sleep(guard) => Err(InvokeError::Timeout(guard)),
        }
    }

    /// Ends an invocation that outlived its timeout, and the process running it.
    fn watch_deadline(self: &Arc<Self>, id: String) {
        let host = self.clone();
        let timeout = self.spec.timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(reply) = host.take_in_flight(&id) {
                let _ = reply.send(Err(InvokeError::Timeout(timeout)));
                host.stop().await;
            }
        });
    }
}

/// How long Lambda lets a new process start before it gives up on it.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

async fn next(State(host): State<Arc<FunctionHost>>) -> Response {
    let mut queue = host.queue_rx.lock().await;
    loop {
        let Some(invocation) = queue.recv().await else {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        };
        // The caller gave up (timeout or crash) before this was picked up.
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
            ("content-type", "application/json".to_owned()),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        host.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(invocation.id.clone(), invocation.reply);
        host.watch_deadline(invocation.id);
        return (StatusCode::OK, headers, invocation.payload.to_string()).into_response();
    }
}

async fn respond(
    State(host): State<Arc<FunctionHost>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let Some(reply) = host.take_in_flight(&id) else {
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

async fn fail(
    State(host): State<Arc<FunctionHost>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let Some(reply) = host.take_in_flight(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let _ = reply.send(Err(function_error(&body)));
    StatusCode::ACCEPTED
}

async fn init_error(State(host): State<Arc<FunctionHost>>, body: Bytes) -> StatusCode {
    let err = function_error(&body);
    tracing::error!(function = %host.spec.logical_id, error = %err, "cold start failed");
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
