//! `coinfer finetune MODEL --data D --epochs N --out FILE`, and the fine-tuning step that
//! `prune --sweep` and `versions` reuse.

use anyhow::{Context, Result};
use coinfer_data::{Dataset, DatasetName, Split};
use coinfer_graph::pb::ModelProto;
use coinfer_graph::Graph;
use coinfer_train::{EpochLog, FitConfig};

use crate::args::FinetuneArgs;
use crate::output::{print_json, write_json};

/// Top-1 accuracy of an ONNX model on `data`, run by tract.
pub(crate) fn accuracy(model: &ModelProto, data: &Dataset) -> Result<f64> {
    Ok(coinfer_pipeline::finetune::accuracy(model, data, "tract")?)
}

/// Fine-tunes `graph` with a progress bar (see `coinfer_pipeline::finetune::finetune`).
pub(crate) fn finetune(
    graph: &Graph,
    data: DatasetName,
    config: &FitConfig,
    label: &str,
    json: bool,
) -> Result<(ModelProto, Vec<EpochLog>)> {
    Ok(coinfer_pipeline::finetune::finetune(
        graph,
        data,
        config,
        label,
        &mut super::Bar::new(json),
    )?)
}

pub fn run(args: &FinetuneArgs, json: bool) -> Result<()> {
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let test = coinfer_data::load(args.data, Split::Test)?;
    super::check_data_fits(&graph, &test)?;
    let before =
        accuracy(&graph.proto, &test).context("evaluating the model before fine-tuning")?;
    let (model, history) = finetune(&graph, args.data, &args.fit.config(), "finetune", json)?;
    let after = accuracy(&model, &test)?;
    coinfer_graph::save_model(&model, &args.out)?;
    let report = serde_json::json!({
        "model": args.model,
        "out": args.out,
        "data": args.data.to_string(),
        "test_accuracy_before": before,
        "test_accuracy_after": after,
        "config": args.fit.config(),
        "history": history,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    write_json(&args.out.with_extension("finetune.json"), &report)?;
    if json {
        return print_json(&report);
    }
    println!(
        "test accuracy {:.2} % → {:.2} % after {} epoch(s); wrote {}",
        100.0 * before,
        100.0 * after,
        history.len(),
        args.out.display()
    );
    Ok(())
}
