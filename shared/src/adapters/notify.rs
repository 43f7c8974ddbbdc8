//! The notification providers and queue: SES (email, sent as a raw MIME message
//! so the unsubscribe headers are ours), SNS (SMS) and SQS (the delivery queue).

use super::aws::{AwsClients, AwsService, Call};
use crate::domain::notifications::RenderedEmail;
use crate::domain::{AppError, Email};
use crate::metrics::{self, Metric, NotificationOutcome};
use crate::ports::notify::{DeliveryQueue, Mailer, QueueMessage, SendFailure, SmsSender};
use crate::telemetry::Correlation;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use base64::Engine;
use std::collections::HashMap;
use std::time::Duration;

/// SES error codes that refuse this message for good; any other failure is
/// worth another try (and counts toward the circuit breaker).
const SES_REJECTIONS: &[&str] = &["MessageRejected", "BadRequestException"];
/// SNS error codes that refuse this number for good.
const SNS_REJECTIONS: &[&str] = &["InvalidParameter", "InvalidParameterValue", "OptedOut"];

fn classify(call: Call, code: Option<&str>, rejections: &[&str], err: AppError) -> SendFailure {
    match code {
        Some(code) if rejections.contains(&code) => SendFailure::Rejected(format!(
            "{:?} {} refused it: {code}",
            call.service, call.operation
        )),
        _ => SendFailure::Transient(err),
    }
}

/// Email through SES v2, from the deployment's sender, in its configuration set
/// (whose bounce and complaint events mark addresses undeliverable).
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(clients: &AwsClients, from: String, configuration_set: Option<String>) -> Self {
        Self {
            client: clients.ses(),
            from,
            configuration_set,
        }
    }
}

/// A header value in RFC 2047 form when it is not plain ASCII.
fn header_text(value: &str) -> String {
    if value.is_ascii() {
        value.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}

/// Base64 in 76-character lines, as MIME bodies are written.
fn wrapped_base64(text: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    encoded
        .as_bytes()
        .chunks(76)
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A `multipart/alternative` message with text and HTML, and for marketing the
/// RFC 8058 one-click unsubscribe headers.
pub fn mime_message(
    from: &str,
    to: &Email,
    mail: &RenderedEmail,
    unsubscribe: Option<&str>,
) -> String {
    let boundary = format!("gatehouse-{}", uuid::Uuid::new_v4().simple());
    let mut headers = vec![
        format!("From: {from}"),
        format!("To: {to}"),
        format!("Subject: {}", header_text(&mail.subject)),
        "MIME-Version: 1.0".to_owned(),
    ];
    if let Some(url) = unsubscribe {
        headers.push(format!("List-Unsubscribe: <{url}>"));
        headers.push("List-Unsubscribe-Post: List-Unsubscribe=One-Click".to_owned());
    }
    headers.push(format!(
        "Content-Type: multipart/alternative; boundary=\"{boundary}\""
    ));
    let part = |kind: &str, body: &str| {
        format!(
            "--{boundary}\r\nContent-Type: {kind}; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            wrapped_base64(body)
        )
    };
    format!(
        "{}\r\n\r\n{}{}--{boundary}--\r\n",
        headers.join("\r\n"),
        part("text/plain", &mail.text),
        part("text/html", &mail.html)
    )
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send_email(
        &self,
        to: &Email,
        mail: &RenderedEmail,
        unsubscribe: Option<&str>,
    ) -> Result<String, SendFailure> {
        let call = Call::of(AwsService::Ses, "SendEmail");
        let raw = aws_sdk_sesv2::types::RawMessage::builder()
            .data(aws_sdk_sesv2::primitives::Blob::new(mime_message(
                &self.from,
                to,
                mail,
                unsubscribe,
            )))
            .build()
            .map_err(|e| SendFailure::Transient(AppError::unexpected(e)))?;
        let result = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(
                aws_sdk_sesv2::types::Destination::builder()
                    .to_addresses(to.as_str())
                    .build(),
            )
            .content(
                aws_sdk_sesv2::types::EmailContent::builder()
                    .raw(raw)
                    .build(),
            )
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.message_id().unwrap_or_default().to_owned()),
            Err(err) => match call.split(err) {
                Ok(service) => {
                    let code = service.code().map(str::to_owned);
                    Err(classify(
                        call,
                        code.as_deref(),
                        SES_REJECTIONS,
                        call.failed(&service),
                    ))
                }
                Err(err) => Err(SendFailure::Transient(err)),
            },
        }
    }
}

/// SMS through SNS, as transactional messages.
pub struct SnsSms {
    client: aws_sdk_sns::Client,
}

impl SnsSms {
    pub fn new(clients: &AwsClients) -> Self {
        Self {
            client: clients.sns(),
        }
    }
}

#[async_trait]
impl SmsSender for SnsSms {
    async fn send_sms(&self, to: &str, text: &str) -> Result<String, SendFailure> {
        let call = Call::of(AwsService::Sns, "Publish");
        let kind = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| SendFailure::Transient(AppError::unexpected(e)))?;
        let result = self
            .client
            .publish()
            .phone_number(to)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", kind)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.message_id().unwrap_or_default().to_owned()),
            Err(err) => match call.split(err) {
                Ok(service) => {
                    let code = service.code().map(str::to_owned);
                    Err(classify(
                        call,
                        code.as_deref(),
                        SNS_REJECTIONS,
                        call.failed(&service),
                    ))
                }
                Err(err) => Err(SendFailure::Transient(err)),
            },
        }
    }
}

/// The attributes [`SqsQueue::stamp`] puts on a message.
struct Stamp {
    correlation_id: Option<aws_sdk_sqs::types::MessageAttributeValue>,
    trace_header: Option<aws_sdk_sqs::types::MessageSystemAttributeValue>,
}

impl Stamp {
    fn attributes(&self) -> Option<HashMap<String, aws_sdk_sqs::types::MessageAttributeValue>> {
        let id = self.correlation_id.clone()?;
        Some(HashMap::from([(CORRELATION_ATTRIBUTE.to_owned(), id)]))
    }

    fn system_attributes(
        &self,
    ) -> Option<
        HashMap<
            aws_sdk_sqs::types::MessageSystemAttributeNameForSends,
            aws_sdk_sqs::types::MessageSystemAttributeValue,
        >,
    > {
        let trace = self.trace_header.clone()?;
        Some(HashMap::from([(
            aws_sdk_sqs::types::MessageSystemAttributeNameForSends::AwsTraceHeader,
            trace,
        )]))
    }
}

/// The message attribute naming the correlation id of the work that queued it.
const CORRELATION_ATTRIBUTE: &str = "correlation_id";

/// The other side of [`SqsQueue::stamp`], for every consumer of our queues: a
/// record as Lambda's SQS event source hands it over. A message that was not
/// stamped (SES's notices through SNS) correlates by its message id.
pub fn received(record: aws_lambda_events::sqs::SqsMessage) -> crate::services::Received {
    let id = record.message_id.unwrap_or_default();
    crate::services::Received {
        receive_count: record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1),
        correlation: Correlation {
            id: record
                .message_attributes
                .get(CORRELATION_ATTRIBUTE)
                .and_then(|a| a.string_value.clone())
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| id.clone()),
            trace_header: record.attributes.get("AWSTraceHeader").cloned(),
        },
        receipt_handle: record.receipt_handle.unwrap_or_default(),
        body: record.body.unwrap_or_default(),
        id,
    }
}

/// The delivery queue in SQS.
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    /// SQS takes ten messages per batch call.
    const BATCH: usize = 10;
    /// Batch calls in flight at once.
    const IN_FLIGHT: usize = 10;
    /// Rounds of resending the entries a batch call reports as failed.
    const ROUNDS: u32 = 5;

    pub fn new(clients: &AwsClients, url: String) -> Self {
        Self {
            client: clients.sqs(),
            url,
        }
    }

    fn body(message: &QueueMessage) -> Result<String, AppError> {
        serde_json::to_string(message).map_err(AppError::unexpected)
    }

    /// What every message carries besides its body: the correlation id of the
    /// work that queued it (a message attribute) and its X-Ray trace header
    /// (`AWSTraceHeader`, so the delivery joins the request's trace).
    fn stamp() -> Stamp {
        use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeValue};
        let correlation = Correlation::current();
        let trace = correlation
            .as_ref()
            .and_then(|c| c.trace_header.clone())
            .or_else(Correlation::invocation_trace_header);
        Stamp {
            correlation_id: correlation.filter(|c| !c.id.is_empty()).and_then(|c| {
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(c.id)
                    .build()
                    .ok()
            }),
            trace_header: trace.and_then(|t| {
                MessageSystemAttributeValue::builder()
                    .data_type("String")
                    .string_value(t)
                    .build()
                    .ok()
            }),
        }
    }

    /// One message alone: a single call (and, unlike a batch entry, one moto
    /// keeps the trace header of).
    async fn send_one(&self, body: String, delay_secs: Option<u32>) -> Result<(), AppError> {
        let stamp = Self::stamp();
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .set_delay_seconds(delay_secs.map(|d| d.min(900) as i32))
            .set_message_attributes(stamp.attributes())
            .set_message_system_attributes(stamp.system_attributes())
            .send()
            .await
            .map_err(|e| Call::of(AwsService::Sqs, "SendMessage").any(e))?;
        Ok(())
    }

    /// One batch call, sending again the entries SQS reports as failed.
    async fn send_batch(&self, chunk: &[String]) -> Result<(), AppError> {
        let call = Call::of(AwsService::Sqs, "SendMessageBatch");
        let stamp = Self::stamp();
        let mut pending: Vec<(String, &String)> = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| (i.to_string(), body))
            .collect();
        for round in 0..Self::ROUNDS {
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(50 << round)).await;
            }
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(*body)
                        .set_message_attributes(stamp.attributes())
                        .set_message_system_attributes(stamp.system_attributes())
                        .build()
                        .map_err(AppError::unexpected)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| call.any(e))?;
            if let Some(sender_fault) = out.failed().iter().find(|f| f.sender_fault()) {
                return Err(AppError::unexpected(format!(
                    "SQS refused a message: {}",
                    sender_fault.code()
                )));
            }
            let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
            pending.retain(|(id, _)| failed.contains(&id.as_str()));
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(call.unavailable("entries kept failing"))
    }
}

#[async_trait]
impl DeliveryQueue for SqsQueue {
    async fn enqueue(&self, messages: &[QueueMessage]) -> Result<(), AppError> {
        use futures::StreamExt;
        let bodies = messages
            .iter()
            .map(Self::body)
            .collect::<Result<Vec<_>, _>>()?;
        let deliveries = messages
            .iter()
            .filter(|m| matches!(m, QueueMessage::Deliver(_)))
            .count() as u64;
        if let [body] = bodies.as_slice() {
            self.send_one(body.clone(), None).await?;
            metrics::record_many(
                Metric::Notification(NotificationOutcome::Queued),
                deliveries,
            );
            return Ok(());
        }
        // Batches in parallel: a thousand recipients are a hundred calls.
        let chunks: Vec<Vec<String>> = bodies.chunks(Self::BATCH).map(<[String]>::to_vec).collect();
        let results: Vec<Result<(), AppError>> = futures::stream::iter(chunks)
            .map(|chunk| async move { self.send_batch(&chunk).await })
            .buffer_unordered(Self::IN_FLIGHT)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), AppError>>()?;
        metrics::record_many(
            Metric::Notification(NotificationOutcome::Queued),
            deliveries,
        );
        Ok(())
    }

    async fn retry_after(&self, receipt_handle: &str, delay_secs: u32) -> Result<(), AppError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(delay_secs.min(43_200) as i32)
            .send()
            .await
            .map_err(|e| Call::of(AwsService::Sqs, "ChangeMessageVisibility").any(e))?;
        Ok(())
    }

    async fn enqueue_later(&self, message: &QueueMessage, delay_secs: u32) -> Result<(), AppError> {
        self.send_one(Self::body(message)?, Some(delay_secs)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mime_message_has_both_parts_and_the_one_click_headers_only_when_asked() {
        let mail = RenderedEmail {
            subject: "Grüße".into(),
            text: "plain".into(),
            html: "<p>html</p>".into(),
        };
        let to = Email::parse("ada@example.com").unwrap();
        let marketing = mime_message(
            "Gatehouse <no-reply@example.com>",
            &to,
            &mail,
            Some("https://x/u?token=t"),
        );
        assert!(marketing.contains("List-Unsubscribe: <https://x/u?token=t>\r\n"));
        assert!(marketing.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
        assert!(marketing.contains("Subject: =?UTF-8?B?R3LDvMOfZQ==?="));
        assert!(marketing.contains("Content-Type: text/plain; charset=UTF-8"));
        assert!(marketing.contains("Content-Type: text/html; charset=UTF-8"));
        let plain = mime_message("Gatehouse <no-reply@example.com>", &to, &mail, None);
        assert!(!plain.contains("List-Unsubscribe"));
    }
}
