//! `coinfer automl proxies`: which cheap accuracy signal an AutoML search can trust.

use std::io::Write;

use anyhow::{Context, Result};
use coinfer_data::DatasetName;
use coinfer_pipeline::automl_proxies::{proxy_study, ProxyRow, ProxyStudy, ProxyStudyConfig};
use coinfer_train::FitConfig;

use crate::args::{AutomlWhat, ProxiesArgs};
use crate::output::{print_json, table, write_json};

pub fn run(what: AutomlWhat, json: bool) -> Result<()> {
    match what {
        AutomlWhat::Proxies(args) => proxies(&args, json),
    }
}

fn proxies(args: &ProxiesArgs, json: bool) -> Result<()> {
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let checkpoint = args.out.join("proxies.jsonl");
    let done = read_checkpoint(&checkpoint)?;
    let config = ProxyStudyConfig {
        graph: &graph,
        until: args.until.as_deref(),
        configs: args.configs,
        seed: args.seed,
        multiple_of: args.multiple_of,
        max_ratio: args.max_ratio,
        recalibration_images: args.recalibration_images,
        short_steps: args.short_steps,
        full: FitConfig { epochs: args.epochs, limit: args.limit, ..FitConfig::default() },
        val_images: args.val_images,
        data: DatasetName::FashionMnist,
        engine: &args.engine.engine,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&checkpoint)
        .with_context(|| format!("opening {}", checkpoint.display()))?;
    let append = |row: &ProxyRow| -> coinfer_pipeline::Result<()> {
        let line = serde_json::to_string(row).map_err(|e| {
            coinfer_pipeline::PipelineError::Invalid(format!("serialising a row: {e}"))
        })?;
        writeln!(file, "{line}").map_err(|source| coinfer_pipeline::PipelineError::Io {
            what: "appending to the checkpoint".into(),
            source,
        })
    };
    let study = proxy_study(&config, done, append, &mut super::Bar::new(json))?;
    write_json(&args.out.join("proxies.json"), &study)?;
    if json {
        return print_json(&study);
    }
    print_study(&study);
    println!("wrote {0}/proxies.json ({0}/proxies.jsonl: the rows, resumable)", args.out.display());
    Ok(())
}

/// Rows of an earlier, interrupted run (none if the file does not exist).
fn read_checkpoint(path: &std::path::Path) -> Result<Vec<ProxyRow>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{} line {}", path.display(), i + 1))
        })
        .collect()
}

fn print_study(study: &ProxyStudy) {
    let pct = |x: f64| format!("{:.2}", 100.0 * x);
    let rows = study
        .rows
        .iter()
        .map(|r| {
            vec![
                r.index.to_string(),
                format!("{:.1} M", r.macs as f64 / 1e6),
                pct(r.as_pruned),
                pct(r.adaptive_bn),
                pct(r.short_finetune),
                pct(r.full_finetune),
            ]
        })
        .collect();
    let headers = ["#", "MACs", "as pruned %", "adaptive BN %", "short FT %", "full FT %"];
    println!("{}", table(&headers, rows));
    let [a, b, c] = study.spearman;
    let [sa, sb, sc, sf] = study.mean_seconds;
    println!(
        "Spearman ρ with the full fine-tune: as pruned {a:.3} ({sa:.1} s), adaptive BN {b:.3} \
         ({sb:.1} s), short fine-tune {c:.3} ({sc:.1} s); full fine-tune {sf:.0} s per configuration"
    );
}
