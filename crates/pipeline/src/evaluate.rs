//! The one codec seam: every path that moves a feature through a codec on a data set (the
//! demo's executions, codec sweeps, learned bottlenecks, the input-image baseline) calls
//! [`evaluate`].

use coinfer_compress::{DecodeLimits, FeatureCodec};
use coinfer_data::{argmax, Dataset};
use coinfer_engine::eval::first_output;
use coinfer_engine::{Runnable, Tensor};

use crate::error::{PipelineError, Result};
use crate::features::{sample_features, stack};
use crate::progress::Progress;

/// What runs where, for one evaluation.
#[derive(Clone, Copy)]
pub enum Stages<'a> {
    /// The head on the device, its output through the codec, the tail at the edge.
    Split {
        /// Device side.
        head: &'a dyn Runnable,
        /// Edge side.
        tail: &'a dyn Runnable,
    },
    /// The whole model at the edge: the input crosses the link through the codec.
    EdgeOnly(&'a dyn Runnable),
    /// The whole model on the device: nothing crosses the link (the codec is not used).
    DeviceOnly(&'a dyn Runnable),
    /// A split whose head outputs were computed once (a sweep of many codecs at one cut):
    /// one tensor per batch of the data set, in order, at the same batch size.
    HeadOutputs {
        /// The head's output for each batch.
        features: &'a [Tensor],
        /// Edge side.
        tail: &'a dyn Runnable,
    },
}

/// What an evaluation measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Evaluation {
    /// Samples evaluated.
    pub images: usize,
    /// Samples whose top-1 class equals the label.
    pub correct: usize,
    /// `correct / images`, in `[0, 1]`.
    pub accuracy: f64,
    /// Mean bytes that crossed the link per sample: whole frames, header and CRC included
    /// (0 when nothing is offloaded).
    pub bytes_per_sample: f64,
    /// Samples whose class differs from the reference (the unsplit model's), if one was given.
    pub differing_from_reference: Option<usize>,
    /// The predicted class of each sample, in data set order.
    #[serde(skip)]
    pub predicted: Vec<usize>,
}

/// Runs `data` in batches of `batch` through `stages`, every offloaded tensor encoded by
/// `codec` one frame per sample and decoded (within the default limits) before the next
/// stage. `reference`, if given, holds one class per sample to compare with.
pub fn evaluate(
    stages: Stages<'_>,
    codec: &dyn FeatureCodec,
    data: &Dataset,
    batch: usize,
    reference: Option<&[usize]>,
    progress: &mut dyn Progress,
) -> Result<Evaluation> {
    if let Some(r) = reference {
        if r.len() != data.len() {
            return Err(PipelineError::Invalid(format!(
                "{} reference classes for {} samples",
                r.len(),
                data.len()
            )));
        }
    }
    let limits = DecodeLimits::default();
    let mut sent = 0usize;
    let mut through = |x: &Tensor| -> Result<Tensor> {
        let mut decoded = Vec::with_capacity(x.shape().first().copied().unwrap_or(0));
        for sample in sample_features(x) {
            let frame = codec.encode(&sample)?;
            sent += frame.len();
            decoded.push(codec.decode(&frame, &limits)?);
        }
        stack(decoded)
    };
    if let Stages::HeadOutputs { features, .. } = stages {
        if features.len() != data.len().div_ceil(batch.max(1)) {
            return Err(PipelineError::Invalid(format!(
                "{} precomputed head outputs for {} batches",
                features.len(),
                data.len().div_ceil(batch.max(1))
            )));
        }
    }
    progress.start(&codec.name(), data.len() as u64);
    let (mut predicted, mut correct) = (Vec::with_capacity(data.len()), 0);
    for (i, (x, labels)) in data.batches(batch.max(1)).enumerate() {
        let logits = match stages {
            Stages::HeadOutputs { features, tail } => {
                first_output(tail.run(&[through(&features[i])?])?)?
            }
            Stages::Split { head, tail } => {
                let feature = first_output(head.run(&[x])?)?;
                first_output(tail.run(&[through(&feature)?])?)?
            }
            Stages::EdgeOnly(model) => first_output(model.run(&[through(&x)?])?)?,
            Stages::DeviceOnly(model) => first_output(model.run(&[x])?)?,
        };
        let classes = argmax(&logits);
        if classes.len() != labels.len() {
            return Err(PipelineError::Invalid(format!(
                "the model gave {} predictions for {} samples",
                classes.len(),
                labels.len()
            )));
        }
        correct += classes.iter().zip(labels).filter(|(p, &l)| **p == l as usize).count();
        predicted.extend(classes);
        progress.set(predicted.len() as u64);
    }
    progress.finish();
    let images = predicted.len();
    let differing = reference.map(|r| r.iter().zip(&predicted).filter(|(a, b)| a != b).count());
    Ok(Evaluation {
        images,
        correct,
        accuracy: correct as f64 / images.max(1) as f64,
        bytes_per_sample: sent as f64 / images.max(1) as f64,
        differing_from_reference: differing,
        predicted,
    })
}
