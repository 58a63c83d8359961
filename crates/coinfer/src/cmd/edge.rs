//! `coinfer edge serve | health | shares` and `coinfer bench edge`.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use coinfer_pipeline::edge_bench::{edge_bench, EdgeBenchConfig};
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::proto::Share;
use coinfer_runtime::server::{EdgeConfig, EdgeHandle, EdgeState, ShareConfig};

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
    // One descriptor per device connection: take what the hard limit allows, and say it.
    match coinfer_runtime::limits::raise_descriptor_limit() {
        Some((before, now)) if now > before => {
            tracing::info!("open descriptor limit raised from {before} to {now}")
        }
        Some((_, now)) => tracing::info!("open descriptor limit {now} (the hard limit)"),
        None => tracing::warn!("open descriptor limit unknown"),
    }
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
        publish(&edge, &args.publish, args.publish_every_s)?;
        edge.wait().await?;
        Ok(())
    })
}

/// Publishes `MODEL/VERSION`s one every `every_s` seconds (the first at once), each with its
/// tails prepared first; a bad name stops the server before it serves.
fn publish(edge: &EdgeHandle, list: &[String], every_s: f64) -> Result<()> {
    let mut ids = vec![];
    for item in list {
        let (model, version) = item
            .split_once('/')
            .with_context(|| format!("--publish `{item}`: expected MODEL/VERSION"))?;
        ids.push((model.to_string(), version.to_string()));
    }
    if ids.is_empty() {
        return Ok(());
    }
    if !(every_s.is_finite() && every_s > 0.0) {
        bail!("--publish-every-s must be > 0");
    }
    let state = edge.state.clone();
    let (model, version) = &ids[0];
    state.prepare_version(model, version)?;
    state.publish(model, version)?;
    tokio::spawn(async move {
        for (model, version) in ids.into_iter().skip(1) {
            tokio::time::sleep(Duration::from_secs_f64(every_s)).await;
            let s = state.clone();
            let (m, v) = (model.clone(), version.clone());
            let ready = tokio::task::spawn_blocking(move || {
                s.prepare_version(&m, &v)?;
                s.publish(&m, &v)
            })
            .await;
            match ready {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!("publishing {model}/{version}: {e}"),
                Err(e) => tracing::error!("publishing {model}/{version}: {e}"),
            }
        }
    });
    Ok(())
}

pub fn bench(setup: &BenchEdgeArgs, json: bool) -> Result<()> {
    let BenchEdgeArgs { devices, requests, seconds, idle, cut, workers, max_batch, serving } =
        *setup;
    let mut edge =
        EdgeConfig { workers, max_batch, max_queue_delay_ms: 0.0, ..EdgeConfig::default() };
    serving.apply(&mut edge);
    let config = EdgeBenchConfig {
        model_dir: "models".into(),
        model: "fmnist-resnet".into(),
        engine: "tract".into(),
        cut,
        data: coinfer_data::DatasetName::FashionMnist,
        devices,
        requests,
        seconds,
        idle,
        edge,
    };
    let r = edge_bench(&config).context("the default model (run from the project root)")?;
    if json {
        return print_json(&r);
    }
    let rows = vec![
        vec!["tail own p50 (ms)".into(), format!("{:.3}", r.tail_own_ms.p50), "".into()],
        vec!["served p50 (ms)".into(), format!("{:.3}", r.served_ms.p50), "".into()],
        vec![
            "gRPC Health round trip p50 (ms)".into(),
            format!("{:.3}", r.grpc_health_rtt_ms.p50),
            "".into(),
        ],
        vec![
            "server: queue | total − tail p50 (ms)".into(),
            format!("{:.3} | {:.3}", r.server_queue_ms.p50, r.server_total_minus_tail_ms.p50),
            "".into(),
        ],
        vec![
            "serving overhead p50 (ms)".into(),
            format!("{:.3}", r.overhead_p50_ms),
            "≤ 0.2".into(),
        ],
        vec![
            format!("raw tail /s, {} threads (batch 1 | max batch)", r.workers),
            format!("{:.0} | {:.0}", r.raw_tail_per_s_batch1, r.raw_tail_per_s_max_batch),
            "".into(),
        ],
        vec![format!("served /s, {devices} devices"), format!("{:.0}", r.served_per_s), "".into()],
        vec![
            "throughput ratio (vs best raw)".into(),
            format!("{:.2}", r.throughput_ratio_vs_best_raw),
            "≥ 0.90".into(),
        ],
        vec![
            format!("idle connections held ({idle})"),
            format!("{} errors", r.idle_errors),
            "0".into(),
        ],
    ];
    println!("{}", table(&["measure", "value", "target"], rows));
    Ok(())
}
