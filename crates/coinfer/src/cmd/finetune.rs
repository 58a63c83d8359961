//! `coinfer finetune MODEL --data D --epochs N --out FILE`, and the fine-tuning step that
//! `prune --sweep` and `versions` reuse.

use anyhow::{Context, Result};
use coinfer_data::{Dataset, DatasetName, Split};
use coinfer_engine::eval::{first_output, predict};
use coinfer_graph::pb::ModelProto;
use coinfer_graph::Graph;
use coinfer_train::{fit, EpochLog, FitConfig, OnnxModule};

use crate::args::FinetuneArgs;
use crate::output::{print_json, write_json};

/// Top-1 accuracy of an ONNX model on `data`, run by tract.
pub(crate) fn accuracy(model: &ModelProto, data: &Dataset) -> Result<f64> {
    let runnable = coinfer_engine::engine_for_name("tract")?.prepare(model)?;
    Ok(predict(data, 500, |x| first_output(runnable.run(&[x])?), |_| {})?.accuracy())
}

/// Fine-tunes `graph` on the training split of `data` (validation split after every epoch),
/// with a progress bar, and returns the trained ONNX model and the epoch log.
pub(crate) fn finetune(
    graph: &Graph,
    data: DatasetName,
    config: &FitConfig,
    label: &str,
    json: bool,
) -> Result<(ModelProto, Vec<EpochLog>)> {
    let train = coinfer_data::load(data, Split::Train)?;
    let val = coinfer_data::load(data, Split::Val)?;
    let module = OnnxModule::new(graph)?;
    let n = config.limit.map_or(train.len(), |l| l.min(train.len()));
    let bar = super::progress_bar(
        (n.div_ceil(config.batch_size.max(1)) * config.epochs) as u64,
        label,
        json,
    );
    let history = fit(
        &module,
        module.vars(),
        config,
        &train,
        &val,
        |done, _| bar.set_position(done as u64),
        super::epoch_logger(label, &bar, json),
    )?;
    bar.finish_and_clear();
    Ok((module.to_onnx()?, history))
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
