use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use gatehouse::adapters::notify::CORRELATION_ATTRIBUTE;
use gatehouse::services::{DeliveryWorker, Received};
use gatehouse::telemetry::Correlation;
use lambda_runtime::{Error, LambdaEvent};

/// A batch from the delivery queue (`ReportBatchItemFailures`): the messages
/// not finished are reported, so only they return to the queue.
pub async fn handle(
    worker: &DeliveryWorker,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let messages: Vec<Received> = event
        .payload
        .records
        .into_iter()
        .map(|r| Received {
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
            correlation: Correlation {
                id: r
                    .message_attributes
                    .get(CORRELATION_ATTRIBUTE)
                    .and_then(|a| a.string_value.clone())
                    .unwrap_or_default(),
                trace_header: r.attributes.get("AWSTraceHeader").cloned(),
            },
            id: r.message_id.unwrap_or_default(),
            receipt_handle: r.receipt_handle.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let mut response = SqsBatchResponse::default();
    for id in worker.handle_batch(&messages).await {
        response.add_failure(id);
    }
    Ok(response)
}
