use gatehouse::config::{ProcessEnv, sign_up_policy};
use gatehouse::telemetry;
use lambda_runtime::{Error, run, service_fn};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let policy = sign_up_policy(&ProcessEnv)?;
    run(service_fn(|event| handler::handle(&policy, event))).await
}
