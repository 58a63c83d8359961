//! `coinfer profile MODEL` and `coinfer profiles`.

use anyhow::{Context, Result};
use coinfer_engine::profile::ModelProfile;
use coinfer_pipeline::profile::{profile_report, ProfileConfig};
use coinfer_sim::{builtin_profiles, Hardware};

use crate::args::ProfileArgs;
use crate::output::{bytes, print_json, si, table, write_json};

pub fn run(args: &ProfileArgs, json: bool) -> Result<()> {
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let config = ProfileConfig {
        engine: args.engine.name(),
        batch: args.batch,
        runs: args.runs,
        idle_gap: std::time::Duration::from_secs_f64(args.idle_gap_ms.max(0.0) / 1e3),
    };
    let (device, edge) = (Hardware::from_spec(&args.device)?, Hardware::from_spec(&args.edge)?);
    let r = profile_report(&graph, &config, device, edge, &mut super::Bar::new(json))?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_json(&dir.join("profile.json"), &r)?;
        plot_profile(&dir.join("profile.svg"), &r.profile)?;
    }
    if json {
        return print_json(&r);
    }
    let p = &r.profile;
    println!(
        "{}: engine {}, {} thread, batch {}; full model {:.3} ms on this host (p10 {:.3}, p90 {:.3}; {:.2} GMAC/s effective); per-call overhead {:.3} ms",
        args.model.display(),
        p.engine,
        p.threads,
        p.batch,
        p.full.median_ms,
        p.full.p10_ms,
        p.full.p90_ms,
        r.host_gmacs,
        r.host_layers.call_s * 1e3,
    );
    println!(
        "whole model: {:.3} ms on `{}`, {:.4} ms on `{}` (cost model: roofline + per-op overhead, or the measured table)",
        r.device_full_s * 1e3,
        r.device.name(),
        r.edge_full_s * 1e3,
        r.edge.name()
    );
    let rows = r
        .cuts
        .iter()
        .map(|c| {
            vec![
                c.index.to_string(),
                c.tensor.clone(),
                bytes(c.feature_bytes),
                si(c.head_macs as f64),
                si(c.tail_macs as f64),
                format!(
                    "{:.3} [{:.3}, {:.3}]",
                    c.host_head.median_ms, c.host_head.p10_ms, c.host_head.p90_ms
                ),
                format!(
                    "{:.3} [{:.3}, {:.3}]",
                    c.host_tail.median_ms, c.host_tail.p10_ms, c.host_tail.p90_ms
                ),
                format!("{:.3}", c.host_head_fit_s * 1e3),
                format!("{:.3}", c.device_head_s * 1e3),
                format!("{:.4}", c.edge_tail_s * 1e3),
            ]
        })
        .collect();
    let headers = [
        "#".to_string(),
        "tensor".into(),
        "feature".into(),
        "head MACs".into(),
        "tail MACs".into(),
        "host head ms [p10, p90]".into(),
        "host tail ms [p10, p90]".into(),
        "host head fit ms".into(),
        format!("{} head ms", r.device.name()),
        format!("{} tail ms", r.edge.name()),
    ];
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    println!("{}", table(&headers, rows));
    if let Some(dir) = &args.out {
        println!("wrote {}/profile.json and profile.svg", dir.display());
    }
    Ok(())
}

/// Head/tail latency and feature size per cut, as an SVG file.
pub fn plot_profile(path: &std::path::Path, p: &ModelProfile) -> Result<()> {
    let figure = coinfer_report::demo::profile_figure(p)?;
    std::fs::write(path, figure.svg).with_context(|| format!("writing {}", path.display()))
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
                format!("{:.1}", p.mem_gbps()),
                format!("{:.0}", p.op_overhead_us),
                format!("{:.1}", p.power_w),
                p.description.clone(),
            ]
        })
        .collect();
    println!("{}", table(&["name", "role", "GMAC/s", "GB/s", "µs/op", "W", "description"], rows));
    println!(
        "GMAC/s and GB/s = vendor peak × assumed efficiency, µs/op = assumed launch overhead; \
         sources: `coinfer profiles --json`. Your own device: pass a per-layer table \
         (`layer,seconds` CSV or LayerTimes JSON) instead of a name."
    );
    Ok(())
}
