use gatehouse::http::run;
use gatehouse::{context::AppContext, telemetry};
use lambda_http::Error;

mod handler;

// One event at a time per process: one thread (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sessions = AppContext::from_env().await.sessions()?;
    run(|req| handler::handle(&sessions, req)).await
}
