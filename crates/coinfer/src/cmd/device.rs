//! `coinfer device run`: one device executing its plan entry against an edge.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use coinfer_data::Split;
use coinfer_pipeline::features::batch_of_one;
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::device::{DeviceOptions, DeviceRunner, RateProbe, Record, Summary};
use coinfer_runtime::models::ModelStore;
use coinfer_runtime::relay::LinkRelay;
use coinfer_sim::Plan;

use crate::args::DeviceRunArgs;
use crate::output::{print_json, table};

/// What a device sends: test images of a data set, with labels, or a user's samples.
enum Inputs {
    Data(coinfer_data::Dataset),
    Given(coinfer_engine::Tensor),
}

impl Inputs {
    fn len(&self) -> usize {
        match self {
            Inputs::Data(d) => d.len(),
            Inputs::Given(x) => x.shape().first().copied().unwrap_or(0),
        }
    }

    /// Sample `k % len` as a batch of one, and its label if known.
    fn get(&self, k: usize) -> (coinfer_engine::Tensor, Option<u32>) {
        let k = k % self.len().max(1);
        match self {
            Inputs::Data(d) => {
                let (x, y) = d.slice(k, k + 1);
                (x, y.first().map(|&l| u32::from(l)))
            }
            Inputs::Given(x) => (batch_of_one(x, k).unwrap_or_else(|| x.clone()), None),
        }
    }
}

/// Reads and validates a plan file.
pub(crate) fn read_plan(path: &std::path::Path) -> Result<Plan> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Plan::from_json(&text).with_context(|| format!("plan {}", path.display()))
}

/// Writes per-request records as CSV.
pub(crate) fn write_records(path: &std::path::Path, records: &[Record]) -> Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    for r in records {
        w.serialize(r)?;
    }
    w.flush()?;
    Ok(())
}

/// One row per stage of a summary, for humans.
pub(crate) fn summary_table(s: &Summary) -> String {
    let m = &s.stage_means_ms;
    let totals = table(
        &[
            "requests",
            "edge",
            "fallback",
            "local",
            "accuracy",
            "frame B",
            "e2e p50 ms",
            "e2e p95 ms",
        ],
        vec![vec![
            s.requests.to_string(),
            s.edge.to_string(),
            s.fallback.to_string(),
            s.local.to_string(),
            if s.labelled > 0 { format!("{:.2} %", 100.0 * s.accuracy) } else { "—".into() },
            format!("{:.0}", s.mean_frame_bytes),
            format!("{:.2}", s.e2e_ms.p50),
            format!("{:.2}", s.e2e_ms.p95),
        ]],
    );
    if s.edge == 0 {
        return totals;
    }
    // Means over the edge-served requests, adding up to their mean end-to-end time.
    let stages = table(
        &[
            "mean ms (edge-served)",
            "head",
            "encode",
            "network",
            "edge shaping",
            "edge decode",
            "edge queue",
            "edge tail",
            "other",
            "= e2e",
        ],
        vec![vec![
            format!("{} requests", s.edge),
            format!("{:.3}", m.head),
            format!("{:.3}", m.encode),
            format!("{:.3}", m.transmit),
            format!("{:.3}", m.edge_shaping),
            format!("{:.3}", m.edge_decode),
            format!("{:.3}", m.edge_queue),
            format!("{:.3}", m.edge_tail),
            format!("{:.3}", m.other),
            format!("{:.3}", m.e2e),
        ]],
    );
    format!("{totals}\n{stages}")
}

pub fn run(args: &DeviceRunArgs, json: bool) -> Result<()> {
    let plan = read_plan(&args.plan)?;
    let entry = match &args.device {
        Some(id) => plan.device(id).with_context(|| format!("no device `{id}` in the plan"))?,
        None => plan.devices.first().context("the plan has no devices")?,
    }
    .clone();
    if args.n == 0 {
        bail!("--n must be ≥ 1");
    }
    let inputs = match &args.inputs {
        Some(path) => Inputs::Given(
            coinfer_engine::read_npy(path)
                .with_context(|| format!("--inputs {}", path.display()))?,
        ),
        None => Inputs::Data(coinfer_data::load(args.data, Split::Test)?),
    };
    if inputs.len() == 0 {
        bail!("no inputs to send");
    }
    let engine = coinfer_engine::engine_for_name(args.engine.name())?;
    let store = Arc::new(ModelStore::new(&args.models, engine).with_plan_shapes(&plan));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        // The emulated link, if any: a relay in this process between device and each edge.
        let link = args.link.configs()?;
        // Retransmission timeout of a lost packet: the emulated link's, else Linux's minimum.
        let rto_ms = link.as_ref().map_or(200.0, |(up, _)| up.rto_ms);
        if !args.edge.is_empty() {
            if let Some(w) = entry.deadline_warning(rto_ms, 0.0) {
                tracing::warn!("{w}");
            }
        }
        let mut relays = vec![];
        let mut urls = vec![];
        let mut domains = vec![];
        for url in &args.edge {
            let Some((up, down)) = link.clone() else {
                urls.push(url.clone());
                domains.push(None);
                continue;
            };
            let (scheme, target) = url
                .split_once("://")
                .with_context(|| format!("edge URL `{url}`: start it with http:// or https://"))?;
            let target = target.trim_end_matches('/');
            let addr: std::net::SocketAddr = tokio::net::lookup_host(target)
                .await
                .with_context(|| format!("resolving {target}"))?
                .next()
                .with_context(|| format!("{target} does not resolve"))?;
            let r = LinkRelay::start("127.0.0.1:0".parse()?, addr, up, down)?;
            urls.push(format!("{scheme}://{}", r.local_addr()));
            // Through the relay, the edge's certificate still names the edge's host.
            let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
            domains.push(Some(host.trim_matches(|c| c == '[' || c == ']').to_string()));
            relays.push(Arc::new(r));
        }
        let probe: Option<RateProbe> = relays.first().map(|r| r.rate_probe());
        let mut clients = urls
            .iter()
            .zip(&domains)
            .map(|(u, host)| {
                let mut tls = args.tls.for_url(u);
                if let (Some(t), None) = (tls.as_mut(), &args.tls.tls_domain) {
                    t.domain = host.clone();
                }
                EdgeClient::connect(u, args.token.as_deref(), tls.as_ref())
            })
            .collect::<coinfer_runtime::Result<Vec<_>>>()?
            .into_iter();
        let client = clients.next();
        let url = (!urls.is_empty()).then(|| urls.join(", "));
        let options = DeviceOptions {
            retry_after: Duration::from_millis(args.retry_after_ms),
            ..DeviceOptions::default()
        };
        let mut placer = match &args.place {
            Some(path) => {
                let client = client.clone().context("--place needs --edge")?;
                Some(super::device_place::Placer::new(path, &entry, client, args)?)
            }
            None => None,
        };
        let mut device = DeviceRunner::new(entry.clone(), store, client, options, probe);
        for more in clients {
            device.add_edge(more);
        }
        if args.health_check_ms > 0 && !args.edge.is_empty() {
            device.check_health(Duration::from_millis(args.health_check_ms));
        }
        match placer.as_mut() {
            Some(p) => p.start(&mut device).await?,
            None => device.warm_up().await?,
        }
        let bar = super::progress_bar(args.n as u64, &entry.device_id, json);
        let mut records = Vec::with_capacity(args.n);
        for i in 0..args.n {
            if let Some(p) = placer.as_mut() {
                p.step(&mut device).await?;
            }
            let (x, y) = inputs.get(args.offset + i);
            let record = device.infer(x, y).await?;
            if let Some(p) = placer.as_mut() {
                p.count(&record);
            }
            records.push(record);
            bar.inc(1);
            if args.interval_ms > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(args.interval_ms / 1e3)).await;
            }
        }
        bar.finish_and_clear();
        let placements = match placer {
            Some(p) => p.finish(&mut device).await?,
            None => vec![],
        };
        if let Some(path) = &args.records {
            write_records(path, &records)?;
        }
        let summary = Summary::of(&records);
        // Deadline sense, with the answered requests' measured median as the expected time.
        let answered: Vec<f64> = records
            .iter()
            .filter(|r| matches!(r.served_by, coinfer_runtime::device::ServedBy::Edge))
            .map(|r| r.e2e_ms)
            .collect();
        let warnings: Vec<String> = (!answered.is_empty())
            .then(|| {
                let expected = coinfer_runtime::device::Percentiles::of(answered).p50;
                entry.deadline_warning(rto_ms, expected)
            })
            .flatten()
            .into_iter()
            .collect();
        // The first failure says why (later ones are often only "marked down").
        let first_error = records.iter().find_map(|r| r.error.as_deref());
        let last_error = records.iter().rev().find_map(|r| r.error.as_deref());
        // Requests meant for the edge that all ended on the device: the run failed, unless
        // the user said that is expected.
        let nothing_reached = summary.edge == 0 && summary.fallback + summary.unanswered > 0;
        let failed = (nothing_reached && !args.allow_fallback).then(|| {
            anyhow::anyhow!(
                "no request reached the edge ({} of {} finished on the device, {} unanswered): \
                 {}; pass --allow-fallback if the edge is expected to be down",
                summary.fallback,
                summary.requests,
                summary.unanswered,
                first_error.unwrap_or("no error recorded")
            )
        });
        if json {
            print_json(&serde_json::json!({
                "device": entry, "summary": summary, "placements": placements,
                "first_edge_error": first_error, "last_edge_error": last_error,
                "warnings": warnings,
            }))?;
            return failed.map_or(Ok(()), Err);
        }
        println!(
            "device `{}`: {} on `{}` via {}",
            entry.device_id,
            entry.split,
            entry.model,
            url.as_deref().unwrap_or("no edge (local)")
        );
        println!("{}", summary_table(&summary));
        if !placements.is_empty() {
            println!("{}", super::device_place::placements_table(&placements));
        }
        for w in &warnings {
            println!("warning: {w} (expected time: the answered requests' median)");
        }
        if let Some(e) = first_error {
            println!("first edge error: {e}");
        }
        if let Some(e) = last_error.filter(|&l| Some(l) != first_error) {
            println!("last edge error: {e}");
        }
        failed.map_or(Ok(()), Err)
    })
}
