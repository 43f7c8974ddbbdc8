//! API Gateway's route throttling (`DefaultRouteSettings`): a token bucket per
//! route, `rate` tokens a second up to `burst`. A request that finds the bucket
//! empty gets API Gateway's 429 before anything else runs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub struct RouteThrottle {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RouteThrottle {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `route`; `false` when none is left.
    pub fn admit(&self, route: &str) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(route.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            refilled: now,
        });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds_per_route() {
        let throttle = RouteThrottle::new(0.001, 3.0);
        assert!((0..3).all(|_| throttle.admit("GET /a")));
        assert!(!throttle.admit("GET /a"));
        assert!(throttle.admit("GET /b"), "each route has its own bucket");
    }
}
