use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use gatehouse::services::{FeedbackService, Received};
use gatehouse::telemetry::Correlation;
use lambda_runtime::{Error, LambdaEvent};

/// A batch of SES bounce and complaint notifications (SNS, through the
/// feedback queue): the addresses they name are marked undeliverable.
pub async fn handle(
    feedback: &FeedbackService,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let messages: Vec<Received> = event
        .payload
        .records
        .into_iter()
        .map(|r| Received {
            receive_count: 1,
            // SES's notices start no request of ours: the message id is the
            // correlation.
            correlation: Correlation {
                id: r.message_id.clone().unwrap_or_default(),
                trace_header: r.attributes.get("AWSTraceHeader").cloned(),
            },
            id: r.message_id.unwrap_or_default(),
            receipt_handle: r.receipt_handle.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let mut response = SqsBatchResponse::default();
    for id in feedback.handle_batch(&messages).await {
        response.add_failure(id);
    }
    Ok(response)
}
