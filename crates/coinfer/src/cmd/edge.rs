//! `coinfer edge serve | health | shares` and `coinfer bench edge`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use coinfer_compress::Codec;
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::device::Percentiles;
use coinfer_runtime::models::{ModelId, ModelStore, Part};
use coinfer_runtime::proto::{InferRequest, Share};
use coinfer_runtime::server::{EdgeConfig, EdgeHandle, EdgeState, EdgeThread, ShareConfig};

use crate::args::{BenchEdgeArgs, EdgeServeArgs, EdgeWhat};
use crate::output::{print_json, table};

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn serve_config(args: &EdgeServeArgs) -> Result<EdgeConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("edge config {}", path.display()))?
        }
        None => EdgeConfig::default(),
    };
    if let Some(t) = &args.token {
        config.token = Some(t.clone());
    }
    if let Some(w) = args.workers {
        config.workers = w;
    }
    if let Some(b) = args.max_batch {
        config.max_batch = b;
    }
    if let Some(d) = args.max_queue_delay_ms {
        config.max_queue_delay_ms = d;
    }
    args.serving.apply(&mut config);
    if let Some(p) = &args.plan {
        let plan = super::device::read_plan(p)?;
        config.apply_plan(&plan);
    }
    config.validate()?;
    Ok(config)
}

pub fn run(what: EdgeWhat, json: bool) -> Result<()> {
    match what {
        EdgeWhat::Serve(args) => serve(&args, json),
        EdgeWhat::Health { edge } => runtime()?.block_on(async {
            let mut c = EdgeClient::new(&edge, None)?;
            let h = c.health().await.with_context(|| format!("edge {edge}"))?;
            let v = serde_json::to_value(&h)?;
            if json {
                print_json(&v)
            } else {
                println!("{}", serde_json::to_string_pretty(&v)?);
                Ok(())
            }
        }),
        EdgeWhat::Shares { edge, plan, token } => runtime()?.block_on(async {
            let plan = super::device::read_plan(&plan)?;
            let shares = ShareConfig::from_plan(&plan).into_iter().map(Share::from).collect();
            let mut c = EdgeClient::new(&edge, token.as_deref())?;
            let n = c.set_shares(shares).await.with_context(|| format!("edge {edge}"))?;
            println!("{n} devices' shares set on {edge}");
            Ok(())
        }),
    }
}

fn serve(args: &EdgeServeArgs, json: bool) -> Result<()> {
    if !args.models.is_dir() {
        bail!("model directory {} not found", args.models.display());
    }
    let config = serve_config(args)?;
    let engine = coinfer_engine::engine_for_name(&args.engine.engine)?;
    let rt = config.runtime()?;
    config.place_io_thread();
    rt.block_on(async {
        let state = EdgeState::new(&args.models, engine, config.clone())?;
        let edge = EdgeHandle::start(state, args.listen, Some(args.metrics)).await?;
        let info = serde_json::json!({
            "grpc": edge.url(), "http": edge.http_addr.map(|a| format!("http://{a}")),
            "models": args.models, "workers": config.workers, "max_batch": config.max_batch,
            "max_queue_delay_ms": config.max_queue_delay_ms, "auth": config.token.is_some(),
            "io_threads": config.io_threads, "pin_workers": config.pin_workers,
            "busy_poll_us": config.busy_poll_us,
        });
        if json {
            println!("{info}");
        } else {
            eprintln!(
                "coinfer edge: gRPC {} · /health and /metrics on http://{} · models {} · {} workers, batch ≤ {}, queue delay ≤ {} ms{} — Ctrl-C stops",
                edge.url(),
                edge.http_addr.map_or("-".into(), |a| a.to_string()),
                args.models.display(),
                config.workers,
                config.max_batch,
                config.max_queue_delay_ms,
                if config.token.is_some() { ", token required" } else { "" }
            );
        }
        let stopper = edge.stopper();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = stopper.send(true);
        });
        edge.wait().await?;
        Ok(())
    })
}

/// The feature frame of one test image at `cut` (raw float32, as devices send by default).
fn sample_frame(
    store: &ModelStore,
    id: &ModelId,
    cut: usize,
) -> Result<(Vec<u8>, coinfer_engine::Tensor)> {
    let data =
        coinfer_data::load(coinfer_data::DatasetName::FashionMnist, coinfer_data::Split::Test)?;
    let (x, _) = data.slice(0, 1);
    let head = store.part(id, Part::Head(cut))?;
    let feature = head.runnable.run(&[x])?.swap_remove(0);
    let frame = Codec::RawF32.encode(&super::to_feature(&feature));
    Ok((frame, feature))
}

/// Raw tail throughput: `threads` threads each running batches of `batch` for `seconds`.
fn raw_throughput(
    tail: &Arc<coinfer_runtime::models::Loaded>,
    x: &coinfer_engine::Tensor,
    batch: usize,
    threads: usize,
    seconds: f64,
) -> Result<f64> {
    let views: Vec<_> = (0..batch).map(|_| x.view()).collect();
    let input = ndarray::concatenate(ndarray::Axis(0), &views)?;
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

pub fn bench(setup: &BenchEdgeArgs, json: bool) -> Result<()> {
    let BenchEdgeArgs { devices, requests, seconds, idle, cut, workers, max_batch, serving } =
        *setup;
    let engine = coinfer_engine::engine_for_name("tract")?;
    let store = ModelStore::new("models", engine.clone());
    let id = ModelId { model: "fmnist-resnet".into(), version: String::new() };
    let tail = store
        .part(&id, Part::Tail(cut))
        .context("the default model (run from the project root)")?;
    let (frame, feature) = sample_frame(&store, &id, cut)?;
    let mut config =
        EdgeConfig { workers, max_batch, max_queue_delay_ms: 0.0, ..EdgeConfig::default() };
    serving.apply(&mut config);
    config.validate()?;
    let workers = config.workers;

    // 1. The tail's own compute time, batch 1, one thread.
    let mut own = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        tail.runnable.run(std::slice::from_ref(&feature))?;
        own.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let own = Percentiles::of(own);
    // 2. Raw tail throughput with the edge's threads, at batch 1 and at the max batch.
    let raw1 = raw_throughput(&tail, &feature, 1, workers, seconds)?;
    let raw_b = raw_throughput(&tail, &feature, config.max_batch, workers, seconds)?;

    // The edge on its own runtime and threads, as `coinfer edge serve` runs it; the devices
    // on one single-threaded runtime here (kept off the worker cores when they are pinned,
    // as devices on other machines would be).
    let edge = EdgeThread::spawn("models", engine, config.clone(), "127.0.0.1:0".parse()?)?;
    config.place_io_thread();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = rt.block_on(async {
        let req = |device: String| InferRequest {
            device_id: device,
            model: id.model.clone(),
            cut: cut as i32,
            frame: frame.clone(),
            ..InferRequest::default()
        };
        // Served, one device, sequential: overhead over the tail's own time.
        let mut c = EdgeClient::new(&edge.url(), None)?;
        for _ in 0..50 {
            c.infer(req("solo".into()), None).await?;
        }
        let mut served = Vec::with_capacity(requests);
        let (mut queue, mut server_extra, mut server_tail) = (vec![], vec![], vec![]);
        for _ in 0..requests {
            let t = Instant::now();
            let r = c.infer(req("solo".into()), None).await?;
            served.push(t.elapsed().as_secs_f64() * 1e3);
            if let Some(tm) = r.timing {
                queue.push(tm.queue_us as f64 / 1e3);
                server_tail.push(tm.tail_us as f64 / 1e3);
                server_extra.push(tm.total_us.saturating_sub(tm.tail_us) as f64 / 1e3);
            }
        }
        let served = Percentiles::of(served);
        let queue = Percentiles::of(queue);
        let server_extra = Percentiles::of(server_extra);
        let server_tail = Percentiles::of(server_tail);
        // The gRPC floor: a Health round trip (no decode, no tail, no scheduler).
        let mut floor = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t = Instant::now();
            c.health().await?;
            floor.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let floor = Percentiles::of(floor);

        // Many devices, closed loop, batching on.
        let stop = Instant::now() + Duration::from_secs_f64(seconds);
        let mut tasks = vec![];
        for d in 0..devices {
            let mut c = EdgeClient::new(&edge.url(), None)?;
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
            let (n, e) = t.await?;
            answered += n;
            failed += e;
        }
        let served_tput = answered as f64 / t0.elapsed().as_secs_f64();

        // Idle connections: open, hold, use again.
        let mut clients = Vec::with_capacity(idle);
        let mut idle_errors = 0;
        for _ in 0..idle {
            let mut c = EdgeClient::new(&edge.url(), None)?;
            idle_errors += usize::from(c.health().await.is_err());
            clients.push(c);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let live = c.infer(req("live".into()), None).await.is_ok();
        for c in clients.iter_mut() {
            idle_errors += usize::from(c.health().await.is_err());
        }
        anyhow::Ok(serde_json::json!({
            "model": "models/fmnist-resnet.onnx", "cut": cut, "engine": "tract",
            "frame_bytes": frame.len(), "workers": workers, "max_batch": config.max_batch,
            "io_threads": config.io_threads, "pin_workers": config.pin_workers,
            "busy_poll_us": config.busy_poll_us,
            "tail_own_ms": own, "served_ms": served, "grpc_health_rtt_ms": floor,
            "server_queue_ms": queue, "server_total_minus_tail_ms": server_extra, "server_tail_ms": server_tail,
            "overhead_p50_ms": served.p50 - own.p50,
            "raw_tail_per_s_batch1": raw1, "raw_tail_per_s_max_batch": raw_b,
            "devices": devices, "served_per_s": served_tput, "failed_devices": failed,
            "throughput_ratio_vs_raw_max_batch": served_tput / raw_b,
            "throughput_ratio_vs_raw_batch1": served_tput / raw1,
            "throughput_ratio_vs_best_raw": served_tput / raw1.max(raw_b),
            "idle_connections": idle, "idle_errors": idle_errors, "request_during_idle_ok": live,
        }))
    })?;
    drop(rt); // closes the devices' connections, which a graceful stop waits for
    edge.stop()?;
    if json {
        return print_json(&report);
    }
    let f = |k: &str| report[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "{}",
        table(
            &["measure", "value", "target"],
            vec![
                vec![
                    "tail own p50 (ms)".into(),
                    format!("{:.3}", report["tail_own_ms"]["p50"].as_f64().unwrap_or(f64::NAN)),
                    "".into()
                ],
                vec![
                    "served p50 (ms)".into(),
                    format!("{:.3}", report["served_ms"]["p50"].as_f64().unwrap_or(f64::NAN)),
                    "".into()
                ],
                vec![
                    "gRPC Health round trip p50 (ms)".into(),
                    format!(
                        "{:.3}",
                        report["grpc_health_rtt_ms"]["p50"].as_f64().unwrap_or(f64::NAN)
                    ),
                    "".into()
                ],
                vec![
                    "server: queue | total − tail p50 (ms)".into(),
                    format!(
                        "{:.3} | {:.3}",
                        report["server_queue_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
                        report["server_total_minus_tail_ms"]["p50"].as_f64().unwrap_or(f64::NAN)
                    ),
                    "".into()
                ],
                vec![
                    "serving overhead p50 (ms)".into(),
                    format!("{:.3}", f("overhead_p50_ms")),
                    "≤ 0.2".into()
                ],
                vec![
                    format!("raw tail /s, {workers} threads (batch 1 | max batch)"),
                    format!(
                        "{:.0} | {:.0}",
                        f("raw_tail_per_s_batch1"),
                        f("raw_tail_per_s_max_batch")
                    ),
                    "".into()
                ],
                vec![
                    format!("served /s, {devices} devices"),
                    format!("{:.0}", f("served_per_s")),
                    "".into()
                ],
                vec![
                    "throughput ratio (vs best raw)".into(),
                    format!("{:.2}", f("throughput_ratio_vs_best_raw")),
                    "≥ 0.90".into()
                ],
                vec![
                    format!("idle connections held ({idle})"),
                    format!("{} errors", report["idle_errors"]),
                    "0".into()
                ],
            ]
        )
    );
    Ok(())
}
