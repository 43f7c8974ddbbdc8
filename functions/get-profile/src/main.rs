use gatehouse::{context::AppContext, telemetry};
use lambda_http::{Error, run, service_fn};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let profiles = AppContext::from_env().await.profiles()?;
    run(service_fn(|req| handler::handle(&profiles, req))).await
}
