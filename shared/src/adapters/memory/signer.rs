//! A cursor signer with a fixed key.

use super::*;

/// Signs with a fixed key (HMAC-SHA256), as the table's signer does with its own.
#[derive(Default)]
pub struct TestSigner;

#[async_trait]
impl crate::ports::TokenSigner for TestSigner {
    async fn sign(&self, payload: &str) -> Result<String, AppError> {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"test signing key")
            .map_err(AppError::unexpected)?;
        mac.update(payload.as_bytes());
        Ok(mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    async fn verify(&self, payload: &str, signature: &str) -> Result<bool, AppError> {
        Ok(self.sign(payload).await? == signature)
    }
}
