use gatehouse::{context::AppContext, telemetry};
use lambda_http::{Error, run, service_fn};

mod handler;

// One event at a time per process: one thread (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let notifications = AppContext::from_env().await.notifications()?;
    run(service_fn(|req| handler::handle(&notifications, req))).await
}
