//! The circuit breaker the worker keeps per provider.

use super::*;

/// Stops calling a provider that keeps failing. Closed: calls go through;
/// after `threshold` transient failures in a row it opens for `cooldown`; then
/// one trial call decides (a success closes it, a failure opens it again).
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Default)]
struct BreakerState {
    failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(BreakerState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(how long it stays open)` while open.
    pub fn allow(&self) -> Result<(), Duration> {
        match self.state().open_until {
            Some(until) if until > Instant::now() => Err(until - Instant::now()),
            _ => Ok(()),
        }
    }

    pub fn succeeded(&self) {
        let mut state = self.state();
        state.failures = 0;
        state.open_until = None;
    }

    pub fn failed(&self) {
        let mut state = self.state();
        state.failures += 1;
        // A failed trial after a cooldown opens it again at once.
        if state.failures >= self.threshold || state.open_until.is_some() {
            state.open_until = Some(Instant::now() + self.cooldown);
            tracing::warn!(
                failures = state.failures,
                cooldown_secs = self.cooldown.as_secs(),
                "provider circuit opened"
            );
        }
    }
}
