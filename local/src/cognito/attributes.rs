//! A user's own attribute updates (`UpdateUserAttributes`, `VerifyUserAttribute`,
//! called with their access token). moto applies a new email at once; Cognito,
//! with `AttributesRequireVerificationBeforeUpdate: [email]`, holds it: the old
//! address stays the login and the contact, and a code goes to the new one.
//! Only that code makes the change.

use super::codes::{CodeCheck, Purpose};
use super::triggers::Subject;
use super::{CognitoProxy, attributes_to_map, cognito_error, internal_error, json_ok};
use crate::moto::MotoError;
use aws_lambda_events::cognito::CognitoEventUserPoolsCustomMessageTriggerSource as MessageSource;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

/// The claims of an access token, read without verifying: moto verifies it in
/// the `GetUser` that comes first.
fn claims_of(token: &str) -> Value {
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p.trim_end_matches('='))
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

pub(super) fn moto_refusal(err: MotoError) -> Response {
    match err {
        MotoError::Api { kind, message, .. } => cognito_error(&kind, &message),
        other => internal_error(other),
    }
}

impl CognitoProxy {
    /// The token's user (moto checks the token) and their pool, if the pool is
    /// one the template declares.
    pub(super) async fn token_user(
        &self,
        body: &Value,
    ) -> Result<(Value, Option<&crate::provision::Pool>), Response> {
        let token = body["AccessToken"].as_str().unwrap_or_default();
        let user = self
            .admin_call("GetUser", &json!({"AccessToken": token}))
            .await
            .map_err(moto_refusal)?;
        Ok((user, self.token_pool(token)))
    }

    /// The pool of the app client a token was issued to, if the template declares it.
    pub(super) fn token_pool(&self, token: &str) -> Option<&crate::provision::Pool> {
        let client_id = claims_of(token)["client_id"].as_str()?.to_owned();
        self.pools_by_client.get(&client_id)
    }

    pub(super) async fn update_user_attributes(
        &self,
        uri: &str,
        headers: &HeaderMap,
        raw: Bytes,
        body: &Value,
    ) -> Response {
        let (user, pool) = match self.token_user(body).await {
            Ok(found) => found,
            Err(refused) => return refused,
        };
        let requested = attributes_to_map(&body["UserAttributes"]);
        let client_id = claims_of(body["AccessToken"].as_str().unwrap_or_default())["client_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Err(refused) = self
            .secrets
            .check_writable(&client_id, requested.keys().map(String::as_str))
        {
            return cognito_error("NotAuthorizedException", &refused.0);
        }
        let current = attributes_to_map(&user["UserAttributes"]);
        let new_email = requested
            .get("email")
            .filter(|e| Some(*e) != current.get("email"));
        let (Some(pool), Some(new_email)) =
            (pool.filter(|p| p.verify_email_before_update), new_email)
        else {
            return self.pass_through(uri, headers, raw).await;
        };
        // Everything but the email is applied now.
        let others: Vec<Value> = body["UserAttributes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["Name"] != "email")
            .cloned()
            .collect();
        if !others.is_empty() {
            let mut rest = body.clone();
            rest["UserAttributes"] = Value::Array(others);
            match self
                .forward(uri, headers, Bytes::from(rest.to_string()))
                .await
            {
                Ok(answer) if answer.0.is_success() => {}
                Ok(refused) => return refused.into_response(),
                Err(err) => return internal_error(err),
            }
        }
        let claims = claims_of(body["AccessToken"].as_str().unwrap_or_default());
        self.hold_new_email(
            pool,
            &user,
            new_email,
            claims["client_id"].as_str().unwrap_or_default(),
            body.get("ClientMetadata"),
        )
        .await
    }

    /// The new email waits for its code: the old one stays the login and the
    /// contact. An address another account has is refused as Cognito does.
    async fn hold_new_email(
        &self,
        pool: &crate::provision::Pool,
        user: &Value,
        new_email: &str,
        client_id: &str,
        client_metadata: Option<&Value>,
    ) -> Response {
        let username = user["Username"].as_str().unwrap_or_default().to_owned();
        let taken = match self
            .admin_call(
                "ListUsers",
                &json!({"UserPoolId": pool.id, "Filter": format!("email = \"{new_email}\"")}),
            )
            .await
        {
            Ok(found) => found["Users"]
                .as_array()
                .is_some_and(|users| users.iter().any(|u| u["Username"] != username.as_str())),
            Err(err) => return internal_error(err),
        };
        if taken {
            return cognito_error(
                "AliasExistsException",
                "An account with the given email already exists.",
            );
        }
        let subject = Subject {
            pool,
            client_id,
            username: &username,
            client_metadata,
        };
        let mut attributes = attributes_to_map(&user["UserAttributes"]);
        if let Some(status) = user["UserStatus"].as_str() {
            attributes.insert("cognito:user_status".into(), status.to_owned());
        }
        attributes.insert("email".into(), new_email.to_owned());
        self.pending_emails
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((pool.id.clone(), username.clone()), new_email.to_owned());
        match self
            .send_code(
                &username,
                &subject,
                &attributes,
                Purpose::EmailUpdate,
                MessageSource::UpdateUserAttribute,
            )
            .await
        {
            Ok(delivery) => json_ok(json!({"CodeDeliveryDetailsList": [delivery]})),
            Err(response) => response,
        }
    }

    /// `AdminUpdateUserAttributes` (IAM-authorised, so no write-attribute check):
    /// with verification required, a new email is held the same way.
    pub(super) async fn admin_update_user_attributes(
        &self,
        uri: &str,
        headers: &HeaderMap,
        raw: Bytes,
        body: &Value,
    ) -> Response {
        let pool = self
            .pools_by_client
            .values()
            .find(|p| body["UserPoolId"] == p.id.as_str())
            .filter(|p| p.verify_email_before_update);
        let requested = attributes_to_map(&body["UserAttributes"]);
        let verified_now = requested.get("email_verified").is_some_and(|v| v == "true");
        let (Some(pool), Some(new_email), false) = (pool, requested.get("email"), verified_now)
        else {
            return self.pass_through(uri, headers, raw).await;
        };
        let user = match self
            .admin_call(
                "AdminGetUser",
                &json!({"UserPoolId": pool.id, "Username": body["Username"]}),
            )
            .await
        {
            Ok(user) => user,
            Err(err) => return moto_refusal(err),
        };
        if attributes_to_map(&user["UserAttributes"]).get("email") == Some(new_email) {
            return json_ok(json!({}));
        }
        let others: Vec<Value> = body["UserAttributes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["Name"] != "email")
            .cloned()
            .collect();
        if !others.is_empty() {
            let mut rest = body.clone();
            rest["UserAttributes"] = Value::Array(others);
            if let Err(err) = self.admin_call("AdminUpdateUserAttributes", &rest).await {
                return moto_refusal(err);
            }
        }
        let pool = pool.clone();
        match self
            .hold_new_email(
                &pool,
                &user,
                new_email,
                "CLIENT_ID_NOT_APPLICABLE",
                body.get("ClientMetadata"),
            )
            .await
        {
            // The admin API answers nothing more on success.
            held if held.status().is_success() => json_ok(json!({})),
            refused => refused,
        }
    }

    /// `GetUserAttributeVerificationCode`: a code by SMS for `phone_number`, by
    /// email for `email` (to the new address while one is held), each through
    /// the custom message trigger into the local outbox. As on AWS, a trigger
    /// that fails sends nothing and the caller gets its error.
    pub(super) async fn attribute_verification_code(
        &self,
        uri: &str,
        headers: &HeaderMap,
        raw: Bytes,
        body: &Value,
    ) -> Response {
        let attribute = body["AttributeName"].as_str().unwrap_or_default();
        if attribute != "phone_number" && attribute != "email" {
            return self.pass_through(uri, headers, raw).await;
        }
        let (user, pool) = match self.token_user(body).await {
            Ok(found) => found,
            Err(refused) => return refused,
        };
        let Some(pool) = pool else {
            return cognito_error("NotAuthorizedException", "Invalid Access Token");
        };
        let mut attributes = attributes_to_map(&user["UserAttributes"]);
        let Some(destination) = attributes.get(attribute).cloned() else {
            return cognito_error(
                "InvalidParameterException",
                &format!("The user has no {attribute} attribute to verify."),
            );
        };
        if let Some(status) = user["UserStatus"].as_str() {
            attributes.insert("cognito:user_status".into(), status.to_owned());
        }
        let username = user["Username"].as_str().unwrap_or_default().to_owned();
        let claims = claims_of(body["AccessToken"].as_str().unwrap_or_default());
        let subject = Subject {
            pool,
            client_id: claims["client_id"].as_str().unwrap_or_default(),
            username: &username,
            client_metadata: body.get("ClientMetadata"),
        };
        if attribute == "email" {
            let pending = self
                .pending_emails
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&(pool.id.clone(), username.clone()))
                .cloned();
            if let Some(pending) = pending {
                attributes.insert("email".into(), pending);
            }
            return match self
                .send_code(
                    &username,
                    &subject,
                    &attributes,
                    Purpose::EmailUpdate,
                    MessageSource::VerifyUserAttribute,
                )
                .await
            {
                Ok(delivery) => json_ok(json!({"CodeDeliveryDetails": delivery})),
                Err(response) => response,
            };
        }
        let custom = match self
            .triggers
            .custom_message(&subject, MessageSource::VerifyUserAttribute, &attributes)
            .await
        {
            Ok(custom) => custom,
            Err(failed) => return cognito_error(failed.kind, &failed.message),
        };
        // Issued only once the trigger let it go: a refused message leaves the
        // last code standing, as nothing was sent.
        let code = self.codes.issue(&pool.id, &username, Purpose::PhoneVerify);
        let text = custom
            .as_ref()
            .and_then(|c| c.sms_message.as_deref())
            .map(|m| m.replace(super::triggers::CODE_PLACEHOLDER, &code))
            .unwrap_or_else(|| format!("Your verification code is {code}."));
        self.outbox.send_sms(&destination, text);
        let masked = format!(
            "+*******{}",
            &destination[destination.len().saturating_sub(4)..]
        );
        json_ok(json!({"CodeDeliveryDetails": {
            "Destination": masked, "DeliveryMedium": "SMS", "AttributeName": "phone_number"
        }}))
    }

    pub(super) async fn verify_user_attribute(
        &self,
        uri: &str,
        headers: &HeaderMap,
        raw: Bytes,
        body: &Value,
    ) -> Response {
        let (user, pool) = match self.token_user(body).await {
            Ok(found) => found,
            Err(refused) => return refused,
        };
        if body["AttributeName"] == "phone_number"
            && let Some(pool) = pool
        {
            let username = user["Username"].as_str().unwrap_or_default().to_owned();
            let offered = body["Code"].as_str().unwrap_or_default();
            return match self
                .codes
                .check(&pool.id, &username, Purpose::PhoneVerify, offered)
            {
                CodeCheck::Valid => {
                    let applied = self
                        .admin_call(
                            "AdminUpdateUserAttributes",
                            &json!({"UserPoolId": pool.id, "Username": username, "UserAttributes": [
                                {"Name": "phone_number_verified", "Value": "true"},
                            ]}),
                        )
                        .await;
                    if let Err(err) = applied {
                        return moto_refusal(err);
                    }
                    self.codes.spend(&pool.id, &username, Purpose::PhoneVerify);
                    json_ok(json!({}))
                }
                CodeCheck::Expired => cognito_error(
                    "ExpiredCodeException",
                    "Invalid code provided, please request a code again.",
                ),
                _ => cognito_error(
                    "CodeMismatchException",
                    "Invalid verification code provided, please try again.",
                ),
            };
        }
        let Some(pool) =
            pool.filter(|p| p.verify_email_before_update && body["AttributeName"] == "email")
        else {
            return self.pass_through(uri, headers, raw).await;
        };
        let username = user["Username"].as_str().unwrap_or_default().to_owned();
        let key = (pool.id.clone(), username.clone());
        let pending = self
            .pending_emails
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let offered = body["Code"].as_str().unwrap_or_default();
        match (
            pending,
            self.codes
                .check(&pool.id, &username, Purpose::EmailUpdate, offered),
        ) {
            (Some(email), CodeCheck::Valid) => {
                let applied = self
                    .admin_call(
                        "AdminUpdateUserAttributes",
                        &json!({"UserPoolId": pool.id, "Username": username, "UserAttributes": [
                            {"Name": "email", "Value": email},
                            {"Name": "email_verified", "Value": "true"},
                        ]}),
                    )
                    .await;
                if let Err(err) = applied {
                    return moto_refusal(err);
                }
                self.codes.spend(&pool.id, &username, Purpose::EmailUpdate);
                self.pending_emails
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&key);
                json_ok(json!({}))
            }
            (_, CodeCheck::Expired) => cognito_error(
                "ExpiredCodeException",
                "Invalid code provided, please request a code again.",
            ),
            _ => cognito_error(
                "CodeMismatchException",
                "Invalid verification code provided, please try again.",
            ),
        }
    }
}
