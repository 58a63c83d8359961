//! `coinfer codec sweep`: accuracy vs bytes per sample of every codec at a cut.

use anyhow::{Context, Result};
use coinfer_compress::{Codec, Feature};

use coinfer_compress::FeatureCodec;
use coinfer_data::{DatasetName, Split};
use coinfer_engine::eval::first_output;
use coinfer_engine::profile::PreparedSplit;
use coinfer_engine::Tensor;
use coinfer_pipeline::{evaluate, ImageCodec, NoProgress, Stages};

use crate::args::CodecWhat;
use crate::output::{bytes, print_json, table, write_json};
use crate::plot::{write_svg, Series};

/// One row of the sweep.
#[derive(Debug, serde::Serialize)]
struct Row {
    codec: String,
    /// raw, uniform, uniform-ans, input-image or bottleneck.
    family: &'static str,
    bits: Option<u8>,
    per_channel: bool,
    entropy_coded: bool,
    bytes_per_sample: f64,
    compression_vs_fp32: f64,
    accuracy: f64,
    accuracy_drop: f64,
}

/// The sweep's codec settings, with quantizer ranges calibrated on `calibration`.
fn settings(calibration: &[Feature]) -> Vec<(String, Codec)> {
    let mut out = vec![("raw-f32".to_string(), Codec::RawF32), ("raw-f16".into(), Codec::RawF16)];
    for per_channel in [false, true] {
        for bits in [1u8, 2, 3, 4, 6, 8] {
            let Some(Codec::Uniform { range, .. }) =
                Codec::calibrate_uniform(bits, per_channel, calibration)
            else {
                continue;
            };
            let mode = if per_channel { "per-channel" } else { "per-tensor" };
            out.push((
                format!("uniform-{bits}b-{mode}"),
                Codec::Uniform { bits, range: range.clone() },
            ));
            out.push((format!("uniform-ans-{bits}b-{mode}"), Codec::UniformAns { bits, range }));
        }
    }
    out
}

pub fn run(what: CodecWhat, json: bool) -> Result<()> {
    let (model, cut, images, calibration, out, engine, bottlenecks, input_baseline, shape) =
        match what {
            CodecWhat::Bottleneck(args) => return super::bottleneck::run(&args, json),
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
    let cut = graph.find_cut(&cut)?;
    let engine = coinfer_engine::engine_for_name(&engine.engine)?;
    let split = PreparedSplit::new(&graph, &cut, engine.as_ref())?;
    let test = coinfer_data::load(DatasetName::FashionMnist, Split::Test)?.take(images);
    let val = coinfer_data::load(DatasetName::FashionMnist, Split::Val)?.take(calibration);

    // Calibration: per-sample features of validation images.
    let mut calib = Vec::new();
    for (x, _) in val.batches(100) {
        calib.extend(super::sample_features(&first_output(split.head.run(&[x])?)?));
    }
    // Head features of the test images, computed once for every codec.
    let mut features: Vec<Tensor> = Vec::new();
    for (x, _) in test.batches(100) {
        features.push(first_output(split.head.run(&[x])?)?);
    }
    let fp32 = cut.feature_bytes as f64;
    let settings = settings(&calib);
    let bar = super::progress_bar(settings.len() as u64, "codecs", json);
    let mut rows: Vec<Row> = Vec::new();
    let mut baseline = None;
    let stages = Stages::HeadOutputs { features: &features, tail: split.tail.as_ref() };
    for (name, codec) in &settings {
        let e = evaluate(stages, codec, &test, 100, None, &mut NoProgress)?;
        let (accuracy, per_sample) = (e.accuracy, e.bytes_per_sample);
        let base = *baseline.get_or_insert(accuracy);
        let (bits, per_channel, entropy_coded) = match codec {
            Codec::Uniform { bits, range } => (
                Some(*bits),
                matches!(range, coinfer_compress::QuantRange::PerChannel { .. }),
                false,
            ),
            Codec::UniformAns { bits, range } => (
                Some(*bits),
                matches!(range, coinfer_compress::QuantRange::PerChannel { .. }),
                true,
            ),
            _ => (None, false, false),
        };
        rows.push(Row {
            codec: name.clone(),
            family: match (bits, entropy_coded) {
                (None, _) => "raw",
                (Some(_), false) => "uniform",
                (Some(_), true) => "uniform-ans",
            },
            bits,
            per_channel,
            entropy_coded,
            bytes_per_sample: per_sample,
            compression_vs_fp32: fp32 / per_sample,
            accuracy,
            accuracy_drop: base - accuracy,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let base = baseline.unwrap_or_default();
    let other = |codec: String, family, accuracy: f64, per_sample: f64, fp32: f64| Row {
        codec,
        family,
        bits: None,
        per_channel: false,
        entropy_coded: family == "bottleneck",
        bytes_per_sample: per_sample,
        compression_vs_fp32: fp32 / per_sample,
        accuracy,
        accuracy_drop: base - accuracy,
    };
    if input_baseline {
        let full = engine.prepare(&graph.proto)?;
        for c in ImageCodec::sweep() {
            let e =
                evaluate(Stages::EdgeOnly(full.as_ref()), &c, &test, 500, None, &mut NoProgress)?;
            rows.push(other(c.name(), "input-image", e.accuracy, e.bytes_per_sample, fp32));
        }
    }
    for dir in &bottlenecks {
        let (acc, per_sample) = super::bottleneck::evaluate_deployed(dir, &test)?;
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("bottleneck.json"))
                .with_context(|| format!("reading {}/bottleneck.json", dir.display()))?,
        )?;
        let own_fp32 = report["fp32_feature_bytes"].as_f64().unwrap_or(fp32);
        let name = dir.file_name().map_or("bottleneck".into(), |n| n.to_string_lossy().to_string());
        rows.push(other(format!("bottleneck-{name}"), "bottleneck", acc, per_sample, own_fp32));
    }

    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = csv::Writer::from_path(out.join("sweep.csv"))?;
    for r in &rows {
        w.serialize(r)?;
    }
    w.flush()?;
    let report = serde_json::json!({
        "model": model, "cut": cut, "images": test.len(), "calibration_images": calib.len(),
        "fp32_feature_bytes": cut.feature_bytes, "rows": rows,
    });
    write_json(&out.join("sweep.json"), &report)?;
    let series = |pred: &dyn Fn(&Row) -> bool, label: &str| Series {
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
    if json {
        return print_json(&report);
    }
    println!(
        "cut {} `{}` {:?}: fp32 feature {} per sample; {} test images, ranges calibrated on {} validation images",
        cut.index,
        cut.tensor,
        cut.shape,
        bytes(cut.feature_bytes),
        test.len(),
        calib.len()
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
    println!("wrote {0}/sweep.csv, {0}/sweep.json, {0}/sweep.svg", out.display());
    Ok(())
}
