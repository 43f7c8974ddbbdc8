//! The floor the functions are measured against: aws-config, one DynamoDB
//! client, one consistent GetItem per request on tokio's current-thread runtime,
//! no logging, no event types. Never deployed; built only by the benchmark.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("TABLE_NAME")?;
    let client = &client;
    let table = &table;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let user = event.payload["user_id"]
            .as_str()
            .unwrap_or("nobody")
            .to_owned();
        let out = client
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(format!("USER#{user}")))
            .key("sk", AttributeValue::S("PROFILE".into()))
            .consistent_read(true)
            .send()
            .await?;
        Ok::<Value, Error>(json!({"found": out.item().is_some()}))
    }))
    .await
}
