//! Tail execution: batching with a max queue delay and weighted fair sharing of compute
//! among devices.
//!
//! Fairness is start-time fair queuing (Goyal et al., SFQ): a job of device `d` with cost
//! `c` (MACs) gets start tag `S = max(v, F_d)` and finish tag `F_d = S + c / w_d`, where
//! `w_d` is the device's compute share and `v` the start tag of the job last taken. Workers
//! take the job with the smallest start tag, then fill its batch with the other queued jobs
//! for the same tail in tag order. Over any busy interval each backlogged device receives
//! compute in proportion to its share.
//!
//! Workers are OS threads running the engine synchronously (one model run per thread, which
//! is how tract is fastest on small CPUs); async handlers wait on a oneshot channel. At most
//! `workers` batches run at once; when nothing is queued and a slot is free, a request may run
//! on its own thread ([`Scheduler::try_run_inline`]) and skip the two hand-offs.
//! Written by hand because no crate offers weighted fair batching over blocking work.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use coinfer_engine::Tensor;
use ndarray::Axis;
use tokio::sync::oneshot;

use crate::models::Loaded;

/// Scheduler settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SchedulerConfig {
    /// Worker threads, each running one batch at a time.
    pub workers: usize,
    /// Largest batch.
    pub max_batch: usize,
    /// How long the oldest request may wait for its batch to fill (0 = run what is there).
    pub max_queue_delay: Duration,
    /// Pin worker `i` to a core of its own, counted down from the last (see [`crate::cpus`]).
    pub pin_workers: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            workers: 2,
            max_batch: 32,
            max_queue_delay: Duration::ZERO,
            pin_workers: false,
        }
    }
}

/// A request's result as the scheduler reports it.
#[derive(Debug, Clone)]
pub struct JobOutput {
    /// First model output for this sample (batch dimension 1).
    pub output: Tensor,
    /// Time from enqueue to the start of its batch.
    pub queue: Duration,
    /// Time of the whole batch's tail run.
    pub tail: Duration,
    /// Samples in the batch.
    pub batch_size: usize,
}

/// Why a job produced no output.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    /// Its deadline passed before a worker reached it.
    #[error("deadline passed after {waited_ms:.1} ms in the queue")]
    Deadline {
        /// Time spent queued (ms).
        waited_ms: f64,
    },
    /// The engine failed on its batch.
    #[error("tail failed: {0}")]
    Engine(String),
    /// The scheduler is shutting down.
    #[error("edge is shutting down")]
    Shutdown,
}

/// One request for tail work.
pub struct Job {
    /// The tail to run.
    pub tail: Arc<Loaded>,
    /// Whose request.
    pub device: String,
    /// Input, batch dimension first (usually 1).
    pub input: Tensor,
    /// Drop the job if not started by then.
    pub deadline: Option<Instant>,
    /// Where the result goes.
    pub reply: oneshot::Sender<Result<JobOutput, JobError>>,
}

struct Queued {
    job: Job,
    start_tag: f64,
    enqueued: Instant,
}

#[derive(Default)]
struct State {
    queue: Vec<Queued>,
    virtual_time: f64,
    finish: HashMap<String, f64>,
    weights: HashMap<String, f64>,
    /// Batches running now (worker threads and inline runs); never more than `workers`.
    running: usize,
    shutdown: bool,
}

impl State {
    fn weight(&self, device: &str) -> f64 {
        self.weights.get(device).copied().unwrap_or(1.0)
    }

    /// Charges `cost` MACs to `device`: its start tag (SFQ).
    fn tag(&mut self, device: &str, cost: f64) -> f64 {
        let w = self.weight(device);
        let prev = self.finish.get(device).copied().unwrap_or(0.0);
        let start_tag = self.virtual_time.max(prev);
        self.finish.insert(device.to_string(), start_tag + cost / w);
        start_tag
    }

    /// Index of the queued job with the smallest start tag.
    fn next(&self) -> Option<usize> {
        (0..self.queue.len()).min_by(|&a, &b| {
            self.queue[a].start_tag.total_cmp(&self.queue[b].start_tag).then(a.cmp(&b))
        })
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    config: SchedulerConfig,
    /// Called after each batch with (batch size, queue length left).
    observer: Box<dyn Fn(&BatchEvent) + Send + Sync>,
}

/// What a worker reports after each batch (for metrics).
#[derive(Debug, Clone)]
pub struct BatchEvent {
    /// Samples run.
    pub batch_size: usize,
    /// Jobs still queued.
    pub queue_length: usize,
    /// Tail run time.
    pub tail: Duration,
    /// Jobs dropped for their deadline while forming this batch.
    pub expired: usize,
}

/// The scheduler: a queue and its worker threads. Dropping it stops the workers after the
/// queue drains.
pub struct Scheduler {
    shared: Arc<Shared>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Scheduler {
    /// Starts `config.workers` workers; `observer` sees every batch.
    pub fn start(
        config: SchedulerConfig,
        observer: impl Fn(&BatchEvent) + Send + Sync + 'static,
    ) -> Scheduler {
        let config = SchedulerConfig {
            workers: config.workers.max(1),
            max_batch: config.max_batch.max(1),
            ..config
        };
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            wake: Condvar::new(),
            config,
            observer: Box::new(observer),
        });
        let cores = if config.pin_workers { crate::cpus::available() } else { vec![] };
        let workers = (0..config.workers)
            .map(|i| {
                let s = shared.clone();
                let core = crate::cpus::worker_core(&cores, i);
                std::thread::Builder::new()
                    .name(format!("coinfer-tail-{i}"))
                    .spawn(move || {
                        if let Some(c) = core {
                            if !crate::cpus::restrict_current(&[c]) {
                                tracing::warn!(core = c, "could not pin a tail worker");
                            }
                        }
                        worker(&s)
                    })
                    .expect("spawning a worker thread")
            })
            .collect();
        Scheduler { shared, workers }
    }

    /// Queues a job; refuses (and drops) it if the scheduler is shutting down.
    pub fn submit(&self, job: Job) -> Result<(), JobError> {
        let Ok(mut st) = self.shared.state.lock() else { return Err(JobError::Shutdown) };
        if st.shutdown {
            return Err(JobError::Shutdown);
        }
        let start_tag = st.tag(&job.device, cost(&job.tail, &job.input));
        st.queue.push(Queued { job, start_tag, enqueued: Instant::now() });
        drop(st);
        self.shared.wake.notify_all();
        Ok(())
    }

    /// Runs a job on the calling thread when nothing is queued, a worker's share of the CPU is
    /// free and batching does not wait (`max_queue_delay` = 0): the idle fast path, which saves
    /// the two thread hand-offs of the queue. Fairness is charged as for a queued job.
    /// `None` = not possible now; queue it with [`Scheduler::submit`].
    pub fn try_run_inline(
        &self,
        tail: &Arc<Loaded>,
        device: &str,
        input: &Tensor,
    ) -> Option<Result<JobOutput, JobError>> {
        let cfg = self.shared.config;
        if !cfg.max_queue_delay.is_zero() {
            return None;
        }
        {
            let mut st = self.shared.state.lock().ok()?;
            if st.shutdown || !st.queue.is_empty() || st.running >= cfg.workers {
                return None;
            }
            st.running += 1;
            let start_tag = st.tag(device, cost(tail, input));
            st.virtual_time = start_tag;
        }
        let start = Instant::now();
        let batch_size = input.shape()[0];
        let result = run_tail(tail, &[input.view()], batch_size);
        let tail_time = start.elapsed();
        if let Ok(mut st) = self.shared.state.lock() {
            st.running -= 1;
            if !st.queue.is_empty() {
                self.shared.wake.notify_one();
            }
        }
        (self.shared.observer)(&BatchEvent {
            batch_size,
            queue_length: 0,
            tail: tail_time,
            expired: 0,
        });
        Some(
            result
                .map(|output| JobOutput {
                    output,
                    queue: Duration::ZERO,
                    tail: tail_time,
                    batch_size,
                })
                .map_err(JobError::Engine),
        )
    }

    /// Sets a device's compute share (weight > 0; unknown devices weigh 1).
    pub fn set_share(&self, device: &str, weight: f64) {
        if let Ok(mut st) = self.shared.state.lock() {
            st.weights.insert(device.to_string(), weight.max(1e-6));
        }
    }

    /// Jobs waiting.
    pub fn queue_length(&self) -> usize {
        self.shared.state.lock().map(|s| s.queue.len()).unwrap_or(0)
    }

    /// The configuration in force.
    pub fn config(&self) -> SchedulerConfig {
        self.shared.config
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock() {
            st.shutdown = true;
        }
        self.shared.wake.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Scheduling cost of a job: tail MACs × samples.
fn cost(tail: &Loaded, input: &Tensor) -> f64 {
    (tail.macs_per_sample.max(1) as f64) * input.shape().first().copied().unwrap_or(1).max(1) as f64
}

/// Runs `tail` on the inputs stacked along the batch axis; its first output, checked to hold
/// `batch_size` rows.
fn run_tail(
    tail: &Loaded,
    inputs: &[ndarray::ArrayViewD<'_, f32>],
    batch_size: usize,
) -> Result<Tensor, String> {
    let x = ndarray::concatenate(Axis(0), inputs).map_err(|e| e.to_string())?;
    let mut outs = tail.runnable.run(&[x]).map_err(|e| e.to_string())?;
    if outs.is_empty() {
        return Err("the tail has no outputs".to_string());
    }
    let out = outs.swap_remove(0);
    if out.shape().first() != Some(&batch_size) {
        return Err(format!("output batch {:?} ≠ input batch {batch_size}", out.shape()));
    }
    Ok(out)
}

/// Takes the next batch, waiting for work and (up to the max queue delay) for the batch to
/// fill. `None` = shut down and drained.
fn take_batch(shared: &Shared) -> Option<Vec<Queued>> {
    let cfg = shared.config;
    let mut st = shared.state.lock().ok()?;
    loop {
        let next = if st.running < cfg.workers { st.next() } else { None };
        let Some(i) = next else {
            if st.shutdown && st.queue.is_empty() {
                return None;
            }
            st = shared.wake.wait(st).ok()?;
            continue;
        };
        let tail = st.queue[i].job.tail.clone();
        let same = st.queue.iter().filter(|q| Arc::ptr_eq(&q.job.tail, &tail)).count();
        let fill_by = st.queue[i].enqueued + cfg.max_queue_delay;
        let now = Instant::now();
        if same < cfg.max_batch && now < fill_by && !st.shutdown {
            st = shared.wake.wait_timeout(st, fill_by - now).ok()?.0;
            continue;
        }
        st.virtual_time = st.queue[i].start_tag;
        let mut idx: Vec<usize> =
            (0..st.queue.len()).filter(|&j| Arc::ptr_eq(&st.queue[j].job.tail, &tail)).collect();
        idx.sort_by(|&a, &b| st.queue[a].start_tag.total_cmp(&st.queue[b].start_tag));
        idx.truncate(cfg.max_batch);
        idx.sort_unstable_by(|a, b| b.cmp(a));
        let mut batch: Vec<Queued> = idx.into_iter().map(|j| st.queue.swap_remove(j)).collect();
        batch.reverse();
        st.running += 1;
        return Some(batch);
    }
}

/// A batch is done: frees its slot for the next one.
fn finished(shared: &Shared) {
    if let Ok(mut st) = shared.state.lock() {
        st.running = st.running.saturating_sub(1);
    }
    shared.wake.notify_one();
}

fn worker(shared: &Shared) {
    while let Some(batch) = take_batch(shared) {
        let start = Instant::now();
        let (live, expired): (Vec<Queued>, Vec<Queued>) = batch
            .into_iter()
            .partition(|q| !q.job.reply.is_closed() && q.job.deadline.is_none_or(|d| d > start));
        let n_expired = expired.len();
        for q in expired {
            let waited_ms = (start - q.enqueued).as_secs_f64() * 1e3;
            let _ = q.job.reply.send(Err(JobError::Deadline { waited_ms }));
        }
        if live.is_empty() {
            finished(shared);
            continue;
        }
        let tail = live[0].job.tail.clone();
        let views: Vec<_> = live.iter().map(|q| q.job.input.view()).collect();
        let batch_size: usize = live.iter().map(|q| q.job.input.shape()[0]).sum();
        let result = run_tail(&tail, &views, batch_size);
        let tail_time = start.elapsed();
        match result {
            Ok(out) => {
                let mut row = 0;
                for q in live {
                    let n = q.job.input.shape()[0];
                    let mine = out.slice_axis(Axis(0), (row..row + n).into()).to_owned();
                    row += n;
                    let _ = q.job.reply.send(Ok(JobOutput {
                        output: mine,
                        queue: start - q.enqueued,
                        tail: tail_time,
                        batch_size,
                    }));
                }
            }
            Err(msg) => {
                for q in live {
                    let _ = q.job.reply.send(Err(JobError::Engine(msg.clone())));
                }
            }
        }
        finished(shared);
        let queue_length = shared.state.lock().map(|s| s.queue.len()).unwrap_or(0);
        (shared.observer)(&BatchEvent {
            batch_size,
            queue_length,
            tail: tail_time,
            expired: n_expired,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::State;

    /// Start-time fair queueing on its own, without threads or clocks: two devices always
    /// backlogged with equal jobs, weights 3 and 1, are served exactly 3:1 in every window of
    /// four (what `compute_shares_divide_a_busy_edge` measures end to end).
    #[test]
    fn backlogged_devices_are_served_in_proportion_to_their_weights() {
        let mut st = State::default();
        st.weights.insert("gold".into(), 3.0);
        st.weights.insert("bronze".into(), 1.0);
        // Each device keeps two jobs queued: (device, start tag).
        let mut queue: Vec<(&str, f64)> = vec![];
        for d in ["gold", "bronze"] {
            for _ in 0..2 {
                queue.push((d, st.tag(d, 1e6)));
            }
        }
        let mut served = vec![];
        for _ in 0..400 {
            let i = (0..queue.len())
                .min_by(|&a, &b| queue[a].1.total_cmp(&queue[b].1).then(a.cmp(&b)))
                .unwrap_or(0);
            let (d, start) = queue.remove(i);
            st.virtual_time = start;
            served.push(d);
            queue.push((d, st.tag(d, 1e6)));
        }
        for window in served.chunks(4) {
            let gold = window.iter().filter(|d| **d == "gold").count();
            assert_eq!(gold, 3, "{window:?}");
        }
    }
}
