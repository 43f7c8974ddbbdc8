use gatehouse::{context::AppContext, telemetry};
use lambda_runtime::{Error, run, service_fn};

mod handler;

// One event at a time per process: one thread (docs/performance.md); a
// batch's deliveries run concurrently on it.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let worker = AppContext::from_env().await.delivery_worker()?;
    run(service_fn(|event| handler::handle(&worker, event))).await
}
