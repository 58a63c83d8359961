//! Busy-polling of idle cores for a short window after edge activity (`busy_poll_us`).
//!
//! Waking a halted core costs tens of microseconds on virtual machines whose guest halt
//! polling is off (this project's 2-vCPU VM boots with `haltpoll.guest_halt_poll_ns=0`), and
//! every request wakes a thread or two. One lowest-priority (nice 19) spinner per core keeps
//! the cores awake for `window` after the last [`KeepAwake::touch`], then sleeps; ordinary
//! threads preempt it, so it takes little from real work, but it burns idle cycles (power)
//! while the window is open. Written by hand: no crate offers adaptive polling of idle cores.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

struct Shared {
    epoch: Instant,
    /// Nanoseconds from `epoch` to the last touch.
    last: AtomicU64,
    stop: AtomicBool,
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

/// How long an idle spinner sleeps between looks at the last touch.
const NAP: Duration = Duration::from_micros(200);

impl KeepAwake {
    /// Starts one spinner per available core, each polling for `window` after a touch.
    pub fn start(window: Duration) -> KeepAwake {
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            stop: AtomicBool::new(false),
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

    /// Marks activity: the cores poll for another window from now.
    pub fn touch(&self) {
        self.shared.last.store(self.now(), Ordering::Relaxed);
    }

    /// Spinner threads running (one per core).
    pub fn spinners(&self) -> usize {
        self.threads.len()
    }

    fn now(&self) -> u64 {
        u64::try_from(self.shared.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

fn spin(s: &Shared, window: u64) {
    lowest_priority();
    while !s.stop.load(Ordering::Relaxed) {
        let now = u64::try_from(s.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if now.saturating_sub(s.last.load(Ordering::Relaxed)) >= window {
            std::thread::sleep(NAP);
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
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPU time of this process so far (s).
    fn process_cpu() -> f64 {
        // SAFETY: `u` is owned by this frame; getrusage only writes it.
        let u = unsafe {
            let mut u: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut u);
            u
        };
        let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
        t(u.ru_utime) + t(u.ru_stime)
    }

    #[test]
    fn spins_only_within_the_window_after_a_touch() {
        let k = KeepAwake::start(Duration::from_millis(100));
        assert!(k.spinners() >= 1);
        // Never touched: asleep, next to no CPU.
        let c0 = process_cpu();
        std::thread::sleep(Duration::from_millis(150));
        let idle = process_cpu() - c0;
        // Touched: the spinners burn CPU for about the window.
        let c1 = process_cpu();
        k.touch();
        std::thread::sleep(Duration::from_millis(150));
        let busy = process_cpu() - c1;
        drop(k);
        assert!(idle < 0.05, "idle spinners used {idle} s");
        assert!(busy > 0.05, "touched spinners used only {busy} s");
    }
}
