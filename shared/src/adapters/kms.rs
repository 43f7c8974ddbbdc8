//! Sealing small per-user secrets with the deployment's KMS key
//! (`ports::SecretSealer`). The encryption context names the user: a sealed
//! value copied into another user's record does not open, and CloudTrail shows
//! whose secret each decryption was for.

use super::aws::{AwsClients, AwsService, Call};
use crate::domain::{AppError, UserId};
use crate::ports::SecretSealer;
use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;

pub struct KmsSealer {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsSealer {
    pub fn new(clients: &AwsClients, key_id: String) -> Self {
        Self {
            client: clients.kms(),
            key_id,
        }
    }
}

const CONTEXT_KEY: &str = "gatehouse_user_id";

#[async_trait]
impl SecretSealer for KmsSealer {
    async fn seal(&self, user_id: &UserId, secret: &str) -> Result<String, AppError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(secret.as_bytes()))
            .encryption_context(CONTEXT_KEY, user_id.as_str())
            .send()
            .await
            .map_err(|e| Call::of(AwsService::Kms, "Encrypt").any(e))?;
        let sealed = out
            .ciphertext_blob()
            .ok_or_else(|| AppError::unexpected("KMS returned no ciphertext"))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed.as_ref()))
    }

    async fn open(&self, user_id: &UserId, sealed: &str) -> Result<String, AppError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(AppError::unexpected)?;
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(bytes))
            .encryption_context(CONTEXT_KEY, user_id.as_str())
            .send()
            .await
            .map_err(|e| Call::of(AwsService::Kms, "Decrypt").any(e))?;
        let plain = out
            .plaintext()
            .ok_or_else(|| AppError::unexpected("KMS returned no plaintext"))?;
        String::from_utf8(plain.as_ref().to_vec()).map_err(AppError::unexpected)
    }
}
