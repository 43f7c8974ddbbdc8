use gatehouse::{context::AppContext, telemetry};
use lambda_runtime::{Error, run, service_fn};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let profiles = AppContext::from_env().await.onboarding()?;
    run(service_fn(|event| handler::handle(&profiles, event))).await
}
