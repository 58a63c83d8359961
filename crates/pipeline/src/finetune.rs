//! Fine-tuning any ONNX model (the trainable interpreter of `coinfer-train`) and scoring it:
//! the step after pruning, in sweeps, versions and AutoML episodes.

use coinfer_compress::Codec;
use coinfer_data::{Dataset, DatasetName, Split};
use coinfer_graph::pb::ModelProto;
use coinfer_graph::Graph;
use coinfer_train::{fit, EpochLog, FitConfig, OnnxModule};

use crate::error::Result;
use crate::evaluate::{evaluate, Stages};
use crate::progress::{NoProgress, Progress};

/// Top-1 accuracy in `[0, 1]` of an ONNX model on `data`, run by the engine named `engine`.
pub fn accuracy(model: &ModelProto, data: &Dataset, engine: &str) -> Result<f64> {
    let runnable = coinfer_engine::engine_for_name(engine)?.prepare(model)?;
    let stages = Stages::DeviceOnly(runnable.as_ref());
    Ok(evaluate(stages, &Codec::RawF32, data, 500, None, &mut NoProgress)?.accuracy)
}

/// Fine-tunes `graph` on the training split of `data` (validation accuracy after every
/// epoch, reported as a note); returns the trained model and the epoch log. Progress in
/// optimisation steps.
pub fn finetune(
    graph: &Graph,
    data: DatasetName,
    config: &FitConfig,
    label: &str,
    progress: &mut dyn Progress,
) -> Result<(ModelProto, Vec<EpochLog>)> {
    let train = coinfer_data::load(data, Split::Train)?;
    let val = coinfer_data::load(data, Split::Val)?;
    let module = OnnxModule::new(graph)?;
    let n = config.limit.map_or(train.len(), |l| l.min(train.len()));
    progress.start(label, (n.div_ceil(config.batch_size.max(1)) * config.epochs) as u64);
    let progress = std::cell::RefCell::new(progress);
    let history = fit(
        &module,
        module.vars(),
        config,
        &train,
        &val,
        |done, _| progress.borrow_mut().set(done as u64),
        |log: &EpochLog| progress.borrow_mut().note(&epoch_line(label, log)),
    )?;
    let progress = progress.into_inner();
    progress.finish();
    Ok((module.to_onnx()?, history))
}

/// One epoch as a line: loss, train and validation accuracy, seconds.
pub fn epoch_line(label: &str, log: &EpochLog) -> String {
    format!(
        "{label}{}epoch {:>2}: loss {:.4}, train acc {:.2} %, val acc {:.2} % ({:.0} s)",
        if label.is_empty() { "" } else { " " },
        log.epoch,
        log.train_loss,
        100.0 * log.train_accuracy,
        100.0 * log.val_accuracy,
        log.seconds
    )
}
