use gatehouse::config::{ProcessEnv, sign_up_policy};
use gatehouse::telemetry;
use lambda_runtime::{Error, run, service_fn};

mod handler;

// One event at a time per process: one thread (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let policy = sign_up_policy(&ProcessEnv)?;
    run(service_fn(|event| handler::handle(&policy, event))).await
}
