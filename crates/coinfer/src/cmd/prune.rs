//! `coinfer prune MODEL (--uniform R | --ratios FILE) [--until CUT] --out FILE`.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use coinfer_graph::Graph;
use coinfer_pipeline::prune_sweep::{
    head_latency_ms, head_macs, prune_sweep, PruneSweepConfig, PruneSweepRow,
};
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

/// `--list`: the model's channel groups and whether each can be pruned.
fn list_groups(graph: &Graph, json: bool) -> Result<()> {
    let prepared = coinfer_prune::prepare_for_pruning(graph)?;
    let groups = ChannelGroups::analyse(&prepared)?;
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
    Ok(())
}

pub fn run(args: &PruneArgs, json: bool) -> Result<()> {
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    if args.list {
        return list_groups(&graph, json);
    }
    if !args.sweep.is_empty() {
        return sweep(args, &graph, json);
    }
    let ratios = match (&args.uniform, &args.ratios) {
        (Some(r), None) => Ratios::Uniform { ratio: *r, until: until_node(&graph, args)? },
        (None, Some(path)) => Ratios::PerGroup(read_ratios(path)?),
        _ => bail!("give either --uniform R or --ratios FILE (or --list)"),
    };
    let Some(out) = &args.out else { bail!("--out FILE is required to write the pruned model") };
    let pruned = prune_rounded(&graph, &ratios, args.criterion, args.multiple_of)?;
    coinfer_graph::save_model(&pruned.graph.proto, out)?;
    let cut = args.until.as_deref();
    let p = &pruned.graph;
    let batch = args.latency_batch;
    let lat_before = head_latency_ms(&graph, cut, args.engine.name(), batch)?;
    let lat_after = head_latency_ms(p, cut, args.engine.name(), batch)?;
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
            "engine": args.engine.name(),
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
        args.engine.name(),
        batch,
        lat_before,
        lat_after,
        100.0 * (lat_after / lat_before - 1.0),
        out.display()
    );
    Ok(())
}

/// Topological index of the node producing `--until`'s cut tensor.
fn until_node(graph: &Graph, args: &PruneArgs) -> Result<Option<usize>> {
    Ok(coinfer_pipeline::prune_sweep::until_node(graph, args.until.as_deref())?)
}

/// `prune --sweep`: ratio vs accuracy vs head MACs and measured latency.
fn sweep(args: &PruneArgs, graph: &Graph, json: bool) -> Result<()> {
    let config = PruneSweepConfig {
        model: &args.model,
        graph,
        ratios: &args.sweep,
        until: args.until.as_deref(),
        criterion: args.criterion,
        multiple_of: args.multiple_of,
        fit: coinfer_train::FitConfig { epochs: args.epochs, lr: args.lr, ..Default::default() },
        data: coinfer_data::DatasetName::FashionMnist,
        images: args.images,
        engine: args.engine.name(),
        latency_batch: args.latency_batch,
    };
    let report = prune_sweep(&config, &mut super::Bar::new(json))?;
    let rows = &report.rows;
    let dir = &args.report;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut w = csv::Writer::from_path(dir.join("prune-sweep.csv"))?;
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    crate::output::write_json(&dir.join("prune-sweep.json"), &report)?;
    let line = |f: &dyn Fn(&PruneSweepRow) -> f64, label: &str| coinfer_report::Series {
        label: label.into(),
        points: rows.iter().map(|r| (r.ratio, f(r))).collect(),
    };
    let base_lat = rows.first().map_or(1.0, |r| r.head_latency_ms);
    let base_macs = rows.first().map_or(1.0, |r| r.head_macs as f64);
    coinfer_report::write_svg(
        &dir.join("prune-sweep.svg"),
        &[
            (
                "Top-1 accuracy vs prune ratio",
                "prune ratio (fraction of filters removed)",
                "accuracy (%)",
                vec![line(&|r| 100.0 * r.accuracy, "test accuracy")],
                false,
            ),
            (
                "Head cost vs prune ratio (relative to the first ratio)",
                "prune ratio (fraction of filters removed)",
                "relative to ratio 0",
                vec![
                    line(&|r| r.head_macs as f64 / base_macs, "head MACs"),
                    line(&|r| r.head_latency_ms / base_lat, "measured head latency"),
                ],
                false,
            ),
        ],
    )?;
    if json {
        return print_json(&report);
    }
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                format!("{:.2}", r.ratio),
                si(r.head_macs as f64),
                format!("{:.4}", r.head_latency_ms),
                format!("{:.2} %", 100.0 * r.accuracy),
                si(r.macs as f64),
                format!("{}B", si(r.param_bytes as f64)),
            ]
        })
        .collect();
    println!("{}", table(&["ratio", "head MACs", "head ms", "accuracy", "MACs", "params"], cells));
    println!("wrote {0}/prune-sweep.csv, .json, .svg", dir.display());
    Ok(())
}
