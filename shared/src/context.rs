//! Everything a function builds once per cold start: configuration and SDK clients.
//! The only switch between AWS and the local stack is the SDK's own endpoint
//! configuration (`AWS_ENDPOINT_URL*`).

use crate::adapters::cognito::CognitoIdentity;
use crate::adapters::dynamodb::DynamoProfileStore;
use crate::config::{AuthConfig, ConfigError, ProcessEnv, TableConfig};
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

    pub fn auth_service(&self) -> Result<AuthService, ConfigError> {
        let cfg = AuthConfig::from_source(&ProcessEnv)?;
        let client = aws_sdk_cognitoidentityprovider::Client::new(&self.sdk);
        let identity = CognitoIdentity::new(client, cfg.user_pool_client_id);
        Ok(AuthService::new(Arc::new(identity), cfg.password_policy))
    }

    pub fn profile_service(&self) -> Result<ProfileService, ConfigError> {
        let cfg = TableConfig::from_source(&ProcessEnv)?;
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        let store = DynamoProfileStore::new(client, cfg.table_name);
        Ok(ProfileService::new(Arc::new(store), cfg.default_role))
    }
}
