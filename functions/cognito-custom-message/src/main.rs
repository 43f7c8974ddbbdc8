use gatehouse::config::{ProcessEnv, app_name};
use gatehouse::telemetry;
use lambda_runtime::{Error, run, service_fn};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let app = app_name(&ProcessEnv)?;
    run(service_fn(|event| handler::handle(&app, event))).await
}
