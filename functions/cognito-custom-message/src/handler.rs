use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsCustomMessage, CognitoEventUserPoolsCustomMessageTriggerSource as Source,
};
use gatehouse::domain::messages::{
    Language, MessageKind, NOTICE_METADATA_KEY, SIGN_UP_ATTEMPT_NOTICE, render,
};
use lambda_runtime::{Error, LambdaEvent};

type Event = CognitoEventUserPoolsCustomMessage;

/// Cognito replaces this with the real code after the trigger returns.
const DEFAULT_CODE_PARAMETER: &str = "{####}";

/// Brands the sign-up, resend and password-reset messages in the user's language,
/// and the notice to an address someone tried to register again (a reset code
/// Gatehouse asked for with that notice in `ClientMetadata`). Other messages keep
/// Cognito's defaults.
pub async fn handle(app_name: &str, event: LambdaEvent<Event>) -> Result<Event, Error> {
    let mut event = event.payload;
    let kind = match event.cognito_event_user_pools_header.trigger_source {
        Some(Source::SignUp) => MessageKind::SignUpCode,
        Some(Source::ResendCode) => MessageKind::ResendCode,
        Some(Source::ForgotPassword)
            if event
                .request
                .client_metadata
                .get(NOTICE_METADATA_KEY)
                .map(String::as_str)
                == Some(SIGN_UP_ATTEMPT_NOTICE) =>
        {
            MessageKind::SignUpAttempt
        }
        Some(Source::ForgotPassword) => MessageKind::PasswordResetCode,
        // Gatehouse changes an email with an admin update (a code to the new
        // address) and verifies a phone number by asking for its code.
        Some(Source::UpdateUserAttribute) => MessageKind::EmailChangeCode,
        Some(Source::VerifyUserAttribute) => MessageKind::PhoneCode,
        _ => return Ok(event),
    };
    let locale = event
        .request
        .user_attributes
        .get("locale")
        .and_then(|v| v.as_str());
    let code = event
        .request
        .code_parameter
        .clone()
        .unwrap_or_else(|| DEFAULT_CODE_PARAMETER.to_owned());
    let message = render(kind, Language::from_locale(locale), app_name, &code);
    event.response.email_subject = Some(message.subject);
    event.response.email_message = Some(message.html);
    event.response.sms_message = Some(message.text);
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;

    const EVENT: &str = include_str!("../../../events/cognito-custom-message.json");

    fn event(source: &str, locale: Option<&str>) -> LambdaEvent<Event> {
        let mut raw: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        raw["triggerSource"] = source.into();
        match locale {
            Some(locale) => raw["request"]["userAttributes"]["locale"] = locale.into(),
            None => {
                raw["request"]["userAttributes"]
                    .as_object_mut()
                    .unwrap()
                    .remove("locale");
            }
        }
        LambdaEvent::new(serde_json::from_value(raw).unwrap(), Context::default())
    }

    #[tokio::test]
    async fn sign_up_codes_are_branded_and_keep_the_code_placeholder() {
        let out = handle("Gatehouse", event("CustomMessage_SignUp", None))
            .await
            .unwrap();
        assert_eq!(
            out.response.email_subject.as_deref(),
            Some("Confirm your Gatehouse account")
        );
        assert!(out.response.email_message.unwrap().contains("{####}"));
        assert!(out.response.sms_message.unwrap().contains("{####}"));
    }

    #[tokio::test]
    async fn a_german_user_gets_german_reset_mail() {
        let out = handle(
            "Gatehouse",
            event("CustomMessage_ForgotPassword", Some("de-DE")),
        )
        .await
        .unwrap();
        assert_eq!(
            out.response.email_subject.as_deref(),
            Some("Setzen Sie Ihr Gatehouse-Passwort zurück")
        );
    }

    #[tokio::test]
    async fn an_unknown_locale_falls_back_to_english() {
        let out = handle("Gatehouse", event("CustomMessage_ResendCode", Some("xx")))
            .await
            .unwrap();
        assert_eq!(
            out.response.email_subject.as_deref(),
            Some("Confirm your Gatehouse account")
        );
    }

    #[tokio::test]
    async fn other_messages_keep_cognitos_defaults() {
        let out = handle("Gatehouse", event("CustomMessage_AdminCreateUser", None))
            .await
            .unwrap();
        assert!(out.response.email_message.is_none());
    }
}
