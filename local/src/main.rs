//! `gatehouse-local`: the whole of Gatehouse on one machine, without Docker or an
//! AWS account. moto plays DynamoDB and Cognito; this binary plays API Gateway, the
//! Lambda service and Cognito's trigger machinery, all read from `template.yaml`.

mod cognito;
mod form;
mod gateway;
mod iam;
mod jwt;
mod lambda_env;
mod moto;
mod oauth;
mod outage;
mod outbox;
mod provision;
mod queues;
mod runtime;
mod strict;
mod template;
mod throttling;

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

struct Options {
    port: u16,
    moto_port: u16,
    template: PathBuf,
    bin_dir: PathBuf,
    moto_server: PathBuf,
    exit_with_stdin: bool,
    parameter_overrides: Vec<(String, String)>,
    /// A `samconfig.toml` environment whose `parameter_overrides` apply first.
    config_env: Option<String>,
    config_file: PathBuf,
    /// Processes per function at most (`--max-instances`).
    max_instances: usize,
}

const USAGE: &str = "usage: gatehouse-local [--port N] [--moto-port N] [--template FILE] \
[--bin-dir DIR] [--moto-server PATH] [--exit-with-stdin]
  [--parameter-overrides \"Key=Value ...\"]  (template parameters, as `sam deploy` takes them)
  [--config-env NAME] [--config-file samconfig.toml]  (that environment's parameter_overrides first)
  [--max-instances N]  (processes per function at most; default GATEHOUSE_LOCAL_MAX_INSTANCES,
                        else the machine's cores and at least 4)
  --port 0 picks a free port; the URL is printed as `ready on <url>`.";

fn options() -> Result<Options, String> {
    let mut opts = Options {
        port: 3000,
        moto_port: 0,
        template: "template.yaml".into(),
        bin_dir: "target/debug".into(),
        moto_server: std::env::var_os("MOTO_SERVER")
            .map_or_else(|| "moto_server".into(), PathBuf::from),
        exit_with_stdin: false,
        parameter_overrides: Vec::new(),
        config_env: None,
        config_file: "samconfig.toml".into(),
        max_instances: match std::env::var("GATEHOUSE_LOCAL_MAX_INSTANCES") {
            Ok(n) => parse_max_instances(&n)?,
            Err(_) => runtime::default_max_instances(),
        },
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--port" => opts.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--moto-port" => {
                opts.moto_port = value()?.parse().map_err(|e| format!("--moto-port: {e}"))?
            }
            "--template" => opts.template = value()?.into(),
            "--bin-dir" => opts.bin_dir = value()?.into(),
            "--moto-server" => opts.moto_server = value()?.into(),
            "--exit-with-stdin" => opts.exit_with_stdin = true,
            "--parameter-overrides" => opts
                .parameter_overrides
                .extend(strict::parse_overrides(&value()?)?),
            "--config-env" => opts.config_env = Some(value()?).filter(|e| !e.is_empty()),
            "--config-file" => opts.config_file = value()?.into(),
            "--max-instances" => opts.max_instances = parse_max_instances(&value()?)?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(opts)
}

fn parse_max_instances(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "--max-instances (or GATEHOUSE_LOCAL_MAX_INSTANCES) takes a whole number of at least 1, not {text:?}"
        )),
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOCAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .compact()
        .init();
    let opts = match options() {
        Ok(opts) => opts,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    if let Err(err) = run(opts).await {
        tracing::error!("local stack failed: {err}");
        std::process::exit(1);
    }
}

async fn run(opts: Options) -> Result<(), BoxError> {
    let mut template = template::Template::load(&opts.template)?;
    let mut overrides = Vec::new();
    if let Some(env) = &opts.config_env {
        let config = std::fs::read_to_string(&opts.config_file)
            .map_err(|e| format!("cannot read {}: {e}", opts.config_file.display()))?;
        overrides = strict::samconfig_overrides(&config, env)?;
        tracing::info!("parameter overrides of samconfig environment {env}: {overrides:?}");
    }
    // Overrides on the command line win over the environment's, as with sam deploy.
    overrides.extend(opts.parameter_overrides.iter().cloned());
    template.override_parameters(&overrides)?;
    let functions = template.functions()?;
    // Routes are checked before anything starts: a bad one stops the stack at once.
    let routes = template.routes()?;
    let missing: Vec<String> = functions
        .iter()
        .map(|f| opts.bin_dir.join(&f.binary))
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "function binaries are missing ({}); build them with `cargo build --workspace --bins`",
            missing.join(", ")
        )
        .into());
    }

    let moto_port = if opts.moto_port == 0 {
        free_port()?
    } else {
        opts.moto_port
    };
    let mut moto = moto::MotoServer::start(&opts.moto_server, moto_port, Stdio::null()).await?;
    tracing::info!("moto on {}", moto.endpoint);
    let aws = moto::AwsJson::new(&moto.endpoint);
    let provisioned = provision::provision(&template, &aws).await?;

    let outbox = outbox::Outbox::default();
    let front_door_listener = TcpListener::bind("127.0.0.1:0").await?;
    let front_door_endpoint = format!("http://{}", front_door_listener.local_addr()?);

    tracing::info!(
        "at most {} processes per function (--max-instances)",
        opts.max_instances
    );
    let mut hosts = runtime::Functions::default();
    let mut roles = HashMap::new();
    for function in &functions {
        let name = provisioned
            .refs
            .get_ref(&function.logical_id)
            .unwrap_or(&function.logical_id)
            .to_owned();
        let access_key = iam::access_key_for(&function.logical_id);
        let statements = iam::policy::role_statements(
            &function.logical_id,
            function.policies.as_ref(),
            &provisioned.refs,
        )?;
        roles.insert(
            access_key.clone(),
            iam::Role {
                name: format!("{}-{}Role", template::STACK_NAME, function.logical_id),
                session: name.clone(),
                statements,
            },
        );
        let binary = opts.bin_dir.join(&function.binary);
        let log_group = function
            .logging
            .log_group
            .as_ref()
            .map(|g| provisioned.refs.resolve(g))
            .transpose()?;
        let log_level = function
            .logging
            .application_level
            .as_ref()
            .map(|l| provisioned.refs.resolve(l))
            .transpose()?;
        let mut environment = lambda_env::environment(
            function,
            &binary,
            &lambda_env::Wiring {
                aws_endpoint: &front_door_endpoint,
                access_key_id: &access_key,
                function_name: &name,
                log_group,
                log_level,
            },
        );
        for (variable, value) in &function.environment {
            environment.push((variable.clone(), provisioned.refs.resolve(value)?));
        }
        let host = runtime::FunctionHost::start(runtime::FunctionSpec {
            logical_id: function.logical_id.clone(),
            name,
            binary,
            environment,
            timeout: Duration::from_secs(function.timeout_secs),
            traced: function.traced,
            reserved_concurrency: function
                .reserved_concurrency
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            max_instances: opts.max_instances,
            init_timeout: runtime::INIT_TIMEOUT,
        })
        .await?;
        host.ensure_running().await?;
        hosts.insert(host);
    }

    let codes = Arc::new(cognito::codes::Codes::default());
    let proxy = cognito::CognitoProxy::new(
        moto.endpoint.clone(),
        provisioned.pools_by_client.clone(),
        hosts.clone(),
        outbox.clone(),
        codes.clone(),
        provisioned.client_secrets.clone(),
        provisioned.client_write_attributes.clone(),
    );
    let outage = Arc::new(outage::Outage::new(moto.child.id()));
    let front_door = Arc::new(iam::FrontDoor {
        outbox: outbox.clone(),
        outage: outage.clone(),
        roles,
        tables: provisioned.tables.clone(),
        ses_identities: provisioned.ses_identities.clone(),
        cognito: proxy,
        moto_endpoint: moto.endpoint.clone(),
        http: reqwest::Client::new(),
    });
    tokio::spawn(outage::serve(
        front_door_listener,
        iam::router(front_door),
        outage.clone(),
    ));

    let mut event_sources = Vec::new();
    for event in template.queue_events()? {
        if !event.enabled {
            continue;
        }
        let arn = provisioned.refs.resolve(&event.queue)?;
        let queue = provisioned
            .queues
            .get(&arn)
            .ok_or_else(|| {
                format!(
                    "{}: SQS event {} names {arn}, which is no queue of the template",
                    event.function, event.name
                )
            })?
            .clone();
        let number = |value: &serde_yaml_ng::Value,
                      what: &str|
         -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
            let text = provisioned.refs.resolve(value)?;
            text.parse::<u64>().map_err(|_| {
                format!(
                    "{}: SQS event {}: {what} {text:?} is not a number",
                    event.function, event.name
                )
                .into()
            })
        };
        let timeout = functions
            .iter()
            .find(|f| f.logical_id == event.function)
            .map_or(3, |f| f.timeout_secs);
        let max_concurrency = event
            .max_concurrency
            .as_ref()
            .map(|v| number(v, "MaximumConcurrency"))
            .transpose()?;
        event_sources.push(queues::EventSource::new(
            event.function.clone(),
            timeout,
            queue,
            number(&event.batch_size, "BatchSize")?,
            number(&event.window_secs, "MaximumBatchingWindowInSeconds")?,
            event.reports_item_failures,
            max_concurrency,
        )?);
    }
    queues::start(event_sources, hosts.clone(), &front_door_endpoint);

    let issuer_prefix = format!("https://cognito-idp.{}.amazonaws.com/", template::REGION);
    let mut authorizers = BTreeMap::new();
    for (name, def) in template.jwt_authorizers() {
        let issuer = provisioned.refs.resolve(&def.issuer)?;
        let audience = def
            .audience
            .iter()
            .map(|a| provisioned.refs.resolve(a))
            .collect::<Result<Vec<_>, _>>()?;
        // Cognito's issuer serves its JWKS; locally moto serves it under the pool id.
        let jwks_url = match issuer.strip_prefix(&issuer_prefix) {
            Some(pool_id) => format!("{}/{pool_id}/.well-known/jwks.json", moto.endpoint),
            None => format!("{issuer}/.well-known/jwks.json"),
        };
        let authorizer = jwt::Authorizer::new(issuer, audience, &def.identity_source, jwks_url);
        authorizer
            .prefetch()
            .await
            .map_err(|e| format!("authorizer {name}: cannot read the pool's JWKS: {e}"))?;
        authorizers.insert(name, Arc::new(authorizer));
    }

    let throttle = match template.route_throttling() {
        Some((rate, burst)) => {
            let number = |value: &serde_yaml_ng::Value,
                          what: &str|
             -> Result<f64, Box<dyn std::error::Error + Send + Sync>> {
                let text = provisioned.refs.resolve(value)?;
                text.parse::<f64>().map_err(|_| {
                    format!("HttpApi DefaultRouteSettings: {what} {text:?} is not a number").into()
                })
            };
            Some(throttling::RouteThrottle::new(
                number(&rate, "ThrottlingRateLimit")?,
                number(&burst, "ThrottlingBurstLimit")?,
            ))
        }
        None => None,
    };
    let tokens = if provisioned.service_clients.is_empty() {
        None
    } else {
        Some(Arc::new(
            oauth::TokenEndpoint::new(
                provisioned.service_clients.clone(),
                &opts.moto_server,
                template::REGION,
            )
            .await?,
        ))
    };
    let gateway = Arc::new(gateway::Gateway {
        routes,
        authorizers,
        functions: hosts.clone(),
        outbox,
        codes,
        outage,
        access_log_format: template.access_log_format(),
        throttle,
        tokens,
        queues: provisioned.queues.values().cloned().collect(),
        moto: aws.clone(),
    });
    let listener = TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e} (pick another port with --port, or `make dev PORT=...`)", opts.port))?;
    let url = format!("http://{}", listener.local_addr()?);
    for route in &gateway.routes {
        tracing::info!(
            "route {} {} -> {}",
            route.method,
            route.path,
            route.function
        );
    }
    println!(
        "Gatehouse local stack ready on {url} (moto on {})",
        moto.endpoint
    );
    tokio::spawn(async move {
        // The peer address becomes the event's `sourceIp`, as on API Gateway.
        let app =
            gateway::router(gateway).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let _ = axum::serve(listener, app).await;
    });

    wait_for_shutdown(opts.exit_with_stdin).await;
    tracing::info!("stopping");
    for host in hosts.all() {
        host.stop().await;
    }
    let _ = moto.child.kill().await;
    // Let the function watchers reap their processes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}

/// Ctrl-C, SIGTERM, or (for test harnesses) the parent closing our stdin.
async fn wait_for_shutdown(exit_with_stdin: bool) {
    let stdin_closed = async {
        if !exit_with_stdin {
            return std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
        _ = stdin_closed => {}
    }
}
