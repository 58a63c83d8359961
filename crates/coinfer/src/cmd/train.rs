//! `coinfer train`: trains the default model and writes the ONNX file and its model card.

use std::fmt::Write as _;

use anyhow::Result;
use coinfer_data::DatasetName;
use coinfer_pipeline::train_default::{train_default, ModelCard};
use coinfer_train::{FitConfig, ResNetConfig, TrainConfig};

use crate::args::TrainArgs;
use crate::output::{bytes, print_json, si, write_json};

pub fn run(args: &TrainArgs, json: bool) -> Result<()> {
    if args.out.exists() && !args.force {
        anyhow::bail!(
            "{} exists (with its model card): give --out NEW.onnx, or --force to replace it",
            args.out.display()
        );
    }
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
    let mut card =
        train_default(&config, DatasetName::FashionMnist, &args.out, &mut super::Bar::new(json))?;
    card.command = std::env::args().collect::<Vec<_>>().join(" ");
    let (cuts, val_acc, test_acc) = (&card.cuts, card.val_accuracy, card.test_accuracy);
    write_json(&args.out.with_extension("card.json"), &card)?;
    std::fs::write(
        args.out.with_extension("card.md"),
        model_card(args, &card, cuts, val_acc, test_acc),
    )?;
    if json {
        return print_json(&card);
    }
    println!(
        "wrote {} — test accuracy {:.2} %, val {:.2} %, {} parameters, {} MACs, {} cut points",
        args.out.display(),
        100.0 * test_acc,
        100.0 * val_acc,
        si(card.parameters as f64),
        si(card.macs as f64),
        cuts.len()
    );
    Ok(())
}

fn model_card(
    args: &TrainArgs,
    card: &ModelCard,
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
    let _ = writeln!(s, "- Parameters: {}", card.parameters);
    let _ = writeln!(s, "- MACs per image: {}", card.macs);
    let architecture = serde_json::to_string(&card.architecture).unwrap_or_default();
    let _ = writeln!(s, "- Architecture: {architecture}");
    let _ = writeln!(s, "- Reproduce: `{}`", card.command);
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
