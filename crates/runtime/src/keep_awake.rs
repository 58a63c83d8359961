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

struct Shared {
    epoch: Instant,
    /// Nanoseconds from `epoch` to the last touch ([`NEVER`] before the first).
    last: AtomicU64,
    stop: AtomicBool,
    /// Spinners parked (idle past the window), waiting for a touch.
    parked: AtomicUsize,
}

impl Shared {
    /// Nanoseconds since `epoch`.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
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
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// CPU time (clock ticks) of this process's spinner threads so far.
    fn spinner_ticks() -> u64 {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
        tasks
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.starts_with("coinfer-poll"))
            })
            .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
            .map(|stat| {
                // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
                let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
                let f: Vec<&str> = rest.split_whitespace().collect();
                let field =
                    |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                field(14) + field(15)
            })
            .sum()
    }

    #[test]
    fn spins_only_within_the_window_after_a_touch() {
        let k = KeepAwake::start(Duration::from_millis(100));
        assert!(k.spinners() >= 1);
        // Never touched: asleep.
        std::thread::sleep(Duration::from_millis(250));
        let idle = spinner_ticks();
        // Touched: the spinners burn CPU for about the window, then sleep again.
        k.touch();
        std::thread::sleep(Duration::from_millis(300));
        let busy = spinner_ticks() - idle;
        std::thread::sleep(Duration::from_millis(300));
        let after = spinner_ticks() - idle - busy;
        drop(k);
        assert!(idle <= 3, "untouched spinners used {idle} ticks");
        assert!(busy >= 5, "touched spinners used only {busy} ticks");
        assert!(after <= 2, "spinners kept spinning after the window: {after} ticks");
    }
}
