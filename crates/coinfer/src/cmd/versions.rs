//! `coinfer versions`: a family of the model at several widths (pruned + fine-tuned), and the
//! version table that the multi-device policies read (each entry deserialises as a
//! `coinfer_sim::ModelVersion`: name, accuracy, layer table).

use anyhow::{bail, Context, Result};
use coinfer_data::{DatasetName, Split};
use coinfer_graph::Graph;
use coinfer_prune::{prune, Ratios};

use super::finetune::{accuracy, finetune};
use crate::args::VersionsArgs;
use crate::output::{print_json, si, table, write_json};

/// Per-cut numbers of one version.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct VersionCut {
    /// Cut index (same list as `coinfer cuts`; pruning keeps the cut structure).
    pub index: usize,
    /// Cut tensor.
    pub tensor: String,
    /// Device MACs per sample.
    pub head_macs: u64,
    /// Edge MACs per sample.
    pub tail_macs: u64,
    /// fp32 feature bytes per sample.
    pub feature_bytes: u64,
    /// Head parameter bytes.
    pub head_param_bytes: u64,
}

/// One row of the version table.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct VersionEntry {
    /// Name, `width-0.50`.
    pub name: String,
    /// Fraction of channels kept.
    pub width: f64,
    /// ONNX file (relative to the table).
    pub file: String,
    /// Fashion-MNIST test accuracy (tract, full test set).
    pub accuracy: f64,
    /// Accuracy before fine-tuning (right after pruning).
    pub accuracy_pruned: f64,
    /// Total MACs per sample.
    pub macs: u64,
    /// Parameter bytes.
    pub param_bytes: u64,
    /// Per-cut costs.
    pub cuts: Vec<VersionCut>,
    /// The version as a chain of segments between cuts (the simulator's layer table).
    pub table: coinfer_sim::LayerTable,
}

pub fn run(args: &VersionsArgs, json: bool) -> Result<()> {
    if args.widths.iter().any(|w| !(*w > 0.0 && *w <= 1.0)) {
        bail!("widths must lie in (0, 1], got {:?}", args.widths);
    }
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let test = coinfer_data::load(DatasetName::FashionMnist, Split::Test)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let stem = args.model.file_stem().map_or("model".into(), |s| s.to_string_lossy().to_string());
    let mut entries = Vec::new();
    for &width in &args.widths {
        let name = format!("width-{width:.2}");
        let (model, pruned_acc) = if width >= 1.0 {
            (graph.proto.clone(), None)
        } else {
            let ratios = Ratios::Uniform { ratio: 1.0 - width, until: None };
            let pruned = prune(&graph, &ratios, args.criterion)?;
            let before = accuracy(&pruned.graph.proto, &test)?;
            let (model, _) = finetune(
                &pruned.graph,
                DatasetName::FashionMnist,
                &args.fit.config(),
                &name,
                json,
            )?;
            (model, Some(before))
        };
        let file = format!("{stem}-w{:03}.onnx", (width * 100.0).round() as u32);
        coinfer_graph::save_model(&model, &args.out.join(&file))?;
        let g = Graph::analyse(model)?;
        let acc = accuracy(&g.proto, &test)?;
        let cuts = g
            .cut_points()
            .into_iter()
            .map(|c| VersionCut {
                index: c.index,
                tensor: c.tensor,
                head_macs: c.head_macs,
                tail_macs: c.tail_macs,
                feature_bytes: c.feature_bytes,
                head_param_bytes: c.head_param_bytes,
            })
            .collect();
        tracing::info!(%name, accuracy = acc, "version written");
        entries.push(VersionEntry {
            name,
            width,
            file,
            accuracy: acc,
            accuracy_pruned: pruned_acc.unwrap_or(acc),
            macs: g.total_macs(),
            param_bytes: g.total_param_bytes(),
            cuts,
            table: super::layer_table(&g),
        });
    }
    let report = serde_json::json!({
        "model": args.model,
        "data": "fashion-mnist test (10k)",
        "criterion": args.criterion.to_string(),
        "fine_tuning": args.fit.config(),
        "versions": entries,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    write_json(&args.out.join("versions.json"), &report)?;
    let mut w = csv::Writer::from_path(args.out.join("versions.csv"))?;
    w.write_record([
        "version",
        "accuracy",
        "param_bytes",
        "cut",
        "tensor",
        "head_macs",
        "tail_macs",
        "feature_bytes",
    ])?;
    for e in &entries {
        for c in &e.cuts {
            w.write_record([
                e.name.clone(),
                format!("{:.4}", e.accuracy),
                e.param_bytes.to_string(),
                c.index.to_string(),
                c.tensor.clone(),
                c.head_macs.to_string(),
                c.tail_macs.to_string(),
                c.feature_bytes.to_string(),
            ])?;
        }
    }
    w.flush()?;
    if json {
        return print_json(&report);
    }
    let rows = entries
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                e.file.clone(),
                format!("{:.2} %", 100.0 * e.accuracy),
                format!("{:.2} %", 100.0 * e.accuracy_pruned),
                si(e.macs as f64),
                format!("{}B", si(e.param_bytes as f64)),
                e.cuts.len().to_string(),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["version", "file", "accuracy", "before fine-tuning", "MACs", "params", "cuts"],
            rows
        )
    );
    println!("wrote {0}/versions.json and {0}/versions.csv", args.out.display());
    Ok(())
}
