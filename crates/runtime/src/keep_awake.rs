//! Busy-polling of idle cores for a short window after edge activity (`busy_poll_us`).
//!
//! Waking a halted core costs tens of microseconds on virtual machines whose guest halt
//! polling is off (this project's 2-vCPU VM boots with `haltpoll.guest_halt_poll_ns=0`), and
//! every request wakes a thread or two. One lowest-priority (nice 19) spinner per core keeps
//! the cores awake for `window` after the last [`KeepAwake::touch`], then parks; ordinary
//! threads preempt it, so it takes little from real work, but it burns idle cycles (power)
//! while the window is open. Written by hand: no crate offers adaptive polling of idle cores.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the spinners read the time: the monotonic clock, or (in tests) a hand-set one.
enum Clock {
    Real(Instant),
    #[cfg(test)]
    Manual(Arc<AtomicU64>),
}

struct Shared {
    clock: Clock,
    /// Nanoseconds from `epoch` to the last touch ([`NEVER`] before the first).
    last: AtomicU64,
    stop: AtomicBool,
    /// Spinners parked (idle past the window), waiting for a touch.
    parked: AtomicUsize,
}

impl Shared {
    /// Nanoseconds since `epoch`.
    fn now(&self) -> u64 {
        match &self.clock {
            Clock::Real(epoch) => u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX),
            #[cfg(test)]
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Whether the window after the last touch has passed (or nothing touched yet).
    fn idle(&self, window: u64) -> bool {
        self.now().checked_sub(self.last.load(Ordering::SeqCst)).is_none_or(|d| d >= window)
    }
}

/// Spinner threads, one per core; stopped and joined on drop.
pub struct KeepAwake {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for KeepAwake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeepAwake").field("spinners", &self.threads.len()).finish()
    }
}

/// `last` before any touch.
const NEVER: u64 = u64::MAX;

/// Longest an idle spinner stays parked without a touch (it then looks again).
const NAP: Duration = Duration::from_millis(100);

impl KeepAwake {
    /// Starts one spinner per available core, each polling for `window` after a touch.
    pub fn start(window: Duration) -> KeepAwake {
        KeepAwake::start_with(window, Clock::Real(Instant::now()))
    }

    fn start_with(window: Duration, clock: Clock) -> KeepAwake {
        let shared = Arc::new(Shared {
            clock,
            last: AtomicU64::new(NEVER),
            stop: AtomicBool::new(false),
            parked: AtomicUsize::new(0),
        });
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let window = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        let threads = (0..n)
            .filter_map(|i| {
                let s = shared.clone();
                std::thread::Builder::new()
                    .name(format!("coinfer-poll-{i}"))
                    .spawn(move || spin(&s, window))
                    .ok()
            })
            .collect();
        KeepAwake { shared, threads }
    }

    /// Marks activity: the cores poll for another window from now. Costs an atomic store
    /// while the spinners spin; wakes them if they were parked.
    pub fn touch(&self) {
        self.shared.last.store(self.shared.now(), Ordering::SeqCst);
        if self.shared.parked.load(Ordering::SeqCst) > 0 {
            self.unpark_all();
        }
    }

    fn unpark_all(&self) {
        for t in &self.threads {
            t.thread().unpark();
        }
    }

    /// Spinner threads running (one per core).
    pub fn spinners(&self) -> usize {
        self.threads.len()
    }
}

fn spin(s: &Shared, window: u64) {
    lowest_priority();
    while !s.stop.load(Ordering::Relaxed) {
        if s.idle(window) {
            // Idle: park until a touch. Counted first, then `last` re-read, so a touch
            // either sees the count and unparks or is seen here (park tokens are not lost).
            s.parked.fetch_add(1, Ordering::SeqCst);
            if s.idle(window) {
                std::thread::park_timeout(NAP);
            }
            s.parked.fetch_sub(1, Ordering::SeqCst);
        }
        // No `spin_loop` hint: PAUSE loops make the hypervisor deschedule the vCPU, which is
        // what this avoids.
    }
}

/// Nice 19 for the calling thread (Linux: per thread). Measured better than `SCHED_IDLE`
/// here: the scheduler treats a core running only `SCHED_IDLE` work as idle.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscall on the calling thread (`who` = 0).
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.unpark_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (up to 30 s, polling) until `cond` holds; the test is about states, not speed.
    fn eventually(what: &str, cond: impl Fn() -> bool) {
        let give_up = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < give_up, "never happened: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// On a hand-set clock: spinners park when never touched, spin (none parked) while the
    /// clock stays inside the window after a touch, and park again once it is past.
    #[test]
    fn spins_only_within_the_window_after_a_touch() {
        let t = Arc::new(AtomicU64::new(1_000));
        let window = Duration::from_nanos(100);
        let k = KeepAwake::start_with(window, Clock::Manual(t.clone()));
        let n = k.spinners();
        assert!(n >= 1);
        let parked = || k.shared.parked.load(Ordering::SeqCst);
        eventually("untouched spinners park", || parked() == n);
        k.touch(); // at t = 1000: the window runs to 1100
        eventually("a touch wakes every spinner", || parked() == 0);
        t.store(1_099, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(150)); // longer than a nap: none parks
        assert_eq!(parked(), 0, "a spinner parked inside the window");
        t.store(1_100, Ordering::SeqCst);
        eventually("spinners park once the window has passed", || parked() == n);
        drop(k); // joins: a spinner that never stops would hang here
    }
}
