//! Accuracy of a model (or of a split pipeline) on a labelled data set.

use coinfer_data::{argmax, Dataset};

use crate::engine::Tensor;
use crate::error::Result;

/// Predictions of a classifier over a data set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Predictions {
    /// Predicted class of each sample, in data set order.
    pub predicted: Vec<usize>,
    /// How many equal the label.
    pub correct: usize,
    /// Samples evaluated.
    pub total: usize,
}

impl Predictions {
    /// Top-1 accuracy in `[0, 1]`.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.total.max(1) as f64
    }
}

/// Runs `classify` (images `(b, C, H, W)` → logits `(b, classes)`) over `data` in batches.
/// `on_batch(done)` is called with the samples processed so far.
pub fn predict(
    data: &Dataset,
    batch: usize,
    mut classify: impl FnMut(Tensor) -> Result<Tensor>,
    mut on_batch: impl FnMut(usize),
) -> Result<Predictions> {
    let mut predicted = Vec::with_capacity(data.len());
    let mut correct = 0;
    for (x, labels) in data.batches(batch) {
        let logits = classify(x)?;
        let p = argmax(&logits);
        correct += p.iter().zip(labels).filter(|(p, &l)| **p == l as usize).count();
        predicted.extend(p);
        on_batch(predicted.len());
    }
    Ok(Predictions { total: predicted.len(), predicted, correct })
}

/// The first output of a model run on a single input.
pub fn first_output(outputs: Vec<Tensor>) -> Result<Tensor> {
    outputs.into_iter().next().ok_or(crate::error::EngineError::Run {
        engine: "eval",
        reason: "the model produced no output".into(),
    })
}
