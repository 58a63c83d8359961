//! Holding an answer until an emulated compute time is over, to a fraction of a millisecond.
//!
//! Tokio's timer wheel ticks in whole milliseconds and rounds every sleep up to the next tick,
//! which adds 0.5 ms on average to each hold — on the scale of the edge tails being emulated.
//! So the bulk of the wait goes to tokio's timer and the last stretch to the OS's
//! high-resolution sleep on a blocking thread, its last 150 µs spun (no crate offers a precise
//! async sleep).

use std::time::{Duration, Instant};

/// Below this much time left, the OS sleep takes over from tokio's timer.
const FINE: Duration = Duration::from_millis(2);
/// The last stretch is spun, not slept: an OS sleep wakes tens of microseconds late on a busy
/// host, on the scale of the sub-millisecond holds emulated.
const SPIN: Duration = Duration::from_micros(150);

/// Returns at `deadline` (or at once if it has passed), within tens of microseconds.
pub async fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline <= now {
        return;
    }
    if deadline - now > FINE {
        tokio::time::sleep_until((deadline - FINE).into()).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if !rest.is_zero() {
        // A failed blocking task only shortens the hold.
        let _ = tokio::task::spawn_blocking(move || {
            std::thread::sleep(rest.saturating_sub(SPIN));
            while Instant::now() < deadline {
                std::hint::spin_loop();
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hold ends after its deadline, and (unlike a bare tokio sleep) well within the
    /// millisecond after it on an idle machine.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn holds_end_at_their_deadline() {
        let mut late = vec![];
        for i in 0..20u64 {
            let deadline = Instant::now() + Duration::from_micros(3_000 + 137 * i);
            sleep_until(deadline).await;
            let done = Instant::now();
            assert!(done >= deadline);
            late.push((done - deadline).as_secs_f64());
        }
        late.sort_by(f64::total_cmp);
        assert!(late[10] < 0.5e-3, "median lateness {:.3} ms", late[10] * 1e3);
    }
}
