//! `coinfer codec bottleneck`: trains a learned bottleneck at a cut, exports it, calibrates its
//! entropy model and measures accuracy vs bytes on the test set.

use anyhow::{bail, Context, Result};
use coinfer_compress::{Codec, QuantRange};
use coinfer_data::{Dataset, DatasetName, Split};
use coinfer_engine::eval::first_output;
use coinfer_engine::Runnable;
use coinfer_graph::{compose, save_model, Graph};
use coinfer_train::{train_bottleneck, BottleneckConfig, CutFeatures};

use crate::args::BottleneckArgs;
use crate::output::{print_json, write_json};

/// Head features of `data` at the split's cut.
fn cut_features(head: &dyn Runnable, data: &Dataset) -> Result<CutFeatures> {
    let mut values = Vec::new();
    let mut shape = [0usize; 3];
    for (x, _) in data.batches(500) {
        let f = first_output(head.run(&[x])?)?;
        match f.shape() {
            [_, c, h, w] => shape = [*c, *h, *w],
            other => bail!("the cut feature has shape {other:?}; a bottleneck needs (N, C, H, W)"),
        }
        values.extend(f.iter().copied());
    }
    Ok(CutFeatures { shape, values, labels: data.labels.clone() })
}

pub fn run(args: &BottleneckArgs, json: bool) -> Result<()> {
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let cut = graph.find_cut(&args.cut)?;
    let part = graph.split(&cut)?;
    let engine = coinfer_engine::engine_for_name("tract")?;
    let head = engine.prepare(&part.head)?;
    let train_set = coinfer_data::load(DatasetName::FashionMnist, Split::Train)?;
    let train_set = match args.fit.limit {
        Some(n) => train_set.take(n),
        None => train_set,
    };
    let val = coinfer_data::load(DatasetName::FashionMnist, Split::Val)?;
    let test = coinfer_data::load(DatasetName::FashionMnist, Split::Test)?.take(args.images);
    tracing::info!(samples = train_set.len(), "computing head features");
    let train_f = cut_features(head.as_ref(), &train_set)?;
    let val_f = cut_features(head.as_ref(), &val)?;
    let relu = train_f.values.iter().all(|&v| v >= 0.0);
    let config = BottleneckConfig {
        channels: args.channels,
        bits: args.bits,
        kernel: args.kernel,
        relu,
        decoder_layers: args.decoder_layers,
        train_tail: args.train_tail,
    };
    let fit = args.fit.config();
    let tail = Graph::analyse(part.tail.clone())?;
    let bar = super::progress_bar(super::fit_steps(&fit, train_f.labels.len()), "bottleneck", json);
    let trained = train_bottleneck(
        &tail,
        &config,
        &fit,
        &train_f,
        &val_f,
        |done, _| bar.set_position(done as u64),
        super::epoch_logger("bottleneck", &bar, json),
    )?;
    bar.finish_and_clear();

    let out = &args.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let device_model = compose(&part.head, &trained.encoder, "encoder.")?;
    let tail_model = trained.tail.as_ref().unwrap_or(&part.tail);
    let edge_model = compose(&trained.decoder, tail_model, "tail.")?;
    save_model(&trained.encoder, &out.join("encoder.onnx"))?;
    save_model(&trained.decoder, &out.join("decoder.onnx"))?;
    save_model(&device_model, &out.join("device.onnx"))?;
    save_model(&edge_model, &out.join("edge.onnx"))?;

    // Entropy model of the code, calibrated on validation images.
    let device = engine.prepare(&device_model)?;
    let mut calib = Vec::new();
    for (x, _) in val.batches(500) {
        calib.extend(super::sample_features(&first_output(device.run(&[x])?)?));
    }
    let codec =
        Codec::calibrate_entropy(args.bits, QuantRange::PerTensor { lo: 0.0, hi: 1.0 }, &calib)
            .context("calibrating the code's entropy model")?;
    std::fs::write(out.join("codec.json"), serde_json::to_string_pretty(&codec)? + "\n")?;

    let full = engine.prepare(&graph.proto)?;
    let baseline =
        coinfer_engine::eval::predict(&test, 500, |x| first_output(full.run(&[x])?), |_| {})?
            .accuracy();
    let deployed = coinfer_pipeline::bottleneck::evaluate_deployed(
        out,
        &test,
        engine.as_ref(),
        &mut coinfer_pipeline::NoProgress,
    )?;
    let (accuracy, bytes_per_sample) = (deployed.accuracy, deployed.bytes_per_sample);
    let report = serde_json::json!({
        "model": args.model,
        "cut": cut,
        "config": config,
        "training": fit,
        "history": trained.history,
        "test_images": test.len(),
        "baseline_accuracy": baseline,
        "accuracy": accuracy,
        "accuracy_drop": baseline - accuracy,
        "bytes_per_sample": bytes_per_sample,
        "fp32_feature_bytes": cut.feature_bytes,
        "compression_vs_fp32": cut.feature_bytes as f64 / bytes_per_sample,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    write_json(&out.join("bottleneck.json"), &report)?;
    if json {
        return print_json(&report);
    }
    println!(
        "bottleneck at cut {} `{}`: C′ = {}, {} bits → {:.1} bytes/sample ({:.1}× fewer than fp32 {} B), \
         accuracy {:.2} % vs {:.2} % ({:+.2} pts) on {} test images\nwrote {}",
        cut.index,
        cut.tensor,
        args.channels,
        args.bits,
        bytes_per_sample,
        cut.feature_bytes as f64 / bytes_per_sample,
        cut.feature_bytes,
        100.0 * accuracy,
        100.0 * baseline,
        100.0 * (accuracy - baseline),
        test.len(),
        out.display()
    );
    Ok(())
}
