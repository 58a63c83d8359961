//! Training loop for the default model: AdamW, cosine learning rate, random-shift augmentation,
//! per-epoch validation, progress bar.

use candle_core::Var;
use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use coinfer_data::{top1_correct, Dataset};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::error::{Result, TrainError};
use crate::resnet::{ResNet, ResNetConfig};

/// Hyper-parameters of a training run: the model's shape and the optimisation settings
/// (flattened in JSON, so a card reads `{"model": …, "epochs": …, "lr": …}`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Model shape.
    pub model: ResNetConfig,
    /// Optimisation settings.
    #[serde(flatten)]
    pub fit: FitConfig,
}

/// Optimisation settings shared by training from scratch and fine-tuning.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FitConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Peak learning rate (cosine decay to 0).
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Max random shift in pixels (zero padded) for augmentation; 0 disables it.
    pub shift: usize,
    /// Seed of shuffling and augmentation.
    pub seed: u64,
    /// Use only the first `n` training samples (all if `None`).
    pub limit: Option<usize>,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 2,
            batch_size: 128,
            lr: 1e-3,
            weight_decay: 1e-4,
            shift: 1,
            seed: 1,
            limit: None,
        }
    }
}

impl Default for TrainConfig {
    /// The default model trained from scratch: 10 epochs at a peak learning rate of 3e-3.
    fn default() -> Self {
        TrainConfig {
            model: ResNetConfig::default(),
            fit: FitConfig { epochs: 10, lr: 3e-3, ..FitConfig::default() },
        }
    }
}

/// What one epoch achieved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochLog {
    /// Epoch number (1-based).
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy (on augmented batches, in training mode).
    pub train_accuracy: f64,
    /// Validation accuracy (evaluation mode).
    pub val_accuracy: f64,
    /// Wall time of the epoch (s).
    pub seconds: f64,
}

/// A trained model and its history.
pub struct Trained {
    /// The model (evaluation mode is `forward_t(x, false)`).
    pub model: ResNet,
    /// Per-epoch log.
    pub history: Vec<EpochLog>,
}

/// Randomly shifts each image by up to `max` pixels (zero padding); hand-written because it is
/// a few lines on the flat buffer and avoids per-sample tensor ops.
fn shift_batch(images: &mut [f32], shape: [usize; 3], max: usize, rng: &mut impl Rng) {
    if max == 0 {
        return;
    }
    let [c, h, w] = shape;
    let k = c * h * w;
    let mut buf = vec![0.0f32; k];
    let m = max as i64;
    for img in images.chunks_mut(k) {
        let (dy, dx) = (rng.random_range(-m..=m), rng.random_range(-m..=m));
        buf.iter_mut().for_each(|v| *v = 0.0);
        for ch in 0..c {
            for y in 0..h as i64 {
                let sy = y - dy;
                if sy < 0 || sy >= h as i64 {
                    continue;
                }
                for x in 0..w as i64 {
                    let sx = x - dx;
                    if sx < 0 || sx >= w as i64 {
                        continue;
                    }
                    buf[ch * h * w + (y as usize) * w + x as usize] =
                        img[ch * h * w + (sy as usize) * w + sx as usize];
                }
            }
        }
        img.copy_from_slice(&buf);
    }
}

pub(crate) fn to_tensor(images: Vec<f32>, shape: [usize; 3], device: &Device) -> Result<Tensor> {
    let n = images.len() / shape.iter().product::<usize>();
    Ok(Tensor::from_vec(images, (n, shape[0], shape[1], shape[2]), device)?)
}

/// Accuracy of `model` on `data` in evaluation mode.
pub fn evaluate<M: ModuleT>(model: &M, data: &Dataset, batch: usize) -> Result<f64> {
    let device = Device::Cpu;
    let mut correct = 0;
    for (x, labels) in data.batches(batch) {
        let n = labels.len();
        let images: Vec<f32> = x.iter().copied().collect();
        let logits = model.forward_t(&to_tensor(images, data.image_shape, &device)?, false)?;
        let logits = ndarray::ArrayD::from_shape_vec(
            vec![n, logits.dim(1)?],
            logits.flatten_all()?.to_vec1::<f32>()?,
        )
        .map_err(|e| TrainError::Shape(e.to_string()))?;
        correct += top1_correct(&logits, labels);
    }
    Ok(correct as f64 / data.len().max(1) as f64)
}

/// Re-initialises every conv/linear weight and bias from `seed` (candle's CPU generator cannot
/// be seeded): weights uniform in ±1/√fan_in (PyTorch's default bound), biases zero.
/// BatchNorm scales and shifts keep their constant initialisation (1 and 0).
fn seeded_init(varmap: &VarMap, seed: u64) -> Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let data = varmap.data().lock().map_err(|_| TrainError::Config("poisoned lock".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let is_bn = name.contains(".bn.");
        let values: Vec<f32> = if is_bn {
            continue;
        } else if dims.len() >= 2 {
            let fan_in: usize = dims[1..].iter().product();
            let bound = 1.0 / (fan_in as f32).sqrt();
            (0..var.elem_count()).map(|_| rng.random_range(-bound..bound)).collect()
        } else {
            vec![0.0; var.elem_count()]
        };
        var.set(&Tensor::from_vec(values, dims, var.device())?)?;
    }
    Ok(())
}

/// Trains a fresh model on `train`, validating on `val` after every epoch.
/// `on_step(done, total)` reports progress in steps; `on_epoch` gets each epoch's log.
pub fn train(
    config: &TrainConfig,
    train: &Dataset,
    val: &Dataset,
    on_step: impl FnMut(usize, usize),
    on_epoch: impl FnMut(&EpochLog),
) -> Result<Trained> {
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let model = ResNet::new(&config.model, vb)?;
    seeded_init(&varmap, config.fit.seed)?;
    let history = fit(&model, varmap.all_vars(), &config.fit, train, val, on_step, on_epoch)?;
    Ok(Trained { model, history })
}

/// Optimises `vars` of `model` (AdamW, cosine learning rate, shift augmentation, cross-entropy)
/// on `train`, validating on `val` after every epoch. Works for any candle module, e.g. the
/// default [`ResNet`] or an [`crate::OnnxModule`] being fine-tuned.
pub fn fit<M: ModuleT>(
    model: &M,
    vars: Vec<Var>,
    config: &FitConfig,
    train: &Dataset,
    val: &Dataset,
    mut on_step: impl FnMut(usize, usize),
    mut on_epoch: impl FnMut(&EpochLog),
) -> Result<Vec<EpochLog>> {
    let device = Device::Cpu;
    let n = config.limit.map_or(train.len(), |l| l.min(train.len()));
    if n == 0 || config.batch_size == 0 {
        return Err(TrainError::Config("the training set or the batch is empty".into()));
    }
    let steps_per_epoch = n.div_ceil(config.batch_size);
    let total_steps = steps_per_epoch * config.epochs;
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW { lr: config.lr, weight_decay: config.weight_decay, ..Default::default() },
    )?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    let k = train.image_len();
    let mut history = Vec::new();
    let mut step = 0;
    for epoch in 1..=config.epochs {
        let start = std::time::Instant::now();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        for chunk in order.chunks(config.batch_size) {
            let progress = step as f64 / total_steps as f64;
            opt.set_learning_rate(
                config.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
            );
            let mut images = Vec::with_capacity(chunk.len() * k);
            for &i in chunk {
                images.extend_from_slice(&train.images[i * k..(i + 1) * k]);
            }
            shift_batch(&mut images, train.image_shape, config.shift, &mut rng);
            let labels: Vec<u32> = chunk.iter().map(|&i| train.labels[i] as u32).collect();
            let x = to_tensor(images, train.image_shape, &device)?;
            let y = Tensor::new(labels.as_slice(), &device)?;
            let logits = model.forward_t(&x, true)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()? as f64 * chunk.len() as f64;
            let pred = logits.argmax(1)?.to_vec1::<u32>()?;
            correct += pred.iter().zip(&labels).filter(|(p, l)| p == l).count();
            step += 1;
            on_step(step, total_steps);
        }
        let log = EpochLog {
            epoch,
            train_loss: loss_sum / n as f64,
            train_accuracy: correct as f64 / n as f64,
            val_accuracy: evaluate(model, val, 500)?,
            seconds: start.elapsed().as_secs_f64(),
        };
        on_epoch(&log);
        history.push(log);
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::shift_batch;
    use rand::SeedableRng;

    #[test]
    fn shift_keeps_pixels_or_zero_pads() {
        let mut img: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        shift_batch(&mut img, [1, 4, 4], 1, &mut rng);
        // Every value is either a zero (padding) or one of the originals, each at most once.
        let mut seen: Vec<f32> = img.iter().copied().filter(|&v| v != 0.0).collect();
        seen.sort_by(f32::total_cmp);
        seen.dedup();
        assert_eq!(seen.len(), img.iter().filter(|&&v| v != 0.0).count());
        assert!(seen.len() >= 9, "a shift of at most 1 keeps at least 3×3 pixels");
    }
}
