//! `coinfer profile MODEL` and `coinfer profiles`.

use anyhow::{anyhow, Context, Result};
use coinfer_engine::profile::ModelProfile;
use coinfer_sim::{builtin_profiles, profile_by_name, HardwareProfile};

use crate::args::ProfileArgs;
use crate::output::{bytes, print_json, si, table, write_json};
use crate::plot::{write_svg, Series};

/// The named profile, or an error listing the known ones.
pub fn hardware(name: &str) -> Result<HardwareProfile> {
    profile_by_name(name).ok_or_else(|| {
        let names: Vec<String> = builtin_profiles().into_iter().map(|p| p.name).collect();
        anyhow!("unknown hardware profile `{name}`; known: {}", names.join(", "))
    })
}

pub use coinfer_pipeline::profile::measured;

/// Profiles a model with a progress bar.
pub fn measure_model(
    graph: &coinfer_graph::Graph,
    engine: &str,
    batch: usize,
    runs: usize,
    json: bool,
) -> Result<ModelProfile> {
    Ok(coinfer_pipeline::profile::measure_model(
        graph,
        engine,
        batch,
        runs,
        &mut super::Bar::new(json),
    )?)
}

pub fn run(args: &ProfileArgs, json: bool) -> Result<()> {
    let device = hardware(&args.device)?;
    let edge = hardware(&args.edge)?;
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let p = measure_model(&graph, &args.engine.engine, args.batch, args.runs, json)?;
    let m = measured(&p);
    let host = m.host_gmacs();
    let rows: Vec<serde_json::Value> = p
        .cuts
        .iter()
        .map(|c| {
            serde_json::json!({
                "index": c.cut.index,
                "tensor": c.cut.tensor,
                "shape": c.cut.shape,
                "feature_bytes": c.cut.feature_bytes,
                "head_macs": c.cut.head_macs,
                "tail_macs": c.cut.tail_macs,
                "host_head_ms": c.head.median_ms,
                "host_tail_ms": c.tail.median_ms,
                "device_head_ms": device.scale_from_host(c.head.median_ms / p.batch as f64, host),
                "edge_tail_ms": edge.scale_from_host(c.tail.median_ms / p.batch as f64, host),
            })
        })
        .collect();
    let report = serde_json::json!({
        "model": args.model,
        "engine": p.engine,
        "threads": p.threads,
        "batch": p.batch,
        "host_gmacs": host,
        "full_ms": p.full.median_ms,
        "total_macs": p.total_macs,
        "device": device,
        "edge": edge,
        "cuts": rows,
    });
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_json(&dir.join("profile.json"), &report)?;
        plot_profile(&dir.join("profile.svg"), &p)?;
    }
    if json {
        return print_json(&report);
    }
    println!(
        "{}: engine {}, {} thread, batch {}; full model {:.3} ms on this host ({:.2} GMAC/s effective)",
        args.model.display(),
        p.engine,
        p.threads,
        p.batch,
        p.full.median_ms,
        host
    );
    println!(
        "device `{}` = host × {:.1}, edge `{}` = host × {:.3} (latency ratios)",
        device.name,
        host / device.gmacs(),
        edge.name,
        host / edge.gmacs()
    );
    let table_rows = rows
        .iter()
        .map(|r| {
            vec![
                r["index"].to_string(),
                r["tensor"].as_str().unwrap_or("").to_string(),
                bytes(r["feature_bytes"].as_u64().unwrap_or(0)),
                si(r["head_macs"].as_f64().unwrap_or(0.0)),
                si(r["tail_macs"].as_f64().unwrap_or(0.0)),
                format!("{:.3}", r["host_head_ms"].as_f64().unwrap_or(0.0)),
                format!("{:.3}", r["host_tail_ms"].as_f64().unwrap_or(0.0)),
                format!("{:.2}", r["device_head_ms"].as_f64().unwrap_or(0.0)),
                format!("{:.4}", r["edge_tail_ms"].as_f64().unwrap_or(0.0)),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "#",
                "tensor",
                "feature",
                "head MACs",
                "tail MACs",
                "host head ms",
                "host tail ms",
                &format!("{} head ms", device.name),
                &format!("{} tail ms", edge.name),
            ],
            table_rows
        )
    );
    if let Some(dir) = &args.out {
        println!("wrote {}/profile.json and profile.svg", dir.display());
    }
    Ok(())
}

/// Head/tail latency and feature size per cut.
pub fn plot_profile(path: &std::path::Path, p: &ModelProfile) -> Result<()> {
    let pts = |f: &dyn Fn(&coinfer_engine::profile::CutProfile) -> f64| -> Vec<(f64, f64)> {
        p.cuts.iter().map(|c| (c.cut.index as f64, f(c))).collect()
    };
    write_svg(
        path,
        &[
            (
                "Measured latency per cut (this host)",
                "cut index",
                "ms",
                vec![
                    Series { label: "head".into(), points: pts(&|c| c.head.median_ms) },
                    Series { label: "tail".into(), points: pts(&|c| c.tail.median_ms) },
                ],
                false,
            ),
            (
                "Feature size per cut",
                "cut index",
                "bytes per sample",
                vec![Series {
                    label: "feature".into(),
                    points: pts(&|c| c.cut.feature_bytes as f64),
                }],
                true,
            ),
        ],
    )
}

/// `coinfer profiles`.
pub fn list(json: bool) -> Result<()> {
    let all = builtin_profiles();
    if json {
        return print_json(&all);
    }
    let rows = all
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                format!("{:?}", p.role).to_lowercase(),
                format!("{:.1}", p.gmacs()),
                format!("{:.1}", p.power_w),
                p.description.clone(),
            ]
        })
        .collect();
    println!("{}", table(&["name", "role", "GMAC/s", "W", "description"], rows));
    println!("GMAC/s = vendor peak × assumed efficiency; sources: `coinfer profiles --json`.");
    Ok(())
}
