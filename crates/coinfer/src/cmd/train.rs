//! `coinfer train`: trains the default model and writes the ONNX file and its model card.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use coinfer_data::{DatasetName, Split};
use coinfer_engine::eval::{first_output, predict};
use coinfer_train::{to_onnx, train, FitConfig, ResNetConfig, TrainConfig};

use crate::args::TrainArgs;
use crate::output::{bytes, print_json, si, write_json};

pub fn run(args: &TrainArgs, json: bool) -> Result<()> {
    let defaults = TrainConfig::default();
    let config = TrainConfig {
        model: ResNetConfig { widths: args.widths.clone(), ..defaults.model },
        fit: FitConfig {
            epochs: args.epochs,
            batch_size: args.batch,
            lr: args.lr,
            seed: args.seed,
            limit: args.limit,
            ..defaults.fit
        },
    };
    let train_set = coinfer_data::load(DatasetName::FashionMnist, Split::Train)?;
    let val = coinfer_data::load(DatasetName::FashionMnist, Split::Val)?;
    let test = coinfer_data::load(DatasetName::FashionMnist, Split::Test)?;
    let bar = super::progress_bar(super::fit_steps(&config.fit, train_set.len()), "train", json);
    let trained = train(
        &config,
        &train_set,
        &val,
        |done, _| bar.set_position(done as u64),
        super::epoch_logger("", &bar, json),
    )?;
    bar.finish_and_clear();

    let [_, h, w] = train_set.image_shape;
    let proto = to_onnx(&trained.model, h, w)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    coinfer_graph::save_model(&proto, &args.out)?;

    // The shipped numbers are measured on the exported ONNX, with the tract engine.
    let graph = super::load_graph(&args.out)?;
    let engine = coinfer_engine::engine_for_name("tract")?;
    let runnable = engine.prepare(&graph.proto)?;
    let acc = |data| -> Result<f64> {
        Ok(predict(data, 500, |x| first_output(runnable.run(&[x])?), |_| {})?.accuracy())
    };
    let (val_acc, test_acc) = (acc(&val)?, acc(&test)?);
    let cuts = graph.cut_points();
    let card = serde_json::json!({
        "model": args.out,
        "architecture": config.model,
        "data": "fashion-mnist (55k train / 5k val carved with seed 2024 / 10k test)",
        "val_accuracy": val_acc,
        "test_accuracy": test_acc,
        "parameters": graph.total_param_bytes() / 4,
        "param_bytes": graph.total_param_bytes(),
        "macs": graph.total_macs(),
        "input_bytes": graph.input_bytes(),
        "cuts": cuts,
        "training": config,
        "history": trained.history,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    write_json(&args.out.with_extension("card.json"), &card)?;
    std::fs::write(
        args.out.with_extension("card.md"),
        model_card(args, &card, &cuts, val_acc, test_acc),
    )?;
    if json {
        return print_json(&card);
    }
    println!(
        "wrote {} — test accuracy {:.2} %, val {:.2} %, {} parameters, {} MACs, {} cut points",
        args.out.display(),
        100.0 * test_acc,
        100.0 * val_acc,
        si((graph.total_param_bytes() / 4) as f64),
        si(graph.total_macs() as f64),
        cuts.len()
    );
    Ok(())
}

fn model_card(
    args: &TrainArgs,
    card: &serde_json::Value,
    cuts: &[coinfer_graph::CutPoint],
    val_acc: f64,
    test_acc: f64,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Model card: {}\n", args.out.display());
    let _ = writeln!(
        s,
        "A small residual CNN for Fashion-MNIST (28×28 grey, 10 classes), trained by coinfer with candle.\n"
    );
    let _ =
        writeln!(s, "- Test accuracy (10,000 official test images): **{:.2} %**", 100.0 * test_acc);
    let _ = writeln!(
        s,
        "- Validation accuracy (5,000 images carved from train, seed 2024): {:.2} %",
        100.0 * val_acc
    );
    let _ = writeln!(s, "- Parameters: {}", card["parameters"]);
    let _ = writeln!(s, "- MACs per image: {}", card["macs"]);
    let _ = writeln!(s, "- Architecture: {}", card["architecture"]);
    let _ = writeln!(s, "- Reproduce: `{}`", card["command"].as_str().unwrap_or(""));
    let _ = writeln!(s, "- Accuracy measured on the exported ONNX with the tract engine.\n");
    let _ = writeln!(s, "## Cut points\n");
    let _ = writeln!(s, "| # | tensor | shape | feature bytes | head MACs | tail MACs |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for c in cuts {
        let _ = writeln!(
            s,
            "| {} | `{}` | {:?} | {} | {} | {} |",
            c.index,
            c.tensor,
            c.shape,
            bytes(c.feature_bytes),
            si(c.head_macs as f64),
            si(c.tail_macs as f64)
        );
    }
    s
}
