//! Training the default model from scratch (a small residual CNN, candle), exporting it to
//! ONNX and measuring the exported file: the numbers its model card ships.

use std::path::{Path, PathBuf};

use coinfer_data::{DatasetName, Split};
use coinfer_graph::{CutPoint, Graph};
use coinfer_train::{to_onnx, train, EpochLog, ResNetConfig, TrainConfig};

use crate::error::{PipelineError, Result};
use crate::finetune::{accuracy, epoch_line};
use crate::progress::Progress;

/// The model card (`*.card.json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelCard {
    /// The ONNX file written.
    pub model: PathBuf,
    /// Architecture.
    pub architecture: ResNetConfig,
    /// Data set and splits.
    pub data: String,
    /// Validation accuracy of the exported ONNX (tract).
    pub val_accuracy: f64,
    /// Test accuracy of the exported ONNX (tract).
    pub test_accuracy: f64,
    /// Parameter count.
    pub parameters: u64,
    /// Parameter bytes.
    pub param_bytes: u64,
    /// MACs per sample.
    pub macs: u64,
    /// Input bytes per sample.
    pub input_bytes: u64,
    /// Valid cut points.
    pub cuts: Vec<CutPoint>,
    /// Training settings.
    pub training: TrainConfig,
    /// Epoch log.
    pub history: Vec<EpochLog>,
    /// The command that made it (set by the front-end).
    pub command: String,
}

/// Trains `config` on `data`'s train split (validation after each epoch, as notes), writes
/// the ONNX export to `out` and measures it with tract. Progress in optimisation steps.
pub fn train_default(
    config: &TrainConfig,
    data: DatasetName,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<ModelCard> {
    let train_set = coinfer_data::load(data, Split::Train)?;
    let val = coinfer_data::load(data, Split::Val)?;
    let test = coinfer_data::load(data, Split::Test)?;
    let n = config.fit.limit.map_or(train_set.len(), |l| l.min(train_set.len()));
    progress.start("train", (n.div_ceil(config.fit.batch_size.max(1)) * config.fit.epochs) as u64);
    let progress = std::cell::RefCell::new(progress);
    let trained = train(
        config,
        &train_set,
        &val,
        |done, _| progress.borrow_mut().set(done as u64),
        |log: &EpochLog| progress.borrow_mut().note(&epoch_line("", log)),
    )?;
    progress.into_inner().finish();

    let [_, h, w] = train_set.image_shape;
    let proto = to_onnx(&trained.model, h, w)
        .map_err(|e| PipelineError::Invalid(format!("exporting the trained model: {e}")))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| PipelineError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
    }
    coinfer_graph::save_model(&proto, out)?;
    // The shipped numbers are measured on the exported ONNX, with the tract engine.
    let graph = Graph::load(out)?;
    let (val_acc, test_acc) =
        (accuracy(&graph.proto, &val, "tract")?, accuracy(&graph.proto, &test, "tract")?);
    Ok(ModelCard {
        model: out.to_path_buf(),
        architecture: config.model.clone(),
        data: format!(
            "{data} ({} train / {} val carved with seed {} / {} test)",
            train_set.len(),
            val.len(),
            coinfer_data::SPLIT_SEED,
            test.len()
        ),
        val_accuracy: val_acc,
        test_accuracy: test_acc,
        parameters: graph.total_param_bytes() / 4,
        param_bytes: graph.total_param_bytes(),
        macs: graph.total_macs(),
        input_bytes: graph.input_bytes(),
        cuts: graph.cut_points(),
        training: config.clone(),
        history: trained.history,
        command: String::new(),
    })
}
