//! The dependencies `GET /health` probes, each with one cheap read.

use super::aws::{AwsClients, AwsService, Call};
use crate::domain::AppError;
use crate::ports::health::Dependency;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

/// The table: a read (eventually consistent, half a read unit) of a key
/// nothing is stored under.
pub struct TableProbe {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl TableProbe {
    pub fn new(clients: &AwsClients, table: String) -> Self {
        Self {
            client: clients.dynamodb(),
            table,
        }
    }
}

#[async_trait]
impl Dependency for TableProbe {
    fn name(&self) -> &'static str {
        "table"
    }

    async fn ping(&self) -> Result<(), AppError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S("HEALTH".into()))
            .key("sk", AttributeValue::S("HEALTH".into()))
            .projection_expression("pk")
            .send()
            .await
            .map_err(|e| Call::dynamodb("GetItem").any(e))?;
        Ok(())
    }
}

/// The user pool: its description.
pub struct UserPoolProbe {
    client: aws_sdk_cognitoidentityprovider::Client,
    pool_id: String,
}

impl UserPoolProbe {
    pub fn new(clients: &AwsClients, pool_id: String) -> Self {
        Self {
            client: clients.cognito(),
            pool_id,
        }
    }
}

#[async_trait]
impl Dependency for UserPoolProbe {
    fn name(&self) -> &'static str {
        "identity"
    }

    async fn ping(&self) -> Result<(), AppError> {
        self.client
            .describe_user_pool()
            .user_pool_id(&self.pool_id)
            .send()
            .await
            .map_err(|e| Call::cognito("DescribeUserPool").any(e))?;
        Ok(())
    }
}

/// The notification queue: one of its attributes.
pub struct QueueProbe {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl QueueProbe {
    pub fn new(clients: &AwsClients, url: String) -> Self {
        Self {
            client: clients.sqs(),
            url,
        }
    }
}

#[async_trait]
impl Dependency for QueueProbe {
    fn name(&self) -> &'static str {
        "queue"
    }

    async fn ping(&self) -> Result<(), AppError> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| Call::of(AwsService::Sqs, "GetQueueAttributes").any(e))?;
        Ok(())
    }
}
