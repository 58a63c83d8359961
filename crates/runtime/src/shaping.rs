//! Per-device bandwidth shares at the edge: a token bucket per device that holds a request
//! until its bytes would have crossed the device's granted uplink rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Uplink rate limits per device. A device without a rate is not limited.
#[derive(Default)]
pub struct Shaper {
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    rate_bps: f64,
    /// When the link granted to this device is free again.
    free_at: Instant,
}

impl Shaper {
    /// Sets `device`'s granted rate in bit/s (≤ 0 or non-finite removes the limit).
    pub fn set_rate(&self, device: &str, rate_bps: f64) {
        let Ok(mut b) = self.buckets.lock() else { return };
        if rate_bps.is_finite() && rate_bps > 0.0 {
            let free_at = b.get(device).map_or_else(Instant::now, |x| x.free_at);
            b.insert(device.to_string(), Bucket { rate_bps, free_at });
        } else {
            b.remove(device);
        }
    }

    /// The granted rate of `device`, if limited.
    pub fn rate(&self, device: &str) -> Option<f64> {
        self.buckets.lock().ok()?.get(device).map(|b| b.rate_bps)
    }

    /// Reserves the link for `bytes` and returns how long the request must be held: until
    /// the device's earlier requests and this one have crossed at its rate.
    pub fn reserve(&self, device: &str, bytes: usize) -> Duration {
        self.reserve_at(device, bytes, Instant::now())
    }

    /// [`Shaper::reserve`] at the instant `now` (never before an earlier call's `now`).
    fn reserve_at(&self, device: &str, bytes: usize, now: Instant) -> Duration {
        self.reserve_within_at(device, bytes, None, now).unwrap_or_else(|hold| hold)
    }

    /// [`Shaper::reserve`] unless the hold would reach `budget`: then nothing is reserved
    /// (a request that cannot make its deadline does not take the link from the next one)
    /// and the hold it would have had is returned as the error.
    pub fn reserve_within(
        &self,
        device: &str,
        bytes: usize,
        budget: Option<Duration>,
    ) -> Result<Duration, Duration> {
        self.reserve_within_at(device, bytes, budget, Instant::now())
    }

    fn reserve_within_at(
        &self,
        device: &str,
        bytes: usize,
        budget: Option<Duration>,
        now: Instant,
    ) -> Result<Duration, Duration> {
        let Ok(mut b) = self.buckets.lock() else { return Ok(Duration::ZERO) };
        let Some(bucket) = b.get_mut(device) else { return Ok(Duration::ZERO) };
        let start = bucket.free_at.max(now);
        let tx = Duration::from_secs_f64(bytes as f64 * 8.0 / bucket.rate_bps);
        let hold = start + tx - now;
        if budget.is_some_and(|limit| hold >= limit) {
            return Err(hold);
        }
        bucket.free_at = start + tx;
        Ok(hold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact, on explicit instants: no wall clock.
    #[test]
    fn holds_back_in_proportion_to_bytes_and_queues_behind_earlier_requests() {
        let s = Shaper::default();
        let ms = Duration::from_millis;
        assert_eq!(s.reserve("a", 1_000_000), Duration::ZERO, "unlimited device");
        s.set_rate("a", 8e6); // 1 MB/s: 10,000 bytes take 10 ms
        let t0 = Instant::now(); // the link is free from the moment the rate was set
        assert_eq!(s.reserve_at("a", 10_000, t0 + ms(1)), ms(10), "the link was idle");
        assert_eq!(s.reserve_at("a", 10_000, t0 + ms(1)), ms(20), "behind the first");
        assert_eq!(s.reserve_at("a", 10_000, t0 + ms(6)), ms(25), "5 ms later, 5 ms less");
        assert_eq!(s.reserve_at("a", 10_000, t0 + ms(100)), ms(10), "idle again: no backlog");
        assert_eq!(s.reserve_at("b", 10_000, t0 + ms(100)), Duration::ZERO, "others unaffected");
        // A request that cannot make its budget is refused and takes nothing from the link.
        let t1 = t0 + ms(200);
        assert_eq!(s.reserve_within_at("a", 10_000, Some(ms(5)), t1), Err(ms(10)));
        assert_eq!(s.reserve_within_at("a", 10_000, Some(ms(11)), t1), Ok(ms(10)));
        assert_eq!(s.reserve_within_at("a", 10_000, Some(ms(15)), t1), Err(ms(20)));
        assert_eq!(s.reserve_within_at("a", 10_000, None, t1), Ok(ms(20)));
        s.set_rate("a", 0.0);
        assert_eq!(s.reserve_at("a", 10_000, t0 + ms(100)), Duration::ZERO, "limit removed");
    }
}
