//! `coinfer codec bottleneck`: trains a learned bottleneck at a cut, deploys it, calibrates
//! its entropy model and measures accuracy vs bytes on the test set
//! (`coinfer_pipeline::bottleneck::train_and_deploy`).

use anyhow::Result;
use coinfer_data::DatasetName;
use coinfer_data::Split;
use coinfer_pipeline::bottleneck::{recalibrate, train_and_deploy, BottleneckJob, CodeFrames};
use coinfer_train::BottleneckConfig;

use crate::args::{BottleneckArgs, CalibrateArgs};
use crate::output::{print_json, write_json};

pub fn run(args: &BottleneckArgs, json: bool) -> Result<()> {
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let job = BottleneckJob {
        model: &args.model,
        graph: &graph,
        cut: &args.cut,
        config: BottleneckConfig {
            channels: args.channels,
            bits: args.bits,
            kernel: args.kernel,
            relu: true, // set from the features' sign
            decoder_layers: args.decoder_layers,
            train_tail: args.train_tail,
        },
        fit: args.fit.config(),
        data: DatasetName::FashionMnist,
        images: args.images,
        engine: "tract",
        out: &args.out,
        frames: frames(&args.frames)?,
    };
    let mut report = train_and_deploy(&job, &mut super::Bar::new(json))?;
    report.command = std::env::args().collect::<Vec<_>>().join(" ");
    write_json(&args.out.join("bottleneck.json"), &report)?;
    if json {
        return print_json(&report);
    }
    let r = &report;
    println!(
        "bottleneck at cut {} `{}`: C′ = {}, {} bits → {:.1} bytes/sample ({:.1}× fewer than fp32 {} B), \
         accuracy {:.2} % vs {:.2} % ({:+.2} pts) on {} test images\nwrote {}",
        r.cut.index,
        r.cut.tensor,
        args.channels,
        args.bits,
        r.bytes_per_sample,
        r.compression_vs_fp32,
        r.fp32_feature_bytes,
        100.0 * r.accuracy,
        100.0 * r.baseline_accuracy,
        -100.0 * r.accuracy_drop,
        r.test_images,
        args.out.display()
    );
    Ok(())
}

/// The `--frames` choice.
fn frames(name: &str) -> Result<CodeFrames> {
    serde_json::from_value(serde_json::Value::String(name.into()))
        .map_err(|_| anyhow::anyhow!("unknown --frames `{name}`"))
}

/// `coinfer codec calibrate`.
pub fn calibrate(args: &CalibrateArgs, json: bool) -> Result<()> {
    let calibration =
        coinfer_data::load(DatasetName::FashionMnist, Split::Train)?.take(args.calibration);
    let test = coinfer_data::load(DatasetName::FashionMnist, Split::Test)?.take(args.images);
    let engine = coinfer_engine::engine_for_name("tract")?;
    let frames = frames(&args.frames)?;
    let mut bar = super::Bar::new(json);
    let mut report =
        recalibrate(&args.dir, frames, &calibration, &test, engine.as_ref(), &mut bar)?;
    report.command = std::env::args().collect::<Vec<_>>().join(" ");
    write_json(&args.dir.join("calibration.json"), &report)?;
    if json {
        return print_json(&report);
    }
    let r = &report;
    println!(
        "{}: {} frames, {} bits → {:.1} bytes/sample ({:.1} of header and check; {:.1}× fewer than \
         fp32 {} B), accuracy {:.2} % on {} test images\nwrote codec.json, calibration.json",
        args.dir.display(),
        args.frames,
        r.bits,
        r.bytes_per_sample,
        r.header_bytes,
        r.compression_vs_fp32,
        r.fp32_feature_bytes,
        100.0 * r.accuracy,
        r.test_images,
    );
    Ok(())
}
