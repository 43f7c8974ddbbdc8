//! The emulated AWS services: a `moto_server` child process on loopback, and a small
//! client that speaks the AWS JSON protocol to it for provisioning and look-ups.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("cannot start {program}: {source} (run `make dev`, which installs it)")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("moto did not become ready on port {0}")]
    NotReady(u16),
    #[error("moto request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{target} failed: {kind}: {message}")]
    Api {
        target: String,
        kind: String,
        message: String,
    },
}

/// moto's server with the stack's corrections (see the file).
const SERVE: &str = include_str!("serve.py");

/// The interpreter `moto_server` runs on, from its script's `#!` line (a bare
/// name is looked up on `PATH`).
pub fn python_of(moto_server: &Path) -> Result<PathBuf, String> {
    let script = if moto_server.components().count() > 1 {
        moto_server.to_path_buf()
    } else {
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join(moto_server))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| format!("{} is not on PATH", moto_server.display()))?
    };
    let text = std::fs::read_to_string(&script)
        .map_err(|e| format!("cannot read {}: {e}", script.display()))?;
    let first = text.lines().next().unwrap_or_default();
    first
        .strip_prefix("#!")
        .map(|p| PathBuf::from(p.trim()))
        .ok_or_else(|| format!("{} has no #! line", script.display()))
}

pub struct MotoServer {
    pub child: Child,
    pub endpoint: String,
}

impl MotoServer {
    /// Starts moto's server (the `moto_server` script's package, on its own
    /// interpreter) with the corrections in `serve.py`.
    pub async fn start(moto_server: &Path, port: u16, log: Stdio) -> Result<Self, MotoError> {
        let program = python_of(moto_server).map_err(|why| MotoError::Spawn {
            program: moto_server.display().to_string(),
            source: std::io::Error::other(why),
        })?;
        let child = Command::new(&program)
            .args(["-c", SERVE, "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| MotoError::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http
                .get(format!("{endpoint}/moto-api/"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(Self { child, endpoint });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(MotoError::NotReady(port))
    }
}

/// The AWS JSON protocol against moto. moto does not check signatures, but it does
/// read the service and region from the credential scope.
#[derive(Clone)]
pub struct AwsJson {
    http: reqwest::Client,
    endpoint: String,
    /// The access key in the credential scope: the front door knows a
    /// function's role by it (`None`: provisioning, straight to moto).
    access_key: Option<String>,
}

impl AwsJson {
    pub fn new(endpoint: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            endpoint: endpoint.to_owned(),
            access_key: None,
        }
    }

    /// Calls as a function would: through the IAM front door at `endpoint`,
    /// with the function's access key.
    pub fn as_function(endpoint: &str, access_key: String) -> Self {
        Self {
            access_key: Some(access_key),
            ..Self::new(endpoint)
        }
    }

    fn authorization(&self, service: Service) -> String {
        service.authorization(self.access_key.as_deref().unwrap_or("local"))
    }

    pub async fn call(
        &self,
        service: Service,
        operation: &str,
        body: &Value,
    ) -> Result<Value, MotoError> {
        let (prefix, version) = match service {
            Service::DynamoDb => ("DynamoDB_20120810", "1.0"),
            Service::Cognito => ("AWSCognitoIdentityProviderService", "1.1"),
            Service::Sqs => ("AmazonSQS", "1.0"),
            Service::Kms => ("TrentService", "1.1"),
            Service::Sns => {
                return Err(MotoError::Api {
                    target: operation.to_owned(),
                    kind: "NotJsonProtocol".into(),
                    message: "SNS speaks the query protocol: use `query`".into(),
                });
            }
            Service::Ses => {
                return Err(MotoError::Api {
                    target: operation.to_owned(),
                    kind: "NotJsonProtocol".into(),
                    message: "SESv2 speaks REST-JSON: use `rest`".into(),
                });
            }
        };
        let target = format!("{prefix}.{operation}");
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", format!("application/x-amz-json-{version}"))
            .header("x-amz-target", &target)
            .header("authorization", self.authorization(service))
            .body(body.to_string())
            .send()
            .await?;
        Self::answer(target, response).await
    }

    /// A query-protocol call (SNS): form parameters in, the XML answer's text out.
    pub async fn query(
        &self,
        service: Service,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<String, MotoError> {
        let mut form: Vec<(&str, &str)> = vec![("Action", action), ("Version", "2010-03-31")];
        form.extend_from_slice(params);
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", crate::form::encode(k), crate::form::encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", self.authorization(service))
            .body(body)
            .send()
            .await?;
        let ok = response.status().is_success();
        let text = response.text().await.unwrap_or_default();
        if ok {
            Ok(text)
        } else {
            Err(MotoError::Api {
                target: action.to_owned(),
                kind: xml_value(&text, "Code").unwrap_or_else(|| "UnknownError".into()),
                message: xml_value(&text, "Message").unwrap_or_default(),
            })
        }
    }

    /// A REST-JSON call (SESv2).
    pub async fn rest(
        &self,
        service: Service,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value, MotoError> {
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let response = self
            .http
            .request(method, format!("{}{path}", self.endpoint))
            .header("content-type", "application/json")
            .header("authorization", self.authorization(service))
            .body(body.to_string())
            .send()
            .await?;
        Self::answer(path.to_owned(), response).await
    }

    async fn answer(target: String, response: reqwest::Response) -> Result<Value, MotoError> {
        let ok = response.status().is_success();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if ok {
            return Ok(value);
        }
        let kind = value["__type"].as_str().unwrap_or("UnknownError");
        Err(MotoError::Api {
            target,
            kind: kind.rsplit('#').next().unwrap_or(kind).to_owned(),
            message: value["message"]
                .as_str()
                .or(value["Message"].as_str())
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

/// An AWS JSON-protocol error answer, as the SDKs parse it (`__type`, `message`,
/// `x-amzn-ErrorType`).
pub fn aws_json_error(
    status: axum::http::StatusCode,
    kind: &str,
    message: &str,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(kind) {
        headers.insert("x-amzn-errortype", value);
    }
    (
        status,
        headers,
        serde_json::json!({"__type": kind, "message": message}).to_string(),
    )
        .into_response()
}

/// How long an answer from moto may take before the stack log says so.
const SLOW_ANSWER: Duration = Duration::from_millis(1000);

/// The operation a forwarded request names: its `X-Amz-Target`, else its
/// `Action=` (SQS and SNS query calls put it in the body, so the path stands in).
fn operation_of(headers: &axum::http::HeaderMap, path: &str) -> String {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| path.to_owned(), str::to_owned)
}

/// Sends a request to moto as it came (the functions' SDK calls): moto's status,
/// headers and body.
pub async fn forward(
    http: &reqwest::Client,
    endpoint: &str,
    method: &axum::http::Method,
    path: &str,
    headers: &axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<
    (
        axum::http::StatusCode,
        axum::http::HeaderMap,
        axum::body::Bytes,
    ),
    reqwest::Error,
> {
    let method =
        reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut request = http.request(method, format!("{endpoint}{path}"));
    for (name, value) in headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    let started = std::time::Instant::now();
    let response = request.body(body).send().await?;
    // A slow answer is the first thing to look for when a function's call
    // timed out (a health probe gives up after two seconds).
    let operation = operation_of(headers, path);
    // A receive long-polls: its slowness is the wait it asked for.
    if started.elapsed() >= SLOW_ANSWER && operation != "AmazonSQS.ReceiveMessage" {
        tracing::warn!(
            %operation,
            ms = started.elapsed().as_millis() as u64,
            "moto answered slowly"
        );
    }
    let status = axum::http::StatusCode::from_u16(response.status().as_u16())
        .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
    let mut out = axum::http::HeaderMap::new();
    for (name, value) in response.headers() {
        if matches!(
            name.as_str(),
            "content-length" | "connection" | "transfer-encoding"
        ) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_str().as_bytes()),
            axum::http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(name, value);
        }
    }
    Ok((status, out, response.bytes().await?))
}

#[derive(Debug, Clone, Copy)]
pub enum Service {
    DynamoDb,
    Cognito,
    Ses,
    Sqs,
    Sns,
    Kms,
}

/// The text of the first `<name>` element of an XML answer.
pub fn xml_value(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_owned())
}

impl Service {
    /// A SigV4-shaped header: moto reads the service and region from its scope.
    fn authorization(self, access_key: &str) -> String {
        let scope = match self {
            Self::DynamoDb => "dynamodb",
            Self::Cognito => "cognito-idp",
            Self::Ses => "ses",
            Self::Sqs => "sqs",
            Self::Sns => "sns",
            Self::Kms => "kms",
        };
        format!(
            "AWS4-HMAC-SHA256 Credential={access_key}/20260101/{}/{scope}/aws4_request, SignedHeaders=host, Signature=0",
            crate::template::REGION
        )
    }
}
