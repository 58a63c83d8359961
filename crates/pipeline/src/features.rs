//! Engine tensors as codec features and back: one frame per sample, as on the wire.

use coinfer_compress::Feature;
use coinfer_engine::Tensor;

use crate::error::{PipelineError, Result};

/// A tensor as a codec feature (same shape and values).
pub fn to_feature(x: &Tensor) -> Feature {
    Feature { shape: x.shape().to_vec(), values: x.iter().copied().collect() }
}

/// Each sample of a batch `(N, ...)` as its own feature `(1, ...)`.
pub fn sample_features(x: &Tensor) -> impl Iterator<Item = Feature> + '_ {
    (0..x.shape().first().copied().unwrap_or(0)).map(|i| {
        to_feature(&x.index_axis(ndarray::Axis(0), i).insert_axis(ndarray::Axis(0)).to_owned())
    })
}

/// Sample `k` of the batch `x` as a batch of one (`(1, ...)`); `None` past the end.
pub fn batch_of_one(x: &Tensor, k: usize) -> Option<Tensor> {
    (k < x.shape().first().copied().unwrap_or(0))
        .then(|| x.slice_axis(ndarray::Axis(0), (k..k + 1).into()).to_owned())
}

/// A decoded feature as a tensor; errors if its values do not fill its shape.
pub fn to_tensor(f: Feature) -> Result<Tensor> {
    Tensor::from_shape_vec(f.shape, f.values).map_err(|e| {
        PipelineError::Invalid(format!("a decoded feature does not fill its shape: {e}"))
    })
}

/// Per-sample features stacked back into one batch along axis 0: `n` samples of shape
/// `(1, ...)` become `(n, ...)`.
pub fn stack(samples: Vec<Feature>) -> Result<Tensor> {
    let Some(first) = samples.first() else {
        return Err(PipelineError::Invalid("no samples to stack".into()));
    };
    let mut shape = first.shape.clone();
    if shape.is_empty() || samples.iter().any(|s| s.shape != first.shape) {
        return Err(PipelineError::Invalid("samples of different shapes".into()));
    }
    shape[0] *= samples.len();
    let values = samples.into_iter().flat_map(|s| s.values).collect();
    to_tensor(Feature { shape, values })
}
