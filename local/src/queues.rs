//! Lambda's SQS event source mapping, run locally as Lambda runs it: pollers
//! long-poll the queue with the function's own role (through the IAM front
//! door), fill a batch up to `BatchSize` or the batching window, invoke the
//! function with the exact SQS event, and on success delete the batch (with
//! `ReportBatchItemFailures`, all but the failures it names; an unknown or
//! empty identifier fails the whole batch). An error, a timeout or a crash
//! deletes nothing: the messages come back after their visibility timeout and
//! the queue's redrive policy moves them to the dead-letter queue in time.
//! `GET /_local/queues` shows every queue's depth.

use crate::moto::{AwsJson, Service};
use crate::provision::Queue;
use crate::runtime::Functions;
use crate::template::REGION;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One function's SQS event source, resolved and checked.
#[derive(Debug, Clone)]
pub struct EventSource {
    pub function: String,
    pub queue: Queue,
    pub batch_size: usize,
    pub window: Duration,
    pub reports_item_failures: bool,
    pub concurrency: usize,
}

/// Locally a mapping without `ScalingConfig` polls with this many pollers
/// (Lambda scales up to 1,000; a laptop needs few).
const DEFAULT_CONCURRENCY: usize = 2;
/// SQS's longest long poll.
const LONG_POLL_SECS: u64 = 20;

impl EventSource {
    /// Checks what Lambda checks when the mapping is created.
    pub fn new(
        function: String,
        function_timeout_secs: u64,
        queue: Queue,
        batch_size: u64,
        window_secs: u64,
        reports_item_failures: bool,
        max_concurrency: Option<u64>,
    ) -> Result<Self, String> {
        let named =
            |what: String| format!("{function}: SQS event source on {}: {what}", queue.name);
        if queue.visibility_timeout_secs < function_timeout_secs {
            return Err(named(format!(
                "the queue's visibility timeout ({} s) is shorter than the function's timeout ({function_timeout_secs} s); Lambda refuses such a mapping",
                queue.visibility_timeout_secs
            )));
        }
        if !(1..=10_000).contains(&batch_size) {
            return Err(named("BatchSize must be 1 to 10000".into()));
        }
        if window_secs > 300 {
            return Err(named(
                "MaximumBatchingWindowInSeconds must be 0 to 300".into(),
            ));
        }
        if batch_size > 10 && window_secs < 1 {
            return Err(named(
                "a BatchSize above 10 needs a MaximumBatchingWindowInSeconds of at least 1".into(),
            ));
        }
        if let Some(max) = max_concurrency
            && !(2..=1000).contains(&max)
        {
            return Err(named(
                "ScalingConfig.MaximumConcurrency must be 2 to 1000".into(),
            ));
        }
        Ok(Self {
            function,
            queue,
            batch_size: batch_size as usize,
            window: Duration::from_secs(window_secs),
            reports_item_failures,
            concurrency: max_concurrency.map_or(DEFAULT_CONCURRENCY, |m| m as usize),
        })
    }
}

/// Starts every mapping's pollers; they run for the life of the stack.
pub fn start(sources: Vec<EventSource>, functions: Functions, front_door: &str) {
    for source in sources {
        let sqs = AwsJson::as_function(front_door, crate::iam::access_key_for(&source.function));
        let source = Arc::new(source);
        for _ in 0..source.concurrency {
            tokio::spawn(poll(source.clone(), sqs.clone(), functions.clone()));
        }
        tracing::info!(
            function = %source.function,
            queue = %source.queue.name,
            pollers = source.concurrency,
            "SQS event source mapping started"
        );
    }
}

async fn poll(source: Arc<EventSource>, sqs: AwsJson, functions: Functions) {
    loop {
        let batch = match receive_batch(&source, &sqs).await {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(queue = %source.queue.name, error = %err, "cannot receive from the queue");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        let handles: Vec<String> = batch
            .iter()
            .map(|m| m["ReceiptHandle"].as_str().unwrap_or_default().to_owned())
            .collect();
        let event =
            json!({ "Records": batch.iter().map(|m| record(&source, m)).collect::<Vec<_>>() });
        let result = functions.invoke(&source.function, event).await;
        let delete: Vec<&String> = match &result {
            Ok(answer) if source.reports_item_failures => match failed_ids(answer, &batch) {
                Some(failed) => batch
                    .iter()
                    .zip(&handles)
                    .filter(|(m, _)| !failed.contains(m["MessageId"].as_str().unwrap_or_default()))
                    .map(|(_, h)| h)
                    .collect(),
                None => {
                    tracing::warn!(
                        function = %source.function,
                        "batchItemFailures names an unknown or empty message id: the whole batch fails"
                    );
                    Vec::new()
                }
            },
            Ok(_) => handles.iter().collect(),
            Err(err) => {
                tracing::warn!(function = %source.function, error = %err, "batch failed: nothing deleted");
                Vec::new()
            }
        };
        if let Err(err) = delete_batch(&source, &sqs, &delete).await {
            tracing::warn!(queue = %source.queue.name, error = %err, "cannot delete a processed batch");
        }
    }
}

/// Up to `BatchSize` messages: the first long poll waits for one; then the
/// batch fills until it is full or the batching window has passed.
async fn receive_batch(source: &EventSource, sqs: &AwsJson) -> Result<Vec<Value>, String> {
    let mut batch: Vec<Value> = Vec::new();
    let mut window_ends: Option<Instant> = None;
    loop {
        let wait = match window_ends {
            None => LONG_POLL_SECS,
            Some(end) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(batch);
                }
                left.as_secs().clamp(1, LONG_POLL_SECS)
            }
        };
        let want = (source.batch_size - batch.len()).min(10);
        let answer = match sqs
            .call(
                Service::Sqs,
                "ReceiveMessage",
                &json!({
                    "QueueUrl": source.queue.url,
                    "MaxNumberOfMessages": want,
                    "WaitTimeSeconds": wait,
                    "MessageSystemAttributeNames": ["All"],
                    "AttributeNames": ["All"],
                    "MessageAttributeNames": ["All"],
                }),
            )
            .await
        {
            Ok(answer) => answer,
            // The messages received earlier in this window are in flight now:
            // they go to the function, or they would stay invisible for the
            // queue's whole visibility timeout (a fan-out then looked stuck).
            Err(err) if !batch.is_empty() => {
                tracing::warn!(queue = %source.queue.name, error = %err, "a receive failed; the batch so far is delivered");
                return Ok(batch);
            }
            Err(err) => return Err(err.to_string()),
        };
        let received = answer["Messages"].as_array().cloned().unwrap_or_default();
        if received.is_empty() && batch.is_empty() {
            return Ok(batch);
        }
        batch.extend(received);
        if batch.len() >= source.batch_size || source.window.is_zero() {
            return Ok(batch);
        }
        window_ends.get_or_insert_with(|| Instant::now() + source.window);
    }
}

/// One record of the SQS event Lambda delivers.
fn record(source: &EventSource, message: &Value) -> Value {
    let attributes: Map<String, Value> = message["Attributes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let message_attributes: Map<String, Value> = message["MessageAttributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            (
                name.clone(),
                json!({
                    "stringValue": value["StringValue"],
                    "binaryValue": value["BinaryValue"],
                    "stringListValues": value["StringListValues"].as_array().cloned().unwrap_or_default(),
                    "binaryListValues": value["BinaryListValues"].as_array().cloned().unwrap_or_default(),
                    "dataType": value["DataType"],
                }),
            )
        })
        .collect();
    json!({
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message["MD5OfBody"],
        "md5OfMessageAttributes": message["MD5OfMessageAttributes"],
        "eventSource": "aws:sqs",
        "eventSourceARN": source.queue.arn,
        "awsRegion": REGION,
    })
}

/// The message ids a `ReportBatchItemFailures` answer names; `None` when one
/// is empty or not in the batch (then the whole batch fails, as on AWS). A
/// null or empty answer is a success for every message.
fn failed_ids(answer: &Value, batch: &[Value]) -> Option<HashSet<String>> {
    let in_batch: HashSet<&str> = batch
        .iter()
        .filter_map(|m| m["MessageId"].as_str())
        .collect();
    let mut failed = HashSet::new();
    for item in answer["batchItemFailures"].as_array().into_iter().flatten() {
        let id = item["itemIdentifier"].as_str().unwrap_or_default();
        if id.is_empty() || !in_batch.contains(id) {
            return None;
        }
        failed.insert(id.to_owned());
    }
    Some(failed)
}

async fn delete_batch(
    source: &EventSource,
    sqs: &AwsJson,
    handles: &[&String],
) -> Result<(), String> {
    for chunk in handles.chunks(10) {
        let entries: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, h)| json!({"Id": i.to_string(), "ReceiptHandle": h}))
            .collect();
        sqs.call(
            Service::Sqs,
            "DeleteMessageBatch",
            &json!({"QueueUrl": source.queue.url, "Entries": entries}),
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `GET /_local/queues`: each queue's visible, in-flight and delayed messages,
/// and where its dead letters go.
pub async fn depths(queues: &[Queue], moto: &AwsJson) -> Value {
    let mut out = Vec::new();
    for queue in queues {
        let attributes = moto
            .call(
                Service::Sqs,
                "GetQueueAttributes",
                &json!({"QueueUrl": queue.url, "AttributeNames": ["All"]}),
            )
            .await
            .map(|a| a["Attributes"].clone())
            .unwrap_or(Value::Null);
        let count = |name: &str| {
            attributes[name]
                .as_str()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        out.push(json!({
            "logical_id": queue.logical_id,
            "name": queue.name,
            "arn": queue.arn,
            "url": queue.url,
            "visible": count("ApproximateNumberOfMessages"),
            "in_flight": count("ApproximateNumberOfMessagesNotVisible"),
            "delayed": count("ApproximateNumberOfMessagesDelayed"),
            "dead_letter_queue": queue.dead_letter_arn.as_ref().and_then(|arn| arn.rsplit(':').next()),
            "max_receive_count": queue.max_receive_count,
        }));
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(visibility: u64) -> Queue {
        Queue {
            logical_id: "Q".into(),
            name: "q".into(),
            url: "https://sqs.us-east-1.amazonaws.com/123456789012/q".into(),
            arn: "arn:aws:sqs:us-east-1:123456789012:q".into(),
            visibility_timeout_secs: visibility,
            dead_letter_arn: None,
            max_receive_count: None,
        }
    }

    #[test]
    fn a_mapping_is_refused_as_lambda_refuses_it() {
        let make = |visibility, batch, window, max| {
            EventSource::new("F".into(), 30, queue(visibility), batch, window, true, max)
        };
        assert!(make(180, 10, 1, Some(5)).is_ok());
        assert!(
            make(29, 10, 0, None)
                .unwrap_err()
                .contains("visibility timeout")
        );
        assert!(
            make(180, 11, 0, None)
                .unwrap_err()
                .contains("MaximumBatchingWindowInSeconds")
        );
        assert!(make(180, 100, 1, None).is_ok());
        assert!(make(180, 10, 301, None).is_err());
        assert!(
            make(180, 10, 0, Some(1))
                .unwrap_err()
                .contains("MaximumConcurrency")
        );
    }

    #[test]
    fn item_failures_name_messages_of_the_batch_or_fail_it_all() {
        let batch = vec![json!({"MessageId": "a"}), json!({"MessageId": "b"})];
        assert_eq!(failed_ids(&Value::Null, &batch), Some(HashSet::new()));
        assert_eq!(
            failed_ids(
                &json!({"batchItemFailures": [{"itemIdentifier": "b"}]}),
                &batch
            ),
            Some(HashSet::from(["b".to_owned()]))
        );
        assert_eq!(
            failed_ids(
                &json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
                &batch
            ),
            None
        );
        assert_eq!(
            failed_ids(
                &json!({"batchItemFailures": [{"itemIdentifier": "zz"}]}),
                &batch
            ),
            None
        );
    }
}
