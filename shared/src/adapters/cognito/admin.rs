//! Cognito's admin APIs on the pool (`ports::AccountAdmin`).

use super::*;

#[async_trait]
impl AccountAdmin for CognitoAdmin {
    async fn sign_out_everywhere(&self, email: &Email) -> Result<UserId, AppError> {
        let user = self
            .client
            .admin_get_user()
            .user_pool_id(&self.user_pool_id)
            .username(email.as_str())
            .send()
            .await
            .map_err(|e| failure("AdminGetUser", e, |_, _| None))?;
        let sub = find_attribute(user.user_attributes(), "sub")
            .ok_or_else(|| AppError::unexpected("the user has no sub attribute"))?;
        let user_id = UserId::parse(sub)?;
        self.client
            .admin_user_global_sign_out()
            .user_pool_id(&self.user_pool_id)
            .username(email.as_str())
            .send()
            .await
            .map_err(|e| failure("AdminUserGlobalSignOut", e, |_, _| None))?;
        Ok(user_id)
    }

    async fn sign_out_user(&self, username: &str) -> Result<(), AppError> {
        self.client
            .admin_user_global_sign_out()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                match failure("AdminUserGlobalSignOut", e, |code, _| {
                    (code == "UserNotFoundException").then_some(AppError::NotFound("user"))
                }) {
                    // A deleted user has no refresh tokens left; worth a look all the same.
                    AppError::NotFound(_) => {
                        tracing::warn!("sign-out of a user Cognito does not know");
                        Ok(())
                    }
                    other => Err(other),
                }
            })
    }

    async fn set_phone(&self, username: &str, phone: &PhoneNumber) -> Result<(), AppError> {
        self.client
            .admin_update_user_attributes()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .user_attributes(attribute("phone_number", phone.as_str())?)
            .user_attributes(attribute("phone_number_verified", "false")?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                failure("AdminUpdateUserAttributes", e, |code, _| match code {
                    "UserNotFoundException" => {
                        Some(AppError::Unauthenticated("the account no longer exists"))
                    }
                    _ => None,
                })
            })
    }

    async fn request_email_change(&self, username: &str, email: &Email) -> Result<bool, AppError> {
        let sent = self
            .client
            .admin_update_user_attributes()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .user_attributes(attribute("email", email.as_str())?)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) => match failure("AdminUpdateUserAttributes", e, |code, _| match code {
                "AliasExistsException" => Some(AppError::EmailTaken),
                // The token outlived its user (deleted through Cognito).
                "UserNotFoundException" => {
                    Some(AppError::Unauthenticated("the account no longer exists"))
                }
                _ => None,
            }) {
                // The same answer as for a free address: nothing is sent, nothing changes.
                AppError::EmailTaken => {
                    tracing::info!("email change to an address another account has");
                    Ok(false)
                }
                other => Err(other),
            },
        }
    }

    async fn delete_user(&self, username: &str) -> Result<(), AppError> {
        self.client
            .admin_delete_user()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                match failure("AdminDeleteUser", e, |code, _| {
                    (code == "UserNotFoundException").then_some(AppError::NotFound("user"))
                }) {
                    AppError::NotFound(_) => Ok(()),
                    other => Err(other),
                }
            })
    }

    async fn set_enabled(&self, username: &str, enabled: bool) -> Result<(), AppError> {
        if enabled {
            self.enable(username).await
        } else {
            self.disable(username).await
        }
    }
}

impl CognitoAdmin {
    async fn enable(&self, username: &str) -> Result<(), AppError> {
        self.client
            .admin_enable_user()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                failure("AdminEnableUser", e, |code, _| {
                    (code == "UserNotFoundException").then_some(AppError::NotFound("user"))
                })
            })
    }

    async fn disable(&self, username: &str) -> Result<(), AppError> {
        self.client
            .admin_disable_user()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                failure("AdminDisableUser", e, |code, _| {
                    (code == "UserNotFoundException").then_some(AppError::NotFound("user"))
                })
            })
    }
}
