//! Everything a function builds once per cold start: configuration and SDK clients.
//! The only switch between AWS and the local stack is the SDK's own endpoint
//! configuration (`AWS_ENDPOINT_URL*`).

use crate::adapters::cognito::{CognitoDirectory, CognitoIdentity};
use crate::adapters::dynamodb::DynamoTable;
use crate::config::{AuthConfig, ConfigError, ProcessEnv, Source, TableConfig};
use crate::services::{AuthService, ProfileService};
use std::sync::Arc;

pub struct AppContext {
    sdk: aws_config::SdkConfig,
}

impl AppContext {
    pub async fn from_env() -> Self {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self { sdk }
    }

    fn table(&self, cfg: &TableConfig) -> Arc<DynamoTable> {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        Arc::new(DynamoTable::new(client, cfg.table_name.clone()))
    }

    pub fn auth_service(&self) -> Result<AuthService, ConfigError> {
        let auth = AuthConfig::from_source(&ProcessEnv)?;
        let table = self.table(&TableConfig::from_source(&ProcessEnv)?);
        let client = aws_sdk_cognitoidentityprovider::Client::new(&self.sdk);
        let identity = CognitoIdentity::new(client, auth.user_pool_client_id, auth.user_pool_id);
        Ok(AuthService::new(
            Arc::new(identity),
            table.clone(),
            table,
            auth.password_policy,
        ))
    }

    /// For functions that must act on an account without its token (password
    /// reset): the pool id is then required at cold start.
    pub fn admin_auth_service(&self) -> Result<AuthService, ConfigError> {
        if ProcessEnv.get("USER_POOL_ID").is_none() {
            return Err(ConfigError::Missing("USER_POOL_ID"));
        }
        self.auth_service()
    }

    /// Profiles for the post-confirmation trigger: the table only.
    pub fn onboarding_service(&self) -> Result<ProfileService, ConfigError> {
        let cfg = TableConfig::from_source(&ProcessEnv)?;
        Ok(ProfileService::new(self.table(&cfg), cfg.default_role))
    }

    /// Profiles for API callers, able to create a missing profile from Cognito.
    pub fn profile_service(&self) -> Result<ProfileService, ConfigError> {
        let directory =
            CognitoDirectory::new(aws_sdk_cognitoidentityprovider::Client::new(&self.sdk));
        Ok(self
            .onboarding_service()?
            .with_directory(Arc::new(directory)))
    }
}
