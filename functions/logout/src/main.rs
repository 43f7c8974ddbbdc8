use gatehouse::{context::AppContext, telemetry};
use lambda_http::{Error, run, service_fn};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let auth = AppContext::from_env().await.logout()?;
    run(service_fn(|req| handler::handle(&auth, req))).await
}
