use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use gatehouse::adapters::notify::received;
use gatehouse::services::{FeedbackService, Received};
use lambda_runtime::{Error, LambdaEvent};

/// A batch of SES bounce and complaint notifications (SNS, through the
/// feedback queue): the addresses they name are marked undeliverable.
pub async fn handle(
    feedback: &FeedbackService,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    // SES's notices start no request of ours: each correlates by its message id.
    let messages: Vec<Received> = event.payload.records.into_iter().map(received).collect();
    let mut response = SqsBatchResponse::default();
    for id in feedback.handle_batch(&messages).await {
        response.add_failure(id);
    }
    Ok(response)
}
