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
//! is how tract is fastest on small CPUs); async handlers wait on a oneshot channel.
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
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig { workers: 2, max_batch: 32, max_queue_delay: Duration::ZERO }
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
    shutdown: bool,
}

impl State {
    fn weight(&self, device: &str) -> f64 {
        self.weights.get(device).copied().unwrap_or(1.0)
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
        let workers = (0..config.workers)
            .map(|i| {
                let s = shared.clone();
                std::thread::Builder::new()
                    .name(format!("coinfer-tail-{i}"))
                    .spawn(move || worker(&s))
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
        let cost = (job.tail.macs_per_sample.max(1) as f64) * job.input.shape()[0].max(1) as f64;
        let w = st.weight(&job.device);
        let prev = st.finish.get(&job.device).copied().unwrap_or(0.0);
        let start_tag = st.virtual_time.max(prev);
        st.finish.insert(job.device.clone(), start_tag + cost / w);
        st.queue.push(Queued { job, start_tag, enqueued: Instant::now() });
        drop(st);
        self.shared.wake.notify_all();
        Ok(())
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

/// Takes the next batch, waiting for work and (up to the max queue delay) for the batch to
/// fill. `None` = shut down and drained.
fn take_batch(shared: &Shared) -> Option<Vec<Queued>> {
    let cfg = shared.config;
    let mut st = shared.state.lock().ok()?;
    loop {
        let Some(i) = st.next() else {
            if st.shutdown {
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
        return Some(batch);
    }
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
            continue;
        }
        let tail = live[0].job.tail.clone();
        let views: Vec<_> = live.iter().map(|q| q.job.input.view()).collect();
        let result = ndarray::concatenate(Axis(0), &views)
            .map_err(|e| e.to_string())
            .and_then(|x| tail.runnable.run(&[x]).map_err(|e| e.to_string()));
        let tail_time = start.elapsed();
        let batch_size: usize = live.iter().map(|q| q.job.input.shape()[0]).sum();
        match result.and_then(|mut outs| {
            if outs.is_empty() {
                Err("the tail has no outputs".to_string())
            } else {
                Ok(outs.swap_remove(0))
            }
        }) {
            Ok(out) if out.shape().first() == Some(&batch_size) => {
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
            Ok(out) => {
                let msg = format!("output batch {:?} ≠ input batch {batch_size}", out.shape());
                for q in live {
                    let _ = q.job.reply.send(Err(JobError::Engine(msg.clone())));
                }
            }
            Err(msg) => {
                for q in live {
                    let _ = q.job.reply.send(Err(JobError::Engine(msg.clone())));
                }
            }
        }
        let queue_length = shared.state.lock().map(|s| s.queue.len()).unwrap_or(0);
        (shared.observer)(&BatchEvent {
            batch_size,
            queue_length,
            tail: tail_time,
            expired: n_expired,
        });
    }
}
