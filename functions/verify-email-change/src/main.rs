use gatehouse::{context::AppContext, telemetry};
use lambda_http::{Error, run, service_fn};

mod handler;

// One event at a time per process: one thread (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let emails = AppContext::from_env().await.email_change_verification()?;
    run(service_fn(|req| handler::handle(&emails, req))).await
}
