//! Throttle windows in memory, and keys that are the plain values.

use super::*;

/// Throttle windows with a version each, as the table keeps them.
#[derive(Default)]
pub struct InMemoryThrottle {
    windows: Mutex<HashMap<ThrottleKey, Versioned<Window>>>,
}

#[async_trait]
impl ThrottleStore for InMemoryThrottle {
    async fn load(&self, key: &ThrottleKey) -> Result<Option<Versioned<Window>>, AppError> {
        Ok(lock(&self.windows).get(key).copied())
    }

    async fn save(
        &self,
        key: &ThrottleKey,
        window: &Window,
        expected: Option<u64>,
    ) -> Result<bool, AppError> {
        let mut windows = lock(&self.windows);
        if windows.get(key).map(|w| w.version) != expected {
            return Ok(false);
        }
        windows.insert(
            key.clone(),
            Versioned {
                value: *window,
                version: expected.map_or(1, |v| v + 1),
            },
        );
        Ok(true)
    }

    async fn clear(&self, key: &ThrottleKey) -> Result<(), AppError> {
        lock(&self.windows).remove(key);
        Ok(())
    }

    async fn clear_all(&self, subject: &str, prefix: &str) -> Result<(), AppError> {
        lock(&self.windows).retain(|k, _| !(k.subject == subject && k.counter.starts_with(prefix)));
        Ok(())
    }
}

/// Throttle keys: the same keyed digest as the adapter, with a test key.
pub struct TestThrottleKeys;

#[async_trait]
impl ThrottleKeys for TestThrottleKeys {
    async fn key(&self, purpose: &str, value: &str) -> Result<String, AppError> {
        crate::adapters::client_secret::keyed_digest(b"test key", purpose, value)
    }
}
