use aws_lambda_events::event::cognito::{
    CognitoEventUserPoolsCustomMessage, CognitoEventUserPoolsCustomMessageTriggerSource as Source,
};
use gatehouse::domain::UserId;
use gatehouse::domain::messages::{
    Language, MessageKind, NOTICE_METADATA_KEY, SIGN_UP_ATTEMPT_NOTICE, render,
};
use gatehouse::ports::SmsPasses;
use lambda_runtime::{Error, LambdaEvent};

type Event = CognitoEventUserPoolsCustomMessage;

/// Cognito replaces this with the real code after the trigger returns.
const DEFAULT_CODE_PARAMETER: &str = "{####}";

/// Brands the sign-up, resend and password-reset messages in the user's language,
/// and the notice to an address someone tried to register again (a reset code
/// Gatehouse asked for with that notice in `ClientMetadata`). Other messages keep
/// Cognito's defaults.
///
/// A code asked for with an access token (`GetUserAttributeVerificationCode`)
/// is sent only against the pass Gatehouse granted for it: anyone can call that
/// operation with their own token, outside Gatehouse's countries and caps, and
/// an error here makes Cognito send nothing.
pub async fn handle(
    app_name: &str,
    passes: &dyn SmsPasses,
    event: LambdaEvent<Event>,
) -> Result<Event, Error> {
    let mut event = event.payload;
    if event.cognito_event_user_pools_header.trigger_source == Some(Source::VerifyUserAttribute) {
        spend_pass(passes, &event).await?;
    }
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

/// Spends the pass for the user's phone number, or refuses the message.
async fn spend_pass(passes: &dyn SmsPasses, event: &Event) -> Result<(), Error> {
    let attribute = |name: &str| {
        event
            .request
            .user_attributes
            .get(name)
            .and_then(|v| v.as_str())
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let user = attribute("sub").and_then(|sub| UserId::parse(sub).ok());
    let spent = match (user, attribute("phone_number")) {
        (Some(user), Some(phone)) => passes.spend(&user, phone, now).await?,
        _ => false,
    };
    if spent {
        Ok(())
    } else {
        tracing::warn!("verification code asked for without Gatehouse's pass: nothing sent");
        Err("verification codes are sent through Gatehouse's API only".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse::adapters::memory::InMemorySmsPasses;
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
        let out = handle(
            "Gatehouse",
            &InMemorySmsPasses::default(),
            event("CustomMessage_SignUp", None),
        )
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
            &InMemorySmsPasses::default(),
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
        let out = handle(
            "Gatehouse",
            &InMemorySmsPasses::default(),
            event("CustomMessage_ResendCode", Some("xx")),
        )
        .await
        .unwrap();
        assert_eq!(
            out.response.email_subject.as_deref(),
            Some("Confirm your Gatehouse account")
        );
    }

    #[tokio::test]
    async fn other_messages_keep_cognitos_defaults() {
        let out = handle(
            "Gatehouse",
            &InMemorySmsPasses::default(),
            event("CustomMessage_AdminCreateUser", None),
        )
        .await
        .unwrap();
        assert!(out.response.email_message.is_none());
    }

    fn phone_code_event(phone: &str) -> LambdaEvent<Event> {
        let mut raw = event("CustomMessage_VerifyUserAttribute", None);
        raw.payload
            .request
            .user_attributes
            .insert("phone_number".into(), phone.into());
        raw
    }

    fn user() -> UserId {
        UserId::parse("8f452769-9947-4d75-8113-c328cafb5d5f").unwrap()
    }

    fn in_a_minute() -> i64 {
        chrono::Utc::now().timestamp() + 60
    }

    #[tokio::test]
    async fn a_code_asked_for_with_a_token_alone_is_never_sent() {
        let passes = InMemorySmsPasses::default();
        let refused = handle("Gatehouse", &passes, phone_code_event("+4915112345678")).await;
        assert!(refused.is_err(), "no pass, no message");
    }

    #[tokio::test]
    async fn gatehouses_pass_sends_one_code_to_its_number_only() {
        let passes = InMemorySmsPasses::default();
        passes
            .grant(&user(), "+4915112345678", in_a_minute())
            .await
            .unwrap();
        assert!(
            handle("Gatehouse", &passes, phone_code_event("+4930999999"))
                .await
                .is_err(),
            "a pass is for its number"
        );
        let sent = handle("Gatehouse", &passes, phone_code_event("+4915112345678"))
            .await
            .unwrap();
        assert!(sent.response.sms_message.unwrap().contains("{####}"));
        assert!(
            handle("Gatehouse", &passes, phone_code_event("+4915112345678"))
                .await
                .is_err(),
            "a pass is spent once"
        );
    }

    #[tokio::test]
    async fn an_expired_pass_sends_nothing() {
        let passes = InMemorySmsPasses::default();
        let past = chrono::Utc::now().timestamp() - 1;
        passes.grant(&user(), "+4915112345678", past).await.unwrap();
        assert!(
            handle("Gatehouse", &passes, phone_code_event("+4915112345678"))
                .await
                .is_err()
        );
    }
}
