//! An in-memory labelled image set, batching and top-1 accuracy.

use ndarray::{ArrayD, ArrayView2, Axis, IxDyn};

/// Labelled images, float32 in `[0, 1]`, stored as `(N, C, H, W)` row-major.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Data set name (`fashion-mnist`, ...).
    pub name: String,
    /// Split name (`train`, `val`, `test`).
    pub split: String,
    /// Image shape `(C, H, W)`.
    pub image_shape: [usize; 3],
    /// Number of classes.
    pub classes: usize,
    /// Pixels, `len() == labels.len() * C * H * W`.
    pub images: Vec<f32>,
    /// Class labels in `0..classes`.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether it holds no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Floats per image.
    pub fn image_len(&self) -> usize {
        self.image_shape.iter().product()
    }

    /// The first `n` samples (all if `n` is larger).
    pub fn take(mut self, n: usize) -> Dataset {
        let n = n.min(self.len());
        self.images.truncate(n * self.image_len());
        self.labels.truncate(n);
        self
    }

    /// Samples `start..end` as a `(end-start, C, H, W)` tensor and their labels.
    pub fn slice(&self, start: usize, end: usize) -> (ArrayD<f32>, &[u8]) {
        let end = end.min(self.len());
        let start = start.min(end);
        let k = self.image_len();
        let [c, h, w] = self.image_shape;
        let data = self.images[start * k..end * k].to_vec();
        let x = ArrayD::from_shape_vec(IxDyn(&[end - start, c, h, w]), data)
            .unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0, c, h, w])));
        (x, &self.labels[start..end])
    }

    /// Consecutive batches of `batch_size` (the last may be smaller).
    pub fn batches(&self, batch_size: usize) -> Batches<'_> {
        Batches { data: self, next: 0, batch_size: batch_size.max(1) }
    }
}

/// Iterator over consecutive batches of a [`Dataset`].
pub struct Batches<'a> {
    data: &'a Dataset,
    next: usize,
    batch_size: usize,
}

impl<'a> Iterator for Batches<'a> {
    type Item = (ArrayD<f32>, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.data.len() {
            return None;
        }
        let start = self.next;
        self.next = (start + self.batch_size).min(self.data.len());
        Some(self.data.slice(start, self.next))
    }
}

/// Index of the largest logit of each row of a `(batch, classes)` tensor.
pub fn argmax(logits: &ArrayD<f32>) -> Vec<usize> {
    let rows = logits.shape().first().copied().unwrap_or(0);
    let cols = logits.len().checked_div(rows).unwrap_or(0);
    let Ok(view) = logits.view().into_shape_with_order((rows, cols)) else { return vec![] };
    let view: ArrayView2<f32> = view;
    view.axis_iter(Axis(0))
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |best, (i, &v)| {
                        if v > best.1 {
                            (i, v)
                        } else {
                            best
                        }
                    },
                )
                .0
        })
        .collect()
}

/// Number of rows of `logits` whose argmax equals the label.
pub fn top1_correct(logits: &ArrayD<f32>, labels: &[u8]) -> usize {
    argmax(logits).iter().zip(labels).filter(|(p, &l)| **p == l as usize).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_and_accuracy() {
        let logits =
            ArrayD::from_shape_vec(IxDyn(&[3, 3]), vec![0., 1., 0., 5., -1., 2., 0., 0., 9.])
                .unwrap();
        assert_eq!(argmax(&logits), vec![1, 0, 2]);
        assert_eq!(top1_correct(&logits, &[1, 2, 2]), 2);
    }

    #[test]
    fn batches_cover_everything_once() {
        let d = Dataset {
            name: "t".into(),
            split: "test".into(),
            image_shape: [1, 2, 2],
            classes: 2,
            images: (0..40).map(|v| v as f32).collect(),
            labels: (0..10).map(|v| (v % 2) as u8).collect(),
        };
        let sizes: Vec<usize> = d
            .batches(4)
            .map(|(x, y)| {
                assert_eq!(x.shape()[0], y.len());
                y.len()
            })
            .collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        let (x, _) = d.slice(9, 10);
        assert_eq!(x.iter().copied().collect::<Vec<_>>(), vec![36., 37., 38., 39.]);
    }
}
