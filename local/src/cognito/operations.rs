//! The Cognito operations the stand-in intercepts, each doing around moto's own
//! answer what Cognito does: triggers, codes, mail.

use super::codes::{CodeCheck, Purpose};
use super::mail::{deliver_code, mask};
use super::triggers::{Attributes, Subject};
use super::{Call, CognitoProxy, attributes_to_map, cognito_error, internal_error, json_ok};
use crate::provision::Pool;
use aws_lambda_events::cognito::{
    CognitoEventUserPoolsCustomMessageTriggerSource as MessageSource,
    CognitoEventUserPoolsPostConfirmationTriggerSource as ConfirmationSource,
};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn expired_code() -> Response {
    cognito_error(
        "ExpiredCodeException",
        "Invalid code provided, please request a code again.",
    )
}

fn code_mismatch() -> Response {
    cognito_error(
        "CodeMismatchException",
        "Invalid verification code provided, please try again.",
    )
}

fn user_not_found() -> Response {
    cognito_error(
        "UserNotFoundException",
        "Username/client id combination not found.",
    )
}

fn trigger_refused(failed: super::triggers::TriggerFailed) -> Response {
    cognito_error(failed.kind, &failed.message)
}

/// Cognito's limits on a custom message: the code placeholder must be there
/// (else the user could never see the code), and sizes are bounded. The reason
/// it breaks them, if it does.
fn custom_message_fault(
    custom: &aws_lambda_events::cognito::CognitoEventUserPoolsCustomMessageResponse,
) -> Option<&'static str> {
    if let Some(message) = &custom.email_message {
        if !message.contains(super::triggers::CODE_PLACEHOLDER) {
            return Some("the email message must contain the code placeholder {####}");
        }
        if message.chars().count() > 20_000 {
            return Some("the email message is longer than 20000 characters");
        }
    }
    if custom
        .email_subject
        .as_ref()
        .is_some_and(|s| s.chars().count() > 140)
    {
        return Some("the email subject is longer than 140 characters");
    }
    None
}

impl CognitoProxy {
    /// Forwards the call to moto; a refusal goes back to the caller as moto gave
    /// it, a success comes back parsed.
    async fn forward_call(&self, call: &Call<'_>) -> Result<(Value, Response), Response> {
        let (status, headers, body) = self
            .forward(call.uri, call.headers, call.raw.clone())
            .await
            .map_err(internal_error)?;
        if !status.is_success() {
            return Err((status, headers, body).into_response());
        }
        let answer = serde_json::from_slice(&body).unwrap_or(json!({}));
        Ok((answer, (status, headers, body).into_response()))
    }

    /// Issues a code for the username the caller uses and delivers it through the
    /// custom message trigger; returns Cognito's `CodeDeliveryDetails`.
    pub(super) async fn send_code(
        &self,
        caller_username: &str,
        subject: &Subject<'_>,
        attributes: &Attributes,
        purpose: Purpose,
        source: MessageSource,
    ) -> Result<Value, Response> {
        let email = attributes
            .get("email")
            .map(String::as_str)
            .unwrap_or(subject.username);
        let custom = self
            .triggers
            .custom_message(subject, source, attributes)
            .await
            .map_err(trigger_refused)?;
        if let Some(fault) = custom.as_ref().and_then(custom_message_fault) {
            return Err(cognito_error(
                "InvalidLambdaResponseException",
                &format!("CustomMessage failed with error Invalid lambda response: {fault}."),
            ));
        }
        // Issued once the message goes: a refused one leaves the last code
        // standing, since nothing was sent.
        let code = self.codes.issue(&subject.pool.id, caller_username, purpose);
        deliver_code(&self.outbox, email, custom.as_ref(), &code);
        Ok(json!({"Destination": mask(email), "DeliveryMedium": "EMAIL", "AttributeName": "email"}))
    }

    pub(super) async fn sign_up(&self, call: Call<'_>) -> Response {
        // With email as username, Cognito names the new user by a generated id,
        // and that is the `userName` its pre sign-up trigger sees.
        let generated = uuid::Uuid::new_v4().to_string();
        let username = call.field("Username");
        let subject = Subject {
            pool: call.pool,
            client_id: call.field("ClientId"),
            client_metadata: call.body.get("ClientMetadata"),
            username: if call.pool.email_as_username {
                &generated
            } else {
                username
            },
        };
        let mut attributes = attributes_to_map(&call.body["UserAttributes"]);
        if call.pool.email_as_username {
            // Cognito sets the email from the username.
            attributes.insert("email".into(), username.to_owned());
        }
        let metadata =
            serde_json::from_value(call.body["ClientMetadata"].clone()).unwrap_or_default();
        let pre = match self
            .triggers
            .pre_sign_up(&subject, &attributes, metadata)
            .await
        {
            Ok(pre) => pre,
            Err(failed) => return trigger_refused(failed),
        };
        let mut answer = match self.forward_call(&call).await {
            Ok((answer, _)) => answer,
            Err(refused) => return refused,
        };
        if pre.as_ref().is_some_and(|p| p.auto_verify_email) && attributes.contains_key("email") {
            if let Err(response) = self.mark_email_verified(call.pool, username).await {
                return response;
            }
            attributes.insert("email_verified".into(), "true".into());
        }
        if pre.as_ref().is_some_and(|p| p.auto_confirm_user) {
            let confirmed = self
                .admin_call(
                    "AdminConfirmSignUp",
                    &json!({"UserPoolId": call.pool.id, "Username": username}),
                )
                .await;
            if let Err(err) = confirmed {
                return internal_error(err);
            }
            // As on AWS, an auto-confirmed sign-up runs no post-confirmation trigger.
            answer["UserConfirmed"] = json!(true);
            if let Some(map) = answer.as_object_mut() {
                map.remove("CodeDeliveryDetails");
            }
            return json_ok(answer);
        }
        let sub = answer["UserSub"].as_str().unwrap_or_default().to_owned();
        attributes.insert("sub".into(), sub.clone());
        attributes.insert("cognito:user_status".into(), "UNCONFIRMED".into());
        attributes
            .entry("email_verified".into())
            .or_insert_with(|| "false".into());
        let subject = Subject {
            username: if call.pool.email_as_username {
                &sub
            } else {
                username
            },
            ..subject
        };
        match self
            .send_code(
                call.field("Username"),
                &subject,
                &attributes,
                Purpose::SignUp,
                MessageSource::SignUp,
            )
            .await
        {
            Ok(delivery) => answer["CodeDeliveryDetails"] = delivery,
            Err(response) => return response,
        }
        json_ok(answer)
    }

    pub(super) async fn confirm_sign_up(&self, call: Call<'_>) -> Response {
        let username = call.field("Username");
        match self.codes.check(
            &call.pool.id,
            username,
            Purpose::SignUp,
            call.field("ConfirmationCode"),
        ) {
            CodeCheck::Valid => self.forward_confirmation(&call, Purpose::SignUp).await,
            CodeCheck::Expired => expired_code(),
            CodeCheck::Wrong => code_mismatch(),
            CodeCheck::NoneIssued => match self.admin_get_user(call.pool, username).await {
                Ok(None) => user_not_found(),
                Ok(Some(user)) if user["UserStatus"] == "CONFIRMED" => cognito_error(
                    "NotAuthorizedException",
                    "User cannot be confirmed. Current status is CONFIRMED",
                ),
                Ok(Some(_)) => code_mismatch(),
                Err(err) => internal_error(err),
            },
        }
    }

    /// Forwards a confirmation whose code was checked (moto would accept any), then
    /// does what Cognito does after it: spends the code, marks the email verified
    /// after a sign-up when the pool auto-verifies email, and runs the
    /// post-confirmation trigger.
    async fn forward_confirmation(&self, call: &Call<'_>, purpose: Purpose) -> Response {
        let username = call.field("Username");
        let response = match self.forward_call(call).await {
            Ok((_, response)) => response,
            Err(refused) => return refused,
        };
        self.codes.spend(&call.pool.id, username, purpose);
        if purpose == Purpose::SignUp
            && call.pool.auto_verify_email
            && let Err(response) = self.mark_email_verified(call.pool, username).await
        {
            return response;
        }
        let source = match purpose {
            Purpose::SignUp => ConfirmationSource::ConfirmSignUp,
            // Confirmations run only for sign-up and reset codes.
            Purpose::Reset | Purpose::EmailUpdate | Purpose::PhoneVerify => {
                ConfirmationSource::ConfirmForgotPassword
            }
        };
        match self
            .post_confirmation(call.pool, call.field("ClientId"), username, source)
            .await
        {
            Ok(()) => response,
            Err(response) => response,
        }
    }

    async fn mark_email_verified(&self, pool: &Pool, username: &str) -> Result<(), Response> {
        self.admin_call(
            "AdminUpdateUserAttributes",
            &json!({"UserPoolId": pool.id, "Username": username, "UserAttributes": [{"Name": "email_verified", "Value": "true"}]}),
        )
        .await
        .map(|_| ())
        .map_err(internal_error)
    }

    /// The user as triggers see them: Cognito's attributes plus its status, and
    /// the `userName` Cognito gives them (their `sub` when email is the username).
    fn trigger_view(pool: &Pool, user: &Value, fallback_username: &str) -> (String, Attributes) {
        let mut attributes = attributes_to_map(&user["UserAttributes"]);
        if let Some(status) = user["UserStatus"].as_str() {
            attributes.insert("cognito:user_status".into(), status.to_owned());
        }
        attributes
            .entry("email_verified".into())
            .or_insert_with(|| "false".into());
        let username = match attributes.get("sub") {
            Some(sub) if pool.email_as_username => sub.clone(),
            _ => user["Username"]
                .as_str()
                .unwrap_or(fallback_username)
                .to_owned(),
        };
        (username, attributes)
    }

    async fn post_confirmation(
        &self,
        pool: &Pool,
        client_id: &str,
        username: &str,
        source: ConfirmationSource,
    ) -> Result<(), Response> {
        let user = match self.admin_get_user(pool, username).await {
            Ok(Some(user)) => user,
            Ok(None) => return Err(user_not_found()),
            Err(err) => return Err(internal_error(err)),
        };
        let (username, mut attributes) = Self::trigger_view(pool, &user, username);
        attributes.insert("cognito:user_status".into(), "CONFIRMED".into());
        let subject = Subject {
            pool,
            client_id,
            username: &username,
            client_metadata: None,
        };
        self.triggers
            .post_confirmation(&subject, source, &attributes)
            .await
            .map_err(trigger_refused)
    }

    /// Sends a code to an existing user (moto's record of them), as the trigger
    /// sees them.
    async fn send_code_to(
        &self,
        call: &Call<'_>,
        user: &Value,
        purpose: Purpose,
        source: MessageSource,
    ) -> Result<Value, Response> {
        let caller_username = call.field("Username");
        let (username, attributes) = Self::trigger_view(call.pool, user, caller_username);
        let subject = Subject {
            pool: call.pool,
            client_id: call.field("ClientId"),
            username: &username,
            client_metadata: call.body.get("ClientMetadata"),
        };
        self.send_code(caller_username, &subject, &attributes, purpose, source)
            .await
    }

    pub(super) async fn resend_code(&self, call: Call<'_>) -> Response {
        let user = match self.admin_get_user(call.pool, call.field("Username")).await {
            Ok(Some(user)) => user,
            Ok(None) => return user_not_found(),
            Err(err) => return internal_error(err),
        };
        if user["UserStatus"] == "CONFIRMED" {
            return cognito_error("InvalidParameterException", "User is already confirmed.");
        }
        match self
            .send_code_to(&call, &user, Purpose::SignUp, MessageSource::ResendCode)
            .await
        {
            Ok(delivery) => json_ok(json!({ "CodeDeliveryDetails": delivery })),
            Err(response) => response,
        }
    }

    /// moto makes up its own reset code (and would accept any other); the stand-in
    /// sends its own code instead and accepts only that one.
    pub(super) async fn forgot_password(&self, call: Call<'_>) -> Response {
        // Cognito resets only through a verified address (moto does not check).
        match self.admin_get_user(call.pool, call.field("Username")).await {
            Ok(Some(user))
                if attributes_to_map(&user["UserAttributes"])
                    .get("email_verified")
                    .is_none_or(|v| v != "true") =>
            {
                return cognito_error(
                    "InvalidParameterException",
                    "Cannot reset password for the user as there is no registered/verified email or phone_number",
                );
            }
            Ok(_) => {}
            Err(err) => return internal_error(err),
        }
        let mut answer = match self.forward_call(&call).await {
            Ok((answer, _)) => answer,
            Err(refused) => return refused,
        };
        let user = match self.admin_get_user(call.pool, call.field("Username")).await {
            Ok(user) => user,
            Err(err) => return internal_error(err),
        };
        if let Some(user) = user {
            match self
                .send_code_to(&call, &user, Purpose::Reset, MessageSource::ForgotPassword)
                .await
            {
                Ok(delivery) => answer["CodeDeliveryDetails"] = delivery,
                Err(response) => return response,
            }
        }
        json_ok(answer)
    }

    pub(super) async fn confirm_forgot_password(&self, call: Call<'_>) -> Response {
        match self.codes.check(
            &call.pool.id,
            call.field("Username"),
            Purpose::Reset,
            call.field("ConfirmationCode"),
        ) {
            CodeCheck::Valid => self.forward_confirmation(&call, Purpose::Reset).await,
            CodeCheck::Expired => expired_code(),
            CodeCheck::Wrong | CodeCheck::NoneIssued => code_mismatch(),
        }
    }
}
