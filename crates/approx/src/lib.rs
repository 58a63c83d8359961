//! # coinfer-approx
//!
//! One way to say "these float tensors agree": a named [`Approximation`] (modelled on tract's
//! `Approximation`), relative to the scale of the reference (its largest absolute value).
//! A tolerance never hides a NaN on either side, a different number of tensors, a different
//! shape or a different length: each is a [`Mismatch`] of its own, so a check written with this
//! crate fails on an empty, truncated or NaN output however loose its tolerance.
//!
//! ```
//! use coinfer_approx::{compare_slices, Approximation};
//! let agreement = compare_slices(&[1.0, -2.0], &[1.0, -2.000_01], Approximation::Close)?;
//! assert!(agreement.relative() <= 1e-5);
//! assert!(compare_slices(&[1.0, 2.0], &[1.0, f32::NAN], Approximation::OfScale(1.0)).is_err());
//! assert!(compare_slices(&[1.0, 2.0], &[1.0], Approximation::OfScale(1.0)).is_err());
//! # Ok::<(), coinfer_approx::Mismatch>(())
//! ```

use ndarray::ArrayD;

/// How close two tensors must be, as a fraction of the reference's scale (its largest
/// absolute value over all compared tensors).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Approximation {
    /// Bit-for-bit equal values (lossless codecs, removing channels that carry nothing).
    Exact,
    /// Within 1e-5 of the scale: the same computation on the same engine, reassociated (a split
    /// model against the whole, a pruned model without its dead channels).
    Close,
    /// Within 1e-4 of the scale: different kernels computing the same function (tract against
    /// ONNX Runtime or PyTorch, the trainable interpreter against tract).
    Approximate,
    /// Within this fraction of the scale (a quantizer's step, a documented deviation).
    OfScale(f32),
}

impl Approximation {
    /// The largest difference allowed, as a fraction of the reference's scale.
    pub fn of_scale(self) -> f32 {
        match self {
            Approximation::Exact => 0.0,
            Approximation::Close => 1e-5,
            Approximation::Approximate => 1e-4,
            Approximation::OfScale(f) => f,
        }
    }
}

/// How far apart two tensor lists that agree are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agreement {
    /// Largest absolute difference.
    pub max_abs_diff: f32,
    /// Largest absolute value of the reference.
    pub scale: f32,
}

impl Agreement {
    /// `max_abs_diff / scale` (0 when both are 0).
    pub fn relative(&self) -> f32 {
        if self.max_abs_diff == 0.0 {
            0.0
        } else {
            self.max_abs_diff / self.scale
        }
    }
}

/// Why two tensor lists do not agree.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Mismatch {
    /// A different number of tensors.
    #[error("{got} tensors where {expected} were expected")]
    Count {
        /// Reference count.
        expected: usize,
        /// Compared count.
        got: usize,
    },
    /// A tensor of another shape.
    #[error("tensor {index} has shape {got:?} where {expected:?} was expected")]
    Shape {
        /// Position in the list.
        index: usize,
        /// Reference shape.
        expected: Vec<usize>,
        /// Compared shape.
        got: Vec<usize>,
    },
    /// A value list of another length (slices carry no shape).
    #[error("{got} values where {expected} were expected")]
    Length {
        /// Reference length.
        expected: usize,
        /// Compared length.
        got: usize,
    },
    /// A NaN on either side.
    #[error("NaN in the {side} at value {at} of tensor {index}")]
    NotANumber {
        /// `reference` or `compared`.
        side: &'static str,
        /// Tensor position in the list.
        index: usize,
        /// Value position in the tensor (row-major).
        at: usize,
    },
    /// A difference beyond the tolerance (or an infinity on one side only).
    #[error(
        "values differ by {diff:e} at value {at} of tensor {index}: more than {of_scale:e} of the \
         reference's scale {scale:e}"
    )]
    TooFar {
        /// Tensor position in the list.
        index: usize,
        /// Value position in the tensor (row-major).
        at: usize,
        /// The difference found there.
        diff: f32,
        /// The reference's scale.
        scale: f32,
        /// The tolerance, as a fraction of the scale.
        of_scale: f32,
    },
}

/// Compares value lists; `reference` sets the scale. See [`compare_arrays`].
pub fn compare_slices(
    reference: &[f32],
    got: &[f32],
    approx: Approximation,
) -> Result<Agreement, Mismatch> {
    if reference.len() != got.len() {
        return Err(Mismatch::Length { expected: reference.len(), got: got.len() });
    }
    compare_values([(reference.iter().copied(), got.iter().copied())], approx)
}

/// Compares tensor lists (one per model output); `reference` sets the scale. Errors on a count,
/// shape or NaN mismatch first, then on the first value beyond the tolerance.
pub fn compare_arrays(
    reference: &[ArrayD<f32>],
    got: &[ArrayD<f32>],
    approx: Approximation,
) -> Result<Agreement, Mismatch> {
    if reference.len() != got.len() {
        return Err(Mismatch::Count { expected: reference.len(), got: got.len() });
    }
    for (index, (r, g)) in reference.iter().zip(got).enumerate() {
        if r.shape() != g.shape() {
            return Err(Mismatch::Shape {
                index,
                expected: r.shape().to_vec(),
                got: g.shape().to_vec(),
            });
        }
    }
    compare_values(
        reference.iter().zip(got).map(|(r, g)| (r.iter().copied(), g.iter().copied())),
        approx,
    )
}

/// The comparison itself, over tensors already known to pair up value for value.
fn compare_values<R, G>(
    pairs: impl IntoIterator<Item = (R, G)> + Clone,
    approx: Approximation,
) -> Result<Agreement, Mismatch>
where
    R: Iterator<Item = f32>,
    G: Iterator<Item = f32>,
{
    let mut scale = 0.0f32;
    for (index, (r, g)) in pairs.clone().into_iter().enumerate() {
        for (at, (r, g)) in r.zip(g).enumerate() {
            if r.is_nan() {
                return Err(Mismatch::NotANumber { side: "reference", index, at });
            }
            if g.is_nan() {
                return Err(Mismatch::NotANumber { side: "compared", index, at });
            }
            scale = scale.max(r.abs());
        }
    }
    let of_scale = approx.of_scale();
    let limit = of_scale * scale;
    let mut max_abs_diff = 0.0f32;
    for (index, (r, g)) in pairs.into_iter().enumerate() {
        for (at, (r, g)) in r.zip(g).enumerate() {
            // Equal infinities agree; anything else infinite is infinitely far.
            let diff = if r == g { 0.0 } else { (r - g).abs() };
            if diff > limit || !diff.is_finite() {
                return Err(Mismatch::TooFar { index, at, diff, scale, of_scale });
            }
            max_abs_diff = max_abs_diff.max(diff);
        }
    }
    Ok(Agreement { max_abs_diff, scale })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(shape: &[usize], v: &[f32]) -> ArrayD<f32> {
        ArrayD::from_shape_vec(shape.to_vec(), v.to_vec()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn tolerances_are_relative_to_the_reference_scale() {
        let r = [arr(&[2], &[100.0, -50.0])];
        let near = [arr(&[2], &[100.0005, -50.0])];
        let a = compare_arrays(&r, &near, Approximation::Close).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.scale, 100.0);
        assert!(a.relative() <= 1e-5);
        assert!(compare_arrays(&r, &[arr(&[2], &[100.01, -50.0])], Approximation::Close).is_err());
        assert!(compare_arrays(&r, &near, Approximation::Exact).is_err());
        assert!(compare_arrays(&r, &r, Approximation::Exact).is_ok());
    }

    #[test]
    fn nan_empty_short_and_misshapen_outputs_always_fail() {
        let loose = Approximation::OfScale(f32::MAX);
        let r = [arr(&[1, 3], &[1.0, 2.0, 3.0])];
        for (got, what) in [
            (vec![arr(&[1, 3], &[1.0, f32::NAN, 3.0])], "NaN compared"),
            (vec![], "no output"),
            (vec![arr(&[1, 3], &[1.0, 2.0, 3.0]), arr(&[1], &[0.0])], "extra output"),
            (vec![arr(&[3, 1], &[1.0, 2.0, 3.0])], "other shape"),
            (vec![arr(&[1, 0], &[])], "empty tensor"),
            (vec![arr(&[1, 3], &[1.0, 2.0, f32::INFINITY])], "infinity"),
        ] {
            assert!(compare_arrays(&r, &got, loose).is_err(), "{what} passed");
        }
        let nan_ref = [arr(&[1], &[f32::NAN])];
        assert!(matches!(
            compare_arrays(&nan_ref, &nan_ref, loose),
            Err(Mismatch::NotANumber { side: "reference", .. })
        ));
        assert!(matches!(compare_slices(&[1.0, 2.0], &[1.0], loose), Err(Mismatch::Length { .. })));
        assert!(compare_slices(&[], &[], Approximation::Exact).is_ok());
        let inf = [f32::INFINITY, 1.0];
        assert!(compare_slices(&inf, &inf, Approximation::Exact).is_ok());
    }
}
