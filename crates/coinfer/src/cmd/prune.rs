//! `coinfer prune MODEL (--uniform R | --ratios FILE) [--until CUT] --out FILE`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use coinfer_engine::profile::{measure, random_inputs, MeasureOptions};
use coinfer_graph::Graph;
use coinfer_prune::{prune_rounded, ChannelGroups, Ratios};

use crate::args::PruneArgs;
use crate::output::{print_json, si, table};

/// Reads a ratio file: TOML (`name = 0.5`) or JSON (`{"name": 0.5}`), by extension.
pub(crate) fn read_ratios(path: &std::path::Path) -> Result<BTreeMap<String, f64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(anyhow::Error::from)
    } else {
        toml::from_str(&text).map_err(anyhow::Error::from)
    };
    parsed.with_context(|| format!("{} must map group names to ratios", path.display()))
}

/// Median latency (ms) of the head up to `cut` (whole model if `None`) on `engine` at `batch`.
pub(crate) fn head_latency_ms(
    graph: &Graph,
    cut: Option<&str>,
    engine: &str,
    batch: usize,
) -> Result<f64> {
    let engine = coinfer_engine::engine_for_name(engine)?;
    let model = match cut {
        Some(c) => graph.split(&graph.find_cut(c)?)?.head,
        None => graph.proto.clone(),
    };
    let runnable = engine.prepare(&model)?;
    let inputs = random_inputs(graph, batch.max(1), 3)?;
    let opts = MeasureOptions { warmup: 20, runs: 2000, budget: Duration::from_millis(1500) };
    Ok(measure(runnable.as_ref(), &inputs, &opts)?.median_ms)
}

/// MACs of the head up to `cut` (whole model if `None`).
pub(crate) fn head_macs(graph: &Graph, cut: Option<&str>) -> Result<u64> {
    Ok(match cut {
        Some(c) => graph.find_cut(c)?.head_macs,
        None => graph.total_macs(),
    })
}

pub fn run(args: &PruneArgs, json: bool) -> Result<()> {
    let graph = super::load_graph(&args.model)?;
    if args.list {
        let unshared = Graph::analyse(coinfer_prune::unshare_weights(&graph.proto))?;
        let groups = ChannelGroups::analyse(&unshared)?;
        if json {
            return print_json(&groups.groups);
        }
        let rows = groups
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.name.clone(),
                    g.channels.to_string(),
                    g.producers.len().to_string(),
                    g.slices.len().to_string(),
                    g.unprunable.clone().unwrap_or_else(|| "prunable".into()),
                ]
            })
            .collect();
        println!("{}", table(&["group", "channels", "producers", "slices", "status"], rows));
        return Ok(());
    }
    let ratios = match (&args.uniform, &args.ratios) {
        (Some(r), None) => {
            let until = match &args.until {
                Some(c) => {
                    let cut = graph.find_cut(c)?;
                    graph.tensor(&cut.tensor).and_then(|t| t.producer)
                }
                None => None,
            };
            Ratios::Uniform { ratio: *r, until }
        }
        (None, Some(path)) => Ratios::PerGroup(read_ratios(path)?),
        _ => bail!("give either --uniform R or --ratios FILE (or --list)"),
    };
    let Some(out) = &args.out else { bail!("--out FILE is required to write the pruned model") };
    let pruned = prune_rounded(&graph, &ratios, args.criterion, args.multiple_of)?;
    coinfer_graph::save_model(&pruned.graph.proto, out)?;
    let cut = args.until.as_deref();
    let p = &pruned.graph;
    let batch = args.latency_batch;
    let lat_before = head_latency_ms(&graph, cut, &args.engine.engine, batch)?;
    let lat_after = head_latency_ms(p, cut, &args.engine.engine, batch)?;
    let report = serde_json::json!({
        "model": args.model,
        "out": out,
        "criterion": args.criterion.to_string(),
        "groups": pruned.outcome,
        "macs": { "before": graph.total_macs(), "after": p.total_macs() },
        "param_bytes": { "before": graph.total_param_bytes(), "after": p.total_param_bytes() },
        "head": {
            "cut": cut,
            "macs_before": head_macs(&graph, cut)?,
            "macs_after": head_macs(p, cut)?,
            "latency_ms_before": lat_before,
            "latency_ms_after": lat_after,
            "engine": args.engine.engine,
            "latency_batch": batch,
        },
    });
    if json {
        return print_json(&report);
    }
    let rows = pruned
        .outcome
        .iter()
        .map(|o| vec![o.name.clone(), o.channels.to_string(), o.kept.to_string()])
        .collect();
    println!("{}", table(&["group", "channels", "kept"], rows));
    let what = cut.map_or("model".to_string(), |c| format!("head (≤ cut {c})"));
    println!(
        "MACs {} → {} ({:.1} %), parameters {}B → {}B\n{what}: MACs {} → {}, measured latency \
         ({}, batch {}) {:.4} → {:.4} ms ({:+.1} %)\nwrote {}",
        si(graph.total_macs() as f64),
        si(p.total_macs() as f64),
        100.0 * p.total_macs() as f64 / graph.total_macs().max(1) as f64,
        si(graph.total_param_bytes() as f64),
        si(p.total_param_bytes() as f64),
        si(head_macs(&graph, cut)? as f64),
        si(head_macs(p, cut)? as f64),
        args.engine.engine,
        batch,
        lat_before,
        lat_after,
        100.0 * (lat_after / lat_before - 1.0),
        out.display()
    );
    Ok(())
}
