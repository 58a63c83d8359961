//! Thread placement (`pin_workers`): tail workers get cores of their own, counted down from
//! the last core; the I/O threads (gRPC, and a co-located load generator) keep to the rest.
//! Linux only (`sched_setaffinity`); elsewhere placement is left to the OS.

/// Cores this process may use, ascending (empty if unknown): the calling thread's set at the
/// first call, before any thread was restricted by [`restrict_current`] (which calls this
/// first), so threads that inherited a restricted set still see every core.
pub fn available() -> Vec<usize> {
    static CORES: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    CORES.get_or_init(current).clone()
}

/// Cores the calling thread may run on now, ascending (empty if unknown).
pub fn current() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `set` is a plain bit set owned by this frame; the call only writes it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return vec![];
            }
            (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        vec![]
    }
}

/// The core of worker `i` among `cores`: the last core for worker 0, the one before for
/// worker 1, wrapping around when there are more workers than cores.
pub fn worker_core(cores: &[usize], i: usize) -> Option<usize> {
    (!cores.is_empty()).then(|| cores[cores.len() - 1 - i % cores.len()])
}

/// The cores left for I/O threads when `workers` workers have theirs (all cores if the
/// workers take every one).
pub fn io_cores(cores: &[usize], workers: usize) -> Vec<usize> {
    let left = cores.len().saturating_sub(workers);
    if left == 0 {
        cores.to_vec()
    } else {
        cores[..left].to_vec()
    }
}

/// Restricts the calling thread to `cores`; `false` if there are none or the OS refused.
pub fn restrict_current(cores: &[usize]) -> bool {
    #[cfg(target_os = "linux")]
    {
        if cores.is_empty() {
            return false;
        }
        // The process's set is taken before any thread narrows its own.
        available();
        // SAFETY: as in `current`; cores ≥ CPU_SETSIZE are skipped before `CPU_SET`.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &c in cores.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
                libc::CPU_SET(c, &mut set);
            }
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cores;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_take_the_last_cores_and_io_the_rest() {
        let cores = [0, 1, 2, 3];
        assert_eq!(worker_core(&cores, 0), Some(3));
        assert_eq!(worker_core(&cores, 1), Some(2));
        assert_eq!(worker_core(&cores, 4), Some(3));
        assert_eq!(io_cores(&cores, 1), vec![0, 1, 2]);
        assert_eq!(io_cores(&cores, 4), cores.to_vec());
        assert_eq!(worker_core(&[], 0), None);
    }

    #[test]
    fn a_thread_can_be_restricted_to_one_available_core() {
        let cores = available();
        if cfg!(target_os = "linux") {
            assert!(!cores.is_empty());
            let (first, all) = (cores[0], cores.clone());
            let handle = std::thread::spawn(move || {
                let ok = restrict_current(&[first]);
                (ok, current())
            });
            let (ok, now) = handle.join().expect("thread");
            assert!(ok);
            assert_eq!(now, vec![first]);
            assert_eq!(current(), all, "only the spawned thread moved");
            assert_eq!(available(), all);
        }
    }
}
