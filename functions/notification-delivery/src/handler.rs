use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use gatehouse::adapters::notify::received;
use gatehouse::services::{DeliveryWorker, Received};
use lambda_runtime::{Error, LambdaEvent};

/// A batch from the delivery queue (`ReportBatchItemFailures`): the messages
/// not finished are reported, so only they return to the queue.
pub async fn handle(
    worker: &DeliveryWorker,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let messages: Vec<Received> = event.payload.records.into_iter().map(received).collect();
    let mut response = SqsBatchResponse::default();
    for id in worker.handle_batch(&messages).await {
        response.add_failure(id);
    }
    Ok(response)
}
