use gatehouse::config::{ProcessEnv, app_name};
use gatehouse::{context::AppContext, telemetry};
use lambda_runtime::{Error, run, service_fn};

mod handler;

// One event at a time per process: one thread (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let app = app_name(&ProcessEnv)?;
    let passes = AppContext::from_env().await.sms_passes()?;
    run(service_fn(|event| handler::handle(&app, &*passes, event))).await
}
