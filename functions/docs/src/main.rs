use gatehouse::http::run;
use gatehouse::telemetry;
use lambda_http::Error;

mod handler;

// One event at a time per process: one thread (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    run(|req| async move { handler::handle(req) }).await
}
