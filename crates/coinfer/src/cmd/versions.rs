//! `coinfer versions`: a family of the model at several widths (pruned + fine-tuned) and its
//! version table (`coinfer_pipeline::versions`), written as JSON and CSV.

use anyhow::Result;
use coinfer_data::DatasetName;
use coinfer_pipeline::versions::{build_versions, VersionsConfig};

use crate::args::VersionsArgs;
use crate::output::{print_json, si, table, write_json};

pub fn run(args: &VersionsArgs, json: bool) -> Result<()> {
    let existing = args.out.join("versions.json");
    if existing.exists() && !args.force {
        anyhow::bail!(
            "{} exists (a version table and its models): give --out NEW_DIR, or --force to \
             replace them",
            existing.display()
        );
    }
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let config = VersionsConfig {
        model: &args.model,
        graph: &graph,
        widths: &args.widths,
        criterion: args.criterion,
        fit: args.fit.config(),
        data: DatasetName::FashionMnist,
        out: &args.out,
    };
    let mut report = build_versions(&config, &mut super::Bar::new(json))?;
    report.command = std::env::args().collect::<Vec<_>>().join(" ");
    let entries = &report.versions;
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
    for e in entries {
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
