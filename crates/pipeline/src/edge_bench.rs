//! The edge server's benchmark: serving overhead over the tail's own time, throughput against
//! the raw tail on as many threads, and idle connections held — the harness behind
//! `coinfer bench edge`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use coinfer_compress::Codec;
use coinfer_data::{DatasetName, Split};
use coinfer_engine::Tensor;
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::device::Percentiles;
use coinfer_runtime::models::{Loaded, ModelId, ModelStore, Part};
use coinfer_runtime::proto::InferRequest;
use coinfer_runtime::server::{EdgeConfig, EdgeThread};

use crate::error::{PipelineError, Result};

/// What to benchmark.
#[derive(Debug, Clone)]
pub struct EdgeBenchConfig {
    /// Folder the edge serves models from.
    pub model_dir: std::path::PathBuf,
    /// Model name in it (`<model>.onnx`).
    pub model: String,
    /// Engine name.
    pub engine: String,
    /// Cut whose tail is served.
    pub cut: usize,
    /// Whose first test image makes the frame.
    pub data: DatasetName,
    /// Concurrent devices for the throughput run.
    pub devices: usize,
    /// Requests for the overhead run.
    pub requests: usize,
    /// Seconds of each throughput run.
    pub seconds: f64,
    /// Idle device connections to open and hold.
    pub idle: usize,
    /// The edge's settings (workers, batching, threads).
    pub edge: EdgeConfig,
}

/// What the benchmark measured (times in ms, rates per second).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EdgeBenchReport {
    /// Model name.
    pub model: String,
    /// Cut served.
    pub cut: usize,
    /// Engine.
    pub engine: String,
    /// Frame bytes per request (raw float32).
    pub frame_bytes: usize,
    /// Edge worker threads.
    pub workers: usize,
    /// Largest tail batch.
    pub max_batch: usize,
    /// Async I/O threads.
    pub io_threads: usize,
    /// Workers pinned to cores.
    pub pin_workers: bool,
    /// Busy-poll time of idle workers (µs).
    pub busy_poll_us: u64,
    /// The tail alone, batch 1, one thread.
    pub tail_own_ms: Percentiles,
    /// One device, sequential requests, end to end.
    pub served_ms: Percentiles,
    /// A gRPC Health round trip: the protocol's floor.
    pub grpc_health_rtt_ms: Percentiles,
    /// The server's own queueing.
    pub server_queue_ms: Percentiles,
    /// The server's time besides the tail.
    pub server_total_minus_tail_ms: Percentiles,
    /// The tail as the server timed it.
    pub server_tail_ms: Percentiles,
    /// `served p50 − tail own p50`.
    pub overhead_p50_ms: f64,
    /// Raw tail throughput at batch 1 on the edge's threads.
    pub raw_tail_per_s_batch1: f64,
    /// Raw tail throughput at the largest batch.
    pub raw_tail_per_s_max_batch: f64,
    /// Devices of the throughput run.
    pub devices: usize,
    /// Requests answered per second with all devices.
    pub served_per_s: f64,
    /// Devices whose requests failed.
    pub failed_devices: usize,
    /// Served over raw throughput at the largest batch.
    pub throughput_ratio_vs_raw_max_batch: f64,
    /// Served over raw throughput at batch 1.
    pub throughput_ratio_vs_raw_batch1: f64,
    /// Served over the better raw throughput.
    pub throughput_ratio_vs_best_raw: f64,
    /// Idle connections opened.
    pub idle_connections: usize,
    /// Errors on them.
    pub idle_errors: usize,
    /// A request served while they were held.
    pub request_during_idle_ok: bool,
}

/// Runs the benchmark.
pub fn edge_bench(config: &EdgeBenchConfig) -> Result<EdgeBenchReport> {
    let engine = coinfer_engine::engine_for_name(&config.engine)?;
    let store = ModelStore::new(&config.model_dir, engine.clone());
    let id = ModelId { model: config.model.clone(), version: String::new() };
    let tail = store.part(&id, Part::Tail(config.cut))?;
    let (frame, feature) = sample_frame(&store, &id, config.cut, config.data)?;
    let edge_config = config.edge.clone();
    edge_config.validate()?;
    let workers = edge_config.workers;

    // 1. The tail's own compute time, batch 1, one thread.
    let own = tail_own_time(&tail, &feature, config.requests)?;
    // 2. Raw tail throughput with the edge's threads, at batch 1 and at the max batch.
    let raw1 = raw_throughput(&tail, &feature, 1, workers, config.seconds)?;
    let raw_b = raw_throughput(&tail, &feature, edge_config.max_batch, workers, config.seconds)?;

    // The edge on its own runtime and threads, as `coinfer edge serve` runs it; the devices
    // on one single-threaded runtime here (kept off the worker cores when they are pinned,
    // as devices on other machines would be).
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let edge = EdgeThread::spawn(&config.model_dir, engine, edge_config.clone(), any)?;
    edge_config.place_io_thread();
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|source| {
            PipelineError::Io { what: "starting the async runtime".into(), source }
        })?;
    let served = rt.block_on(serve(config, &edge.url(), &frame))?;
    drop(rt); // closes the devices' connections, which a graceful stop waits for
    edge.stop()?;
    Ok(EdgeBenchReport {
        model: config.model.clone(),
        cut: config.cut,
        engine: config.engine.clone(),
        frame_bytes: frame.len(),
        workers,
        max_batch: edge_config.max_batch,
        io_threads: edge_config.io_threads,
        pin_workers: edge_config.pin_workers,
        busy_poll_us: edge_config.busy_poll_us,
        overhead_p50_ms: served.served.p50 - own.p50,
        tail_own_ms: own,
        served_ms: served.served,
        grpc_health_rtt_ms: served.floor,
        server_queue_ms: served.queue,
        server_total_minus_tail_ms: served.server_extra,
        server_tail_ms: served.server_tail,
        raw_tail_per_s_batch1: raw1,
        raw_tail_per_s_max_batch: raw_b,
        devices: config.devices,
        served_per_s: served.per_s,
        failed_devices: served.failed,
        throughput_ratio_vs_raw_max_batch: served.per_s / raw_b,
        throughput_ratio_vs_raw_batch1: served.per_s / raw1,
        throughput_ratio_vs_best_raw: served.per_s / raw1.max(raw_b),
        idle_connections: config.idle,
        idle_errors: served.idle_errors,
        request_during_idle_ok: served.live,
    })
}

/// What the devices measured against the running edge.
struct Served {
    served: Percentiles,
    queue: Percentiles,
    server_extra: Percentiles,
    server_tail: Percentiles,
    floor: Percentiles,
    per_s: f64,
    failed: usize,
    idle_errors: usize,
    live: bool,
}

async fn serve(config: &EdgeBenchConfig, url: &str, frame: &[u8]) -> Result<Served> {
    let req = |device: String| InferRequest {
        device_id: device,
        model: config.model.clone(),
        cut: config.cut as i32,
        frame: frame.to_vec(),
        ..InferRequest::default()
    };
    // Served, one device, sequential: overhead over the tail's own time.
    let mut c = EdgeClient::new(url, None)?;
    for _ in 0..50 {
        c.infer(req("solo".into()), None).await.map_err(refused)?;
    }
    let mut served = Vec::with_capacity(config.requests);
    let (mut queue, mut server_extra, mut server_tail) = (vec![], vec![], vec![]);
    for _ in 0..config.requests {
        let t = Instant::now();
        let r = c.infer(req("solo".into()), None).await.map_err(refused)?;
        served.push(t.elapsed().as_secs_f64() * 1e3);
        if let Some(tm) = r.timing {
            queue.push(tm.queue_us as f64 / 1e3);
            server_tail.push(tm.tail_us as f64 / 1e3);
            server_extra.push(tm.total_us.saturating_sub(tm.tail_us) as f64 / 1e3);
        }
    }
    // The gRPC floor: a Health round trip (no decode, no tail, no scheduler).
    let mut floor = Vec::with_capacity(config.requests);
    for _ in 0..config.requests {
        let t = Instant::now();
        c.health().await.map_err(refused)?;
        floor.push(t.elapsed().as_secs_f64() * 1e3);
    }

    // Many devices, closed loop, batching on.
    let stop = Instant::now() + Duration::from_secs_f64(config.seconds);
    let mut tasks = vec![];
    for d in 0..config.devices {
        let mut c = EdgeClient::new(url, None)?;
        let r = req(format!("dev-{d}"));
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < stop {
                if c.infer(r.clone(), None).await.is_err() {
                    return (n, 1usize);
                }
                n += 1;
            }
            (n, 0)
        }));
    }
    let t0 = Instant::now();
    let (mut answered, mut failed) = (0, 0);
    for t in tasks {
        let (n, e) =
            t.await.map_err(|e| PipelineError::Invalid(format!("a device task failed: {e}")))?;
        answered += n;
        failed += e;
    }
    let per_s = answered as f64 / t0.elapsed().as_secs_f64();

    // Idle connections: open, hold, use again.
    let mut clients = Vec::with_capacity(config.idle);
    let mut idle_errors = 0;
    for _ in 0..config.idle {
        let mut c = EdgeClient::new(url, None)?;
        idle_errors += usize::from(c.health().await.is_err());
        clients.push(c);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let live = c.infer(req("live".into()), None).await.is_ok();
    for c in clients.iter_mut() {
        idle_errors += usize::from(c.health().await.is_err());
    }
    Ok(Served {
        served: Percentiles::of(served),
        queue: Percentiles::of(queue),
        server_extra: Percentiles::of(server_extra),
        server_tail: Percentiles::of(server_tail),
        floor: Percentiles::of(floor),
        per_s,
        failed,
        idle_errors,
        live,
    })
}

/// A request the edge refused, as a pipeline error.
fn refused(status: tonic::Status) -> PipelineError {
    PipelineError::Invalid(format!("the edge refused a benchmark request: {status}"))
}

/// The tail's own compute time over `n` runs on `feature`, batch 1, this thread (ms).
fn tail_own_time(tail: &Loaded, feature: &Tensor, n: usize) -> Result<Percentiles> {
    let mut own = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        tail.runnable.run(std::slice::from_ref(feature))?;
        own.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(Percentiles::of(own))
}

/// The raw-float32 frame of the first Fashion-MNIST test image at `cut` of `model` in
/// `model_dir` (on `engine`), and the tail's own time on it over `n` runs (ms).
pub(crate) fn first_frame(
    model_dir: &std::path::Path,
    model: &str,
    engine: &str,
    cut: usize,
    n: usize,
) -> Result<(Vec<u8>, Percentiles)> {
    let store = ModelStore::new(model_dir, coinfer_engine::engine_for_name(engine)?);
    let id = ModelId { model: model.into(), version: String::new() };
    let (frame, feature) = sample_frame(&store, &id, cut, DatasetName::FashionMnist)?;
    let tail = store.part(&id, Part::Tail(cut))?;
    Ok((frame, tail_own_time(&tail, &feature, n)?))
}

/// The feature frame of one test image at `cut` (raw float32, as devices send by default).
fn sample_frame(
    store: &ModelStore,
    id: &ModelId,
    cut: usize,
    data: DatasetName,
) -> Result<(Vec<u8>, Tensor)> {
    let data = coinfer_data::load(data, Split::Test)?;
    let (x, _) = data.slice(0, 1);
    let head = store.part(id, Part::Head(cut))?;
    let feature = head.runnable.run(&[x])?.swap_remove(0);
    let frame = Codec::RawF32.encode(&crate::features::to_feature(&feature));
    Ok((frame, feature))
}

/// Raw tail throughput: `threads` threads each running batches of `batch` for `seconds`.
fn raw_throughput(
    tail: &Arc<Loaded>,
    x: &Tensor,
    batch: usize,
    threads: usize,
    seconds: f64,
) -> Result<f64> {
    let views: Vec<_> = (0..batch).map(|_| x.view()).collect();
    let input = ndarray::concatenate(ndarray::Axis(0), &views)
        .map_err(|e| PipelineError::Invalid(format!("batching the feature: {e}")))?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let stop = Instant::now() + Duration::from_secs_f64(seconds);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while Instant::now() < stop {
                    if tail.runnable.run(std::slice::from_ref(&input)).is_err() {
                        break;
                    }
                    done.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    Ok(done.into_inner() as f64 / seconds)
}
