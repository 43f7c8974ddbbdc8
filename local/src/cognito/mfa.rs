//! The MFA operations the stand-in answers itself (state in
//! [`super::software_token`]): association and verification of a user's
//! authenticator, their MFA preference, the `SOFTWARE_TOKEN_MFA` challenge a
//! password login meets once TOTP is on, and the user's MFA settings in
//! `GetUser` / `AdminGetUser`.

use super::attributes::moto_refusal;
use super::software_token::TotpCheck;
use super::{Call, CognitoProxy, cognito_error, internal_error, json_ok};
use crate::moto::Service;
use crate::provision::Pool;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const SOFTWARE_TOKEN_MFA: &str = "SOFTWARE_TOKEN_MFA";

fn invalid_session() -> Response {
    cognito_error(
        "NotAuthorizedException",
        "Invalid session for the user, session is expired.",
    )
}

impl CognitoProxy {
    fn pool_by_id(&self, pool_id: &str) -> Option<&Pool> {
        self.pools_by_client.values().find(|p| p.id == pool_id)
    }

    /// The token's user name and pool, for a pool that offers TOTP.
    async fn totp_user(&self, body: &Value) -> Result<(String, Pool), Response> {
        let (user, pool) = self.token_user(body).await?;
        let pool = pool.filter(|p| p.software_token_mfa).ok_or_else(|| {
            cognito_error(
                "SoftwareTokenMFANotFoundException",
                "Software Token MFA has not been enabled by the userPool.",
            )
        })?;
        let username = user["Username"].as_str().unwrap_or_default().to_owned();
        Ok((username, pool.clone()))
    }

    /// `AssociateSoftwareToken` with an access token: a new random secret.
    pub(super) async fn associate_software_token(&self, body: &Value) -> Response {
        if body["AccessToken"].as_str().is_none() {
            // The MFA_SETUP challenge's session form: only for pools with
            // MfaConfiguration ON, which the stack refuses to run.
            return cognito_error(
                "InvalidParameterException",
                "AccessToken is required (the MFA_SETUP session form is not emulated)",
            );
        }
        match self.totp_user(body).await {
            Ok((username, pool)) => json_ok(json!({
                "SecretCode": self.software_tokens.associate(&pool.id, &username)
            })),
            Err(refused) => refused,
        }
    }

    /// `VerifySoftwareToken`: a code of the new secret makes it the user's.
    pub(super) async fn verify_software_token(&self, body: &Value) -> Response {
        let (username, pool) = match self.totp_user(body).await {
            Ok(found) => found,
            Err(refused) => return refused,
        };
        let code = body["UserCode"].as_str().unwrap_or_default();
        match self.software_tokens.verify(&pool.id, &username, code) {
            TotpCheck::Accepted => json_ok(json!({"Status": "SUCCESS"})),
            TotpCheck::Refused => cognito_error("EnableSoftwareTokenMFAException", "Code mismatch"),
            TotpCheck::NoSecret => cognito_error(
                "InvalidParameterException",
                "User has not associated a software token.",
            ),
        }
    }

    /// Applies `SoftwareTokenMfaSettings`; SMS and email MFA are not offered.
    fn apply_preference(&self, pool: &Pool, username: &str, body: &Value) -> Response {
        for other in ["SMSMfaSettings", "EmailMfaSettings", "WebAuthnMfaSettings"] {
            if body[other]["Enabled"] == true {
                return cognito_error(
                    "InvalidParameterException",
                    &format!("{other}: that MFA is not enabled for this user pool"),
                );
            }
        }
        let settings = &body["SoftwareTokenMfaSettings"];
        if let Some(enabled) = settings["Enabled"].as_bool() {
            if !pool.software_token_mfa && enabled {
                return cognito_error(
                    "InvalidParameterException",
                    "Software Token MFA has not been enabled by the userPool.",
                );
            }
            if !self
                .software_tokens
                .set_enabled(&pool.id, username, enabled)
            {
                return cognito_error(
                    "InvalidParameterException",
                    "User has not verified software token mfa",
                );
            }
        }
        json_ok(json!({}))
    }

    /// `SetUserMFAPreference`, with the user's access token.
    pub(super) async fn set_user_mfa_preference(&self, body: &Value) -> Response {
        match self.totp_user(body).await {
            Ok((username, pool)) => self.apply_preference(&pool, &username, body),
            Err(refused) => refused,
        }
    }

    /// `AdminSetUserMFAPreference`: by pool and user name (or alias).
    pub(super) async fn admin_set_user_mfa_preference(&self, body: &Value) -> Response {
        let Some(pool) = body["UserPoolId"]
            .as_str()
            .and_then(|id| self.pool_by_id(id))
            .cloned()
        else {
            return cognito_error("ResourceNotFoundException", "User pool does not exist.");
        };
        let named = body["Username"].as_str().unwrap_or_default();
        match self.admin_get_user(&pool, named).await {
            Ok(Some(user)) => {
                let username = user["Username"].as_str().unwrap_or_default().to_owned();
                self.apply_preference(&pool, &username, body)
            }
            Ok(None) => cognito_error("UserNotFoundException", "User does not exist."),
            Err(err) => moto_refusal(err),
        }
    }

    /// `GetUser` / `AdminGetUser` as moto answers them, plus the user's MFA
    /// settings when TOTP is on.
    pub(super) async fn get_user_with_mfa(
        &self,
        uri: &str,
        headers: &HeaderMap,
        raw: Bytes,
        body: &Value,
    ) -> Response {
        let (status, headers, answer) = match self.forward(uri, headers, raw).await {
            Ok(answer) => answer,
            Err(err) => return internal_error(err),
        };
        let pool_id = match body["UserPoolId"].as_str() {
            Some(id) => Some(id.to_owned()),
            None => self
                .token_pool(body["AccessToken"].as_str().unwrap_or_default())
                .map(|p| p.id.clone()),
        };
        let mut user: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        let username = user["Username"].as_str().unwrap_or_default().to_owned();
        let enabled = pool_id.is_some_and(|id| self.software_tokens.is_enabled(&id, &username));
        if !status.is_success() || !enabled {
            return (status, headers, answer).into_response();
        }
        user["UserMFASettingList"] = json!([SOFTWARE_TOKEN_MFA]);
        user["PreferredMfaSetting"] = json!(SOFTWARE_TOKEN_MFA);
        json_ok(user)
    }

    /// After moto accepted a password: the challenge instead of tokens when the
    /// user's TOTP is on (`None` lets the tokens through).
    pub(super) fn mfa_challenge(&self, call: &Call<'_>, sub: &str) -> Option<Response> {
        if !self.software_tokens.is_enabled(&call.pool.id, sub) {
            return None;
        }
        let session = self.software_tokens.open_challenge(
            &call.pool.id,
            sub,
            call.field("ClientId"),
            call.body.clone(),
        );
        Some(json_ok(json!({
            "ChallengeName": SOFTWARE_TOKEN_MFA,
            "Session": session,
            "ChallengeParameters": {"USER_ID_FOR_SRP": sub},
        })))
    }

    /// `RespondToAuthChallenge` for `SOFTWARE_TOKEN_MFA`: the right code within
    /// the session's 3 minutes gets the tokens (a wrong one leaves the challenge
    /// standing); other challenges go to moto.
    pub(super) async fn respond_to_auth_challenge(&self, call: Call<'_>) -> Response {
        if call.field("ChallengeName") != SOFTWARE_TOKEN_MFA {
            return self.pass_through(call.uri, call.headers, call.raw).await;
        }
        let session = call.field("Session");
        let Some((pool_id, username, initiate_auth)) = self
            .software_tokens
            .challenge(session, call.field("ClientId"))
        else {
            return invalid_session();
        };
        let named = call.body["ChallengeResponses"]["USERNAME"]
            .as_str()
            .unwrap_or_default();
        let login_name = initiate_auth["AuthParameters"]["USERNAME"]
            .as_str()
            .unwrap_or_default();
        if named != username && !named.eq_ignore_ascii_case(login_name) {
            return cognito_error("NotAuthorizedException", "Invalid session for the user.");
        }
        let code = call.body["ChallengeResponses"]["SOFTWARE_TOKEN_MFA_CODE"]
            .as_str()
            .unwrap_or_default();
        match self.software_tokens.check(&pool_id, &username, code) {
            TotpCheck::Accepted => {}
            TotpCheck::Refused => {
                return cognito_error("CodeMismatchException", "Invalid code received for user");
            }
            TotpCheck::NoSecret => return invalid_session(),
        }
        self.software_tokens.close_challenge(session);
        // The tokens are issued now, as Cognito issues them after the code.
        match self
            .aws
            .call(Service::Cognito, "InitiateAuth", &initiate_auth)
            .await
        {
            Ok(answer) => {
                self.remember_issued(&initiate_auth, &answer);
                json_ok(answer)
            }
            Err(err) => moto_refusal(err),
        }
    }
}
