//! The template's SQS queues, with their attributes and redrive policies.

use super::*;

/// CloudFormation's queue properties that are SQS attributes of the same name.
pub(super) const QUEUE_ATTRIBUTES: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
];

/// SQS's default visibility timeout.
pub(super) const DEFAULT_VISIBILITY_TIMEOUT: u64 = 30;

pub(super) async fn provision_queues(
    template: &Template,
    aws: &AwsJson,
    out: &mut Provisioned,
) -> Result<(), ProvisionError> {
    // A queue names its dead-letter queue's ARN: create those first.
    let mut waiting = template.resources_of_type("AWS::SQS::Queue");
    while !waiting.is_empty() {
        let before = waiting.len();
        let mut still = Vec::new();
        for (id, raw) in waiting {
            let resolved = match out
                .refs
                .resolve_tree(&serde_yaml_ng::Value::Mapping(raw.clone()))
            {
                Ok(resolved) => resolved,
                Err(_) => {
                    still.push((id, raw));
                    continue;
                }
            };
            let props = to_api_json(&resolved, None);
            let name = props["QueueName"].as_str().unwrap_or(&id).to_owned();
            let mut attributes = Map::new();
            for key in QUEUE_ATTRIBUTES {
                match &props[*key] {
                    Value::Null => {}
                    Value::String(s) => {
                        attributes.insert((*key).into(), json!(s));
                    }
                    other => {
                        attributes.insert((*key).into(), json!(other.to_string()));
                    }
                }
            }
            let redrive = &props["RedrivePolicy"];
            let (dead_letter_arn, max_receive_count) = if redrive.is_null() {
                (None, None)
            } else {
                let arn = redrive["deadLetterTargetArn"].as_str().map(str::to_owned);
                let count = redrive["maxReceiveCount"]
                    .as_u64()
                    .or_else(|| redrive["maxReceiveCount"].as_str()?.parse().ok());
                attributes.insert(
                    "RedrivePolicy".into(),
                    json!(
                        json!({"deadLetterTargetArn": arn, "maxReceiveCount": count}).to_string()
                    ),
                );
                (arn, count)
            };
            aws.call(
                Service::Sqs,
                "CreateQueue",
                &json!({"QueueName": name, "Attributes": attributes}),
            )
            .await?;
            let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}");
            let url = format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}");
            out.refs.set_attribute(&id, "Arn", arn.clone());
            out.refs.set_attribute(&id, "QueueName", name.clone());
            out.refs.set_attribute(&id, "QueueUrl", url.clone());
            out.refs.set_ref(&id, url.clone());
            let visibility_timeout_secs = props["VisibilityTimeout"]
                .as_u64()
                .or_else(|| props["VisibilityTimeout"].as_str()?.parse().ok())
                .unwrap_or(DEFAULT_VISIBILITY_TIMEOUT);
            out.queues.insert(
                arn.clone(),
                Queue {
                    logical_id: id,
                    name,
                    url,
                    arn,
                    visibility_timeout_secs,
                    dead_letter_arn,
                    max_receive_count,
                },
            );
        }
        if still.len() == before {
            let ids: Vec<_> = still.iter().map(|(id, _)| id.as_str()).collect();
            return Err(ProvisionError::Invalid(format!(
                "queues whose properties name what does not exist (or each other): {}",
                ids.join(", ")
            )));
        }
        waiting = still;
    }
    // Topics, then the queues subscribed to them: moto delivers a publish to
    // its SQS subscribers, as SNS does. A queue policy is not evaluated
    // locally (moto delivers regardless); the template test checks it.
    for (id, raw) in template.resources_of_type("AWS::SNS::Topic") {
        let props = to_api_json(
            &out.refs.resolve_tree(&serde_yaml_ng::Value::Mapping(raw))?,
            None,
        );
        let name = props["TopicName"].as_str().unwrap_or(&id).to_owned();
        let answer = aws
            .query(Service::Sns, "CreateTopic", &[("Name", &name)])
            .await?;
        let arn = crate::moto::xml_value(&answer, "TopicArn").ok_or_else(|| {
            ProvisionError::Invalid(format!("{id}: CreateTopic gave no TopicArn"))
        })?;
        out.refs.set_attribute(&id, "TopicArn", arn.clone());
        out.refs.set_attribute(&id, "TopicName", name);
        out.refs.set_ref(&id, arn);
    }
    for (id, raw) in template.resources_of_type("AWS::SNS::Subscription") {
        let props = to_api_json(
            &out.refs.resolve_tree(&serde_yaml_ng::Value::Mapping(raw))?,
            None,
        );
        let field = |name: &str| {
            props[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| ProvisionError::Invalid(format!("{id} has no {name}")))
        };
        let answer = aws
            .query(
                Service::Sns,
                "Subscribe",
                &[
                    ("TopicArn", &field("TopicArn")?),
                    ("Protocol", &field("Protocol")?),
                    ("Endpoint", &field("Endpoint")?),
                ],
            )
            .await?;
        if let Some(arn) = crate::moto::xml_value(&answer, "SubscriptionArn") {
            out.refs.set_ref(&id, arn);
        }
    }
    for kind in ["AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"] {
        for (id, _) in template.resources_of_type(kind) {
            out.refs.set_ref(&id, id.clone());
        }
    }

    for (id, raw) in template.resources_of_type("AWS::SES::ConfigurationSet") {
        let props = to_api_json(
            &out.refs.resolve_tree(&serde_yaml_ng::Value::Mapping(raw))?,
            None,
        );
        let name = props["Name"].as_str().unwrap_or(&id).to_owned();
        aws.rest(
            Service::Ses,
            "POST",
            "/v2/email/configuration-sets",
            &json!({"ConfigurationSetName": name}),
        )
        .await?;
        out.refs.set_ref(&id, name);
    }
    // moto records no SES events: the destination is named only (a test
    // publishes SES-shaped events to its topic instead).
    for (id, _) in template.resources_of_type("AWS::SES::ConfigurationSetEventDestination") {
        out.refs.set_ref(&id, id.clone());
    }
    Ok(())
}
