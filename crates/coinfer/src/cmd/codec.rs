//! `coinfer codec sweep`: accuracy vs bytes per sample of every codec at a cut.

use anyhow::{Context, Result};
use coinfer_data::DatasetName;
use coinfer_pipeline::codec_sweep::{sweep, SweepConfig, SweepReport, SweepRow};

use crate::args::CodecWhat;
use crate::output::{bytes, print_json, table, write_json};
use coinfer_report::{write_svg, Series};

pub fn run(what: CodecWhat, json: bool) -> Result<()> {
    let (model, cut, images, calibration, out, engine, bottlenecks, input_baseline, shape) =
        match what {
            CodecWhat::Bottleneck(args) => return super::bottleneck::run(&args, json),
            CodecWhat::Calibrate(args) => return super::bottleneck::calibrate(&args, json),
            CodecWhat::Sweep {
                model,
                cut,
                images,
                calibration,
                out,
                bottleneck,
                no_input_baseline,
                shape,
                engine,
            } => (
                model,
                cut,
                images,
                calibration,
                out,
                engine,
                bottleneck,
                !no_input_baseline,
                shape,
            ),
        };
    let graph = super::load_graph_at(&model, &shape)?;
    let config = SweepConfig {
        model: &model,
        graph: &graph,
        cut: &cut,
        engine: engine.name(),
        data: DatasetName::FashionMnist,
        images,
        calibration,
        input_baseline,
        bottlenecks,
    };
    let report = sweep(&config, &mut super::Bar::new(json))?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = csv::Writer::from_path(out.join("sweep.csv"))?;
    for r in &report.rows {
        w.serialize(r)?;
    }
    w.flush()?;
    write_json(&out.join("sweep.json"), &report)?;
    write_plot(&out, &report)?;
    if json {
        return print_json(&report);
    }
    print_report(&report);
    println!("wrote {0}/sweep.csv, {0}/sweep.json, {0}/sweep.svg", out.display());
    Ok(())
}

/// `sweep.svg`: accuracy against bytes per sample, one series per codec family.
fn write_plot(out: &std::path::Path, report: &SweepReport) -> Result<()> {
    let (rows, cut) = (&report.rows, &report.cut);
    let series = |pred: &dyn Fn(&SweepRow) -> bool, label: &str| Series {
        label: label.into(),
        points: rows
            .iter()
            .filter(|r| pred(r))
            .map(|r| (r.bytes_per_sample, 100.0 * r.accuracy))
            .collect(),
    };
    write_svg(
        &out.join("sweep.svg"),
        &[(
            &format!("Accuracy vs bytes per sample at cut {} (`{}`)", cut.index, cut.tensor),
            "bytes per sample (frame, header included)",
            "top-1 accuracy (%)",
            vec![
                series(
                    &|r| r.bits.is_some() && !r.per_channel && !r.entropy_coded,
                    "uniform, per-tensor",
                ),
                series(
                    &|r| r.bits.is_some() && r.per_channel && !r.entropy_coded,
                    "uniform, per-channel",
                ),
                series(
                    &|r| r.bits.is_some() && !r.per_channel && r.entropy_coded,
                    "uniform + ANS, per-tensor",
                ),
                series(
                    &|r| r.bits.is_some() && r.per_channel && r.entropy_coded,
                    "uniform + ANS, per-channel",
                ),
                series(&|r| r.family == "input-image", "input PNG / JPEG, full model at the edge"),
                series(&|r| r.family == "bottleneck", "learned bottleneck + ANS"),
            ],
            false,
        )],
    )?;
    Ok(())
}

/// The cut and every codec's bytes and accuracy.
fn print_report(report: &SweepReport) {
    let (rows, cut) = (&report.rows, &report.cut);
    println!(
        "cut {} `{}` {:?}: fp32 feature {} per sample; {} test images, ranges calibrated on {} validation images",
        cut.index,
        cut.tensor,
        cut.shape,
        bytes(cut.feature_bytes),
        report.images,
        report.calibration_images
    );
    let table_rows = rows
        .iter()
        .map(|r| {
            vec![
                r.codec.clone(),
                format!("{:.1}", r.bytes_per_sample),
                format!("{:.1}×", r.compression_vs_fp32),
                format!("{:.2} %", 100.0 * r.accuracy),
                format!("{:+.2}", -100.0 * r.accuracy_drop),
            ]
        })
        .collect();
    println!("{}", table(&["codec", "bytes/sample", "vs fp32", "accuracy", "Δ pts"], table_rows));
}
