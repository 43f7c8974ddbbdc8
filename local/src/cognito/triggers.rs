//! Cognito's trigger machinery, which moto lacks: the events Cognito sends to the
//! pre sign-up, custom message and post confirmation functions the template
//! wires, built from the `aws_lambda_events` types those functions deserialize.

use crate::provision::Pool;
use crate::runtime::{Functions, InvokeError};
use aws_lambda_events::cognito::{
    CognitoEventUserPoolsCallerContext, CognitoEventUserPoolsCustomMessage,
    CognitoEventUserPoolsCustomMessageResponse, CognitoEventUserPoolsCustomMessageTriggerSource,
    CognitoEventUserPoolsHeader, CognitoEventUserPoolsPostConfirmation,
    CognitoEventUserPoolsPostConfirmationTriggerSource, CognitoEventUserPoolsPreSignup,
    CognitoEventUserPoolsPreSignupResponse, CognitoEventUserPoolsPreSignupTriggerSource,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::time::Duration;

/// A user's attributes as Cognito puts them in trigger events.
pub type Attributes = HashMap<String, String>;

/// The code placeholder Cognito puts in a custom message request; the trigger's
/// message must keep it, and Cognito replaces it with the code.
pub const CODE_PLACEHOLDER: &str = "{####}";

/// Who a trigger fires for: the pool, the app client of the call, the user.
pub struct Subject<'a> {
    pub pool: &'a Pool,
    pub client_id: &'a str,
    pub username: &'a str,
    /// The call's `ClientMetadata`, which Cognito passes to the custom message
    /// trigger (and others) as it came.
    pub client_metadata: Option<&'a serde_json::Value>,
}

/// A trigger's refusal or failure, as Cognito reports it to the caller.
#[derive(Debug)]
pub struct TriggerFailed {
    /// `UserLambdaValidationException` (the function refused),
    /// `UnexpectedLambdaException` (it timed out or could not run), or
    /// `InvalidLambdaResponseException` (its answer breaks Cognito's rules).
    pub kind: &'static str,
    pub message: String,
}

/// How long Cognito waits for a trigger's run (not configurable), and how often
/// it tries one that timed out or was throttled. The local wait for a free
/// process is not part of the 5 s: on AWS Lambda would have started another.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPTS: u32 = 3;

pub struct Triggers {
    functions: Functions,
}

fn header<T: Default>(subject: &Subject<'_>, source: T) -> CognitoEventUserPoolsHeader<T> {
    let mut caller = CognitoEventUserPoolsCallerContext::default();
    caller.awssdk_version = Some("aws-sdk-rust".into());
    caller.client_id = Some(subject.client_id.to_owned());
    let mut header = CognitoEventUserPoolsHeader::default();
    header.version = Some("1".into());
    header.trigger_source = Some(source);
    header.region = Some(crate::template::REGION.into());
    header.user_pool_id = Some(subject.pool.id.clone());
    header.user_name = Some(subject.username.to_owned());
    header.caller_context = caller;
    header
}

impl Triggers {
    pub fn new(functions: Functions) -> Self {
        Self { functions }
    }

    /// Invokes the pool's `trigger` with `event` and reads back the event it
    /// returns. `Ok(None)` when the pool wires no such trigger.
    async fn invoke<E: Serialize + DeserializeOwned>(
        &self,
        pool: &Pool,
        trigger: &str,
        event: &E,
    ) -> Result<Option<E>, TriggerFailed> {
        let Some(function) = pool.triggers.get(trigger) else {
            return Ok(None);
        };
        let failed = |kind, message: String| TriggerFailed {
            kind,
            message: format!("{trigger} failed with error {message}."),
        };
        let payload = serde_json::to_value(event)
            .map_err(|e| failed("UnexpectedLambdaException", e.to_string()))?;
        // A timed-out or throttled attempt is tried again, so a trigger can run
        // twice (or three times) for one call; an error the function returns is
        // final.
        let mut throttled = false;
        for attempt in 1..=ATTEMPTS {
            let invoked = self
                .functions
                .invoke_within(function, payload.clone(), Some(ATTEMPT_TIMEOUT))
                .await;
            let answer = match invoked {
                Err(InvokeError::NotAnsweredWithin(_)) => {
                    tracing::warn!(%trigger, attempt, "trigger timed out after 5 s");
                    throttled = false;
                    continue;
                }
                Err(InvokeError::Throttled) => {
                    tracing::warn!(%trigger, attempt, "trigger throttled");
                    throttled = true;
                    continue;
                }
                Err(InvokeError::Function { message, .. }) => {
                    return Err(failed("UserLambdaValidationException", message));
                }
                Err(other) => {
                    return Err(failed("UnexpectedLambdaException", other.to_string()));
                }
                Ok(answer) => answer,
            };
            return serde_json::from_value(answer).map(Some).map_err(|e| {
                failed(
                    "InvalidLambdaResponseException",
                    format!("the trigger returned an invalid event: {e}"),
                )
            });
        }
        // Cognito's words for a call that never got an answer.
        let unanswered = if throttled {
            "TooManyRequestsException"
        } else {
            "Socket timeout while invoking Lambda function"
        };
        tracing::warn!(%trigger, "no answer in {ATTEMPTS} attempts: {unanswered}");
        Err(TriggerFailed {
            kind: "UnexpectedLambdaException",
            message: format!("{trigger} invocation failed due to error {unanswered}."),
        })
    }

    pub async fn pre_sign_up(
        &self,
        subject: &Subject<'_>,
        attributes: &Attributes,
        client_metadata: HashMap<String, String>,
    ) -> Result<Option<CognitoEventUserPoolsPreSignupResponse>, TriggerFailed> {
        let mut event = CognitoEventUserPoolsPreSignup::default();
        event.cognito_event_user_pools_header =
            header(subject, CognitoEventUserPoolsPreSignupTriggerSource::SignUp);
        event.request.user_attributes = attributes.clone();
        event.request.client_metadata = client_metadata;
        Ok(self
            .invoke(subject.pool, "PreSignUp", &event)
            .await?
            .map(|answer| answer.response))
    }

    pub async fn custom_message(
        &self,
        subject: &Subject<'_>,
        source: CognitoEventUserPoolsCustomMessageTriggerSource,
        attributes: &Attributes,
    ) -> Result<Option<CognitoEventUserPoolsCustomMessageResponse>, TriggerFailed> {
        let mut event = CognitoEventUserPoolsCustomMessage::default();
        event.cognito_event_user_pools_header = header(subject, source);
        event.request.user_attributes = attributes
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        event.request.code_parameter = Some(CODE_PLACEHOLDER.into());
        event.request.client_metadata = subject
            .client_metadata
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default();
        Ok(self
            .invoke(subject.pool, "CustomMessage", &event)
            .await?
            .map(|answer| answer.response))
    }

    pub async fn post_confirmation(
        &self,
        subject: &Subject<'_>,
        source: CognitoEventUserPoolsPostConfirmationTriggerSource,
        attributes: &Attributes,
    ) -> Result<(), TriggerFailed> {
        let mut event: CognitoEventUserPoolsPostConfirmation = Default::default();
        event.cognito_event_user_pools_header = header(subject, source);
        event.request.user_attributes = attributes.clone();
        self.invoke(subject.pool, "PostConfirmation", &event)
            .await
            .map(|_| ())
    }
}
