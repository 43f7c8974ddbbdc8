use gatehouse::config::{ProcessEnv, app_name};
use gatehouse::telemetry;
use lambda_runtime::{Error, run, service_fn};

mod handler;

// One event at a time per process: one thread (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let app = app_name(&ProcessEnv)?;
    run(service_fn(|event| handler::handle(&app, event))).await
}
