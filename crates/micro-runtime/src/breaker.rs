//! The client-side circuit breaker kratos uses: Google SRE's adaptive throttling. Over a rolling
//! window, a client counts the calls it made (`total`) and those the callee accepted
//! (`accepts`); once `total` passes a minimum and exceeds `k × accepts`, each new call is refused
//! locally with probability `(total − k × accepts) / (total + 1)`, without calling out. Refused
//! calls count as failures, so an unhealthy callee is shed harder the longer it fails, and calls
//! resume on their own as the window forgets: there is no open/half-open state to get stuck in.
//!
//! Defaults are kratos' (`go-kratos/aegis`): `k = 1 / 0.6`, at least 100 calls in a 3 s window of
//! 10 buckets. A refusal is the typed error `503 CIRCUITBREAKER` (`UNAVAILABLE` over gRPC).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::errors::Error;

/// Tuning of a [`Breaker`].
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// The share of calls that must succeed: `k = 1 / success`.
    pub success: f64,
    /// Calls in the window below which nothing is refused.
    pub minimum_calls: u64,
    pub window: Duration,
    pub buckets: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            success: 0.6,
            minimum_calls: 100,
            window: Duration::from_secs(3),
            buckets: 10,
        }
    }
}

/// One callee's breaker, shared by every call to it.
#[derive(Debug)]
pub struct Breaker {
    k: f64,
    minimum_calls: u64,
    bucket: Duration,
    started: Instant,
    /// Per bucket: the bucket's number since `started`, calls, accepted calls.
    buckets: Mutex<Vec<(u64, u64, u64)>>,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Breaker {
        let buckets = config.buckets.max(1);
        Breaker {
            k: 1.0 / config.success.clamp(0.01, 1.0),
            minimum_calls: config.minimum_calls,
            bucket: (config.window / buckets).max(Duration::from_millis(1)),
            started: Instant::now(),
            buckets: Mutex::new(vec![(u64::MAX, 0, 0); buckets as usize]),
        }
    }

    /// Whether a call may go out now; a refusal counts as a failed call.
    pub fn allow(&self) -> Result<(), Error> {
        let (total, accepts) = self.summary();
        let requests = self.k * accepts as f64;
        if total < self.minimum_calls || (total as f64) < requests {
            return Ok(());
        }
        let drop_ratio = ((total as f64 - requests) / (total as f64 + 1.0)).max(0.0);
        if rand::random::<f64>() < drop_ratio {
            self.record(false);
            return Err(Error::new(
                503,
                "CIRCUITBREAKER",
                "request failed due to circuit breaker triggered",
            ));
        }
        Ok(())
    }

    /// Counts a call's outcome: `accepted` unless the callee failed in a way that says it is
    /// unhealthy (unavailable, internal error, timeout, or unreachable).
    pub fn record(&self, accepted: bool) {
        let now = self.bucket_number();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let len = buckets.len() as u64;
        let slot = &mut buckets[(now % len) as usize];
        if slot.0 != now {
            *slot = (now, 0, 0);
        }
        slot.1 += 1;
        slot.2 += u64::from(accepted);
    }

    /// Calls and accepted calls in the window.
    fn summary(&self) -> (u64, u64) {
        let now = self.bucket_number();
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let len = buckets.len() as u64;
        buckets
            .iter()
            .filter(|(number, _, _)| *number <= now && now - number < len)
            .fold((0, 0), |(total, accepts), (_, calls, accepted)| {
                (total + calls, accepts + accepted)
            })
    }

    fn bucket_number(&self) -> u64 {
        (self.started.elapsed().as_nanos() / self.bucket.as_nanos().max(1)) as u64
    }
}

/// Whether a gRPC status code says the callee is unhealthy, as kratos counts failures (its 500,
/// 503 and 504): `INTERNAL`, `UNAVAILABLE`, `DEADLINE_EXCEEDED`.
pub fn is_unhealthy(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Internal | tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failing_callee_is_shed_and_calls_resume_as_the_window_forgets() {
        let breaker = Breaker::new(BreakerConfig::default());
        // Below the minimum, everything goes out, failing or not.
        for _ in 0..100 {
            assert!(breaker.allow().is_ok());
            breaker.record(false);
        }
        // Past it, with no success at all, nearly every call is refused locally.
        let refused = (0..1000).filter(|_| breaker.allow().is_err()).count();
        assert!(refused > 900, "refused {refused} of 1000");
        let err = breaker
            .allow()
            .err()
            .or_else(|| breaker.allow().err())
            .unwrap();
        assert_eq!((err.code, err.reason.as_str()), (503, "CIRCUITBREAKER"));

        // Once the window has passed, calls go out again.
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!((0..50).all(|_| breaker.allow().is_ok()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_healthy_callee_is_never_shed() {
        let breaker = Breaker::new(BreakerConfig::default());
        for _ in 0..10_000 {
            assert!(breaker.allow().is_ok());
            breaker.record(true);
        }
        // A few failures among many successes stay under `k`.
        for _ in 0..500 {
            breaker.record(false);
        }
        assert!((0..100).all(|_| breaker.allow().is_ok()));
    }
}
