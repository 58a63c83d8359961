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
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    if args.list {
        let prepared = coinfer_prune::prepare_for_pruning(&graph)?;
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
        return Ok(());
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

/// Topological index of the node producing `--until`'s cut tensor.
fn until_node(graph: &Graph, args: &PruneArgs) -> Result<Option<usize>> {
    Ok(match &args.until {
        Some(c) => {
            let cut = graph.find_cut(c)?;
            graph.tensor(&cut.tensor).and_then(|t| t.producer)
        }
        None => None,
    })
}

/// One row of the pruning sweep.
#[derive(Debug, serde::Serialize)]
struct SweepRow {
    ratio: f64,
    macs: u64,
    head_macs: u64,
    param_bytes: u64,
    head_latency_ms: f64,
    accuracy: f64,
    fine_tuning_epochs: usize,
}

/// `prune --sweep`: ratio vs accuracy vs head MACs and measured latency.
fn sweep(args: &PruneArgs, graph: &Graph, json: bool) -> Result<()> {
    use coinfer_data::{DatasetName, Split};
    let test = coinfer_data::load(DatasetName::FashionMnist, Split::Test)?.take(args.images);
    let cut = args.until.as_deref();
    let until = until_node(graph, args)?;
    let fit = coinfer_train::FitConfig { epochs: args.epochs, lr: args.lr, ..Default::default() };
    let bar = super::progress_bar(args.sweep.len() as u64, "ratios", json);
    let mut rows = Vec::new();
    for &ratio in &args.sweep {
        let ratios = Ratios::Uniform { ratio, until };
        let pruned = prune_rounded(graph, &ratios, args.criterion, args.multiple_of)?;
        let model = if args.epochs > 0 && ratio > 0.0 {
            let label = format!("ratio {ratio}");
            let (m, _) = super::finetune::finetune(
                &pruned.graph,
                DatasetName::FashionMnist,
                &fit,
                &label,
                json,
            )?;
            Graph::analyse(m)?
        } else {
            pruned.graph
        };
        rows.push(SweepRow {
            ratio,
            macs: model.total_macs(),
            head_macs: head_macs(&model, cut)?,
            param_bytes: model.total_param_bytes(),
            head_latency_ms: head_latency_ms(&model, cut, &args.engine.engine, args.latency_batch)?,
            accuracy: super::finetune::accuracy(&model.proto, &test)?,
            fine_tuning_epochs: if ratio > 0.0 { args.epochs } else { 0 },
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let dir = &args.report;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut w = csv::Writer::from_path(dir.join("prune-sweep.csv"))?;
    for r in &rows {
        w.serialize(r)?;
    }
    w.flush()?;
    let report = serde_json::json!({
        "model": args.model, "until": cut, "criterion": args.criterion.to_string(),
        "multiple_of": args.multiple_of, "engine": args.engine.engine,
        "latency_batch": args.latency_batch, "images": test.len(), "rows": rows,
    });
    crate::output::write_json(&dir.join("prune-sweep.json"), &report)?;
    let line = |f: &dyn Fn(&SweepRow) -> f64, label: &str| crate::plot::Series {
        label: label.into(),
        points: rows.iter().map(|r| (r.ratio, f(r))).collect(),
    };
    let base_lat = rows.first().map_or(1.0, |r| r.head_latency_ms);
    let base_macs = rows.first().map_or(1.0, |r| r.head_macs as f64);
    crate::plot::write_svg(
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
