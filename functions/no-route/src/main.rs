use gatehouse::http::run;
use gatehouse::telemetry;
use lambda_http::Error;

mod handler;

// One event at a time per process: one thread (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let routes = handler::Routes::from_spec(include_str!("../../../openapi.yaml"))?;
    run(|req| async { handler::handle(&routes, req) }).await
}
