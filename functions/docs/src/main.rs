use gatehouse::telemetry;
use lambda_http::{Error, run, service_fn};

mod handler;

// One event at a time per process: one thread (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    run(service_fn(|req| async move { handler::handle(req) })).await
}
