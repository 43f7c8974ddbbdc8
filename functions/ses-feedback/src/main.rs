use gatehouse::{context::AppContext, telemetry};
use lambda_runtime::{Error, run, service_fn};

mod handler;

// One event at a time per process: one thread (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let feedback = AppContext::from_env().await.ses_feedback()?;
    run(service_fn(|event| handler::handle(&feedback, event))).await
}
