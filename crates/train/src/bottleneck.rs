//! Learned bottleneck at a cut (BottleNet++, seed 000): an encoder `Conv(C→C′, k×k) → Sigmoid`
//! appended to the device head, uniform quantization of the code to `bits` bits, and a decoder
//! `Conv(C′→C, k×k) [→ ReLU → Conv(C→C)] [→ ReLU]` prepended to the edge tail. The backbone is
//! frozen (optionally the tail trains too): encoder and decoder train, end to end through the (interpreted) tail, with straight-through rounding.
//! Loss: cross-entropy of the tail's output plus the relative MSE of the reconstructed feature.
//! The code lies in `[0, 1]`, so its quantizer needs no calibration; its entropy model does.

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use candle_nn::{AdamW, Conv2d, Conv2dConfig, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use coinfer_graph::builder::{attr_ints, ModelBuilder};
use coinfer_graph::pb::ModelProto;
use coinfer_graph::Graph;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::error::{Result, TrainError};
use crate::onnx_module::OnnxModule;
use crate::trainer::{EpochLog, FitConfig};

/// Shape of a bottleneck.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BottleneckConfig {
    /// Code channels C′.
    pub channels: usize,
    /// Quantization bits of the code (1–8) during training and deployment.
    pub bits: u8,
    /// Square kernel size of encoder and decoder (odd; "same" padding).
    pub kernel: usize,
    /// End the decoder with a ReLU (right when the cut feature is a ReLU output).
    pub relu: bool,
    /// Convs in the decoder (1: `Conv(C′→C)`; 2: `Conv(C′→C) ReLU Conv(C→C)`); the extra
    /// layer costs edge compute only.
    pub decoder_layers: usize,
    /// Also train the tail (the edge model is retrained, the device head stays as deployed);
    /// `false` keeps the whole backbone frozen.
    pub train_tail: bool,
}

/// Features of a data set at a cut, flattened: `n × (C·H·W)` values and their labels.
pub struct CutFeatures {
    /// Feature shape per sample `[C, H, W]`.
    pub shape: [usize; 3],
    /// Row-major values, `n · C·H·W`.
    pub values: Vec<f32>,
    /// Class labels.
    pub labels: Vec<u8>,
}

impl CutFeatures {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn batch(&self, idx: &[usize], device: &Device) -> Result<(Tensor, Tensor)> {
        let k: usize = self.shape.iter().product();
        let mut v = Vec::with_capacity(idx.len() * k);
        for &i in idx {
            v.extend_from_slice(&self.values[i * k..(i + 1) * k]);
        }
        let [c, h, w] = self.shape;
        let labels: Vec<u32> = idx.iter().map(|&i| self.labels[i] as u32).collect();
        Ok((
            Tensor::from_vec(v, (idx.len(), c, h, w), device)?,
            Tensor::new(labels.as_slice(), device)?,
        ))
    }
}

/// A trained bottleneck as two ONNX models.
pub struct TrainedBottleneck {
    /// `feature (N,C,H,W) → code (N,C′,H,W)` in `[0, 1]`.
    pub encoder: ModelProto,
    /// `code (N,C′,H,W) → feature (N,C,H,W)`.
    pub decoder: ModelProto,
    /// The retrained tail, with [`BottleneckConfig::train_tail`].
    pub tail: Option<ModelProto>,
    /// Per-epoch log (validation accuracy with the quantized code).
    pub history: Vec<EpochLog>,
}

struct Net {
    enc: Conv2d,
    dec: Conv2d,
    dec2: Option<Conv2d>,
    levels: f64,
    relu: bool,
}

impl Net {
    fn code(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = candle_nn::ops::sigmoid(&self.enc.forward(x)?)?;
        // Straight-through rounding: forward quantized, backward identity.
        let q = (y.affine(self.levels, 0.0)?.round()? / self.levels)?;
        y.clone() + (q - y)?.detach()
    }

    fn decode(&self, q: &Tensor) -> candle_core::Result<Tensor> {
        let mut y = self.dec.forward(q)?;
        if let Some(dec2) = &self.dec2 {
            y = dec2.forward(&y.relu()?)?;
        }
        if self.relu {
            y.relu()
        } else {
            Ok(y)
        }
    }
}

fn seeded(varmap: &VarMap, seed: u64) -> Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0xb0771e);
    let data = varmap.data().lock().map_err(|_| TrainError::Config("poisoned lock".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var: &Var = &data[name];
        let dims = var.dims().to_vec();
        let values: Vec<f32> = if dims.len() >= 2 {
            let bound = (1.0 / dims[1..].iter().product::<usize>() as f32).sqrt();
            (0..var.elem_count()).map(|_| rng.random_range(-bound..bound)).collect()
        } else {
            vec![0.0; var.elem_count()]
        };
        var.set(&Tensor::from_vec(values, dims, var.device())?)?;
    }
    Ok(())
}

fn accuracy(net: &Net, tail: &OnnxModule, data: &CutFeatures) -> Result<f64> {
    // Evaluation mode throughout (BatchNorm running statistics).
    let device = Device::Cpu;
    let mut correct = 0;
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(500) {
        let (x, y) = data.batch(chunk, &device)?;
        let logits = tail.forward_t(&net.decode(&net.code(&x)?)?, false)?;
        let pred = logits.argmax(1)?.to_vec1::<u32>()?;
        correct += pred.iter().zip(y.to_vec1::<u32>()?).filter(|(p, l)| **p == *l).count();
    }
    Ok(correct as f64 / data.len().max(1) as f64)
}

/// The encoder and decoder of `net` as ONNX models for features of shape `[C, H, W]`.
fn export(
    net: &Net,
    config: &BottleneckConfig,
    shape: [usize; 3],
) -> Result<(ModelProto, ModelProto)> {
    let k = config.kernel;
    let [c, h, w] = shape;
    let conv = |b: &mut ModelBuilder, x: &str, name: &str, m: &Conv2d| -> Result<String> {
        let wd = m.weight().dims().to_vec();
        let wv = m.weight().flatten_all()?.to_vec1::<f32>()?;
        let wn = b.weight(&format!("{name}.weight"), &wd, &wv);
        let mut inputs = vec![x.to_string(), wn];
        if let Some(bias) = m.bias() {
            let bv = bias.to_vec1::<f32>()?;
            inputs.push(b.weight(&format!("{name}.bias"), &[bv.len()], &bv));
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let p = (k / 2) as i64;
        Ok(b.named_node(
            name,
            "Conv",
            &refs,
            vec![
                attr_ints("kernel_shape", &[k as i64, k as i64]),
                attr_ints("pads", &[p, p, p, p]),
            ],
        ))
    };
    let mut b = ModelBuilder::new("coinfer_bottleneck_encoder");
    let x = b.input("feature", &[None, Some(c), Some(h), Some(w)]);
    let y = conv(&mut b, &x, "encoder.conv", &net.enc)?;
    let y = b.named_node("code", "Sigmoid", &[&y], vec![]);
    b.output(&y, &[None, Some(config.channels), Some(h), Some(w)]);
    let encoder = b.build();
    let mut b = ModelBuilder::new("coinfer_bottleneck_decoder");
    let x = b.input("code", &[None, Some(config.channels), Some(h), Some(w)]);
    let mut y = conv(&mut b, &x, "decoder.conv", &net.dec)?;
    if let Some(dec2) = &net.dec2 {
        let r = b.named_node("decoder.relu1", "Relu", &[&y], vec![]);
        y = conv(&mut b, &r, "decoder.conv2", dec2)?;
    }
    if config.relu {
        y = b.named_node("decoder.relu", "Relu", &[&y], vec![]);
    }
    b.output(&y, &[None, Some(c), Some(h), Some(w)]);
    let decoder = b.build();
    Ok((encoder, decoder))
}

/// Trains encoder and decoder at a cut whose tail is `tail`, on head features `train`
/// (validated on `val` every epoch).
pub fn train_bottleneck(
    tail: &Graph,
    config: &BottleneckConfig,
    fit: &FitConfig,
    train: &CutFeatures,
    val: &CutFeatures,
    mut on_step: impl FnMut(usize, usize),
    mut on_epoch: impl FnMut(&EpochLog),
) -> Result<TrainedBottleneck> {
    if !(1..=8).contains(&config.bits)
        || config.channels == 0
        || config.kernel.is_multiple_of(2)
        || !(1..=2).contains(&config.decoder_layers)
    {
        return Err(TrainError::Config(format!(
            "bottleneck needs 1-8 bits, ≥ 1 channel, an odd kernel and 1-2 decoder layers, got {config:?}"
        )));
    }
    let device = Device::Cpu;
    let tail_module = OnnxModule::new(tail)?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let c = train.shape[0];
    let k = config.kernel;
    let cfg = Conv2dConfig { padding: k / 2, ..Default::default() };
    let net = Net {
        enc: candle_nn::conv2d(c, config.channels, k, cfg, vb.pp("encoder"))?,
        dec: candle_nn::conv2d(config.channels, c, k, cfg, vb.pp("decoder"))?,
        dec2: if config.decoder_layers == 2 {
            Some(candle_nn::conv2d(c, c, k, cfg, vb.pp("decoder2"))?)
        } else {
            None
        },
        levels: ((1u32 << config.bits) - 1) as f64,
        relu: config.relu,
    };
    seeded(&varmap, fit.seed)?;
    let n = fit.limit.map_or(train.len(), |l| l.min(train.len()));
    if n == 0 || fit.batch_size == 0 {
        return Err(TrainError::Config("no training features".into()));
    }
    let mut vars = varmap.all_vars();
    if config.train_tail {
        vars.extend(tail_module.vars());
    }
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW { lr: fit.lr, weight_decay: fit.weight_decay, ..Default::default() },
    )?;
    let total = n.div_ceil(fit.batch_size) * fit.epochs;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(fit.seed);
    let (mut step, mut history) = (0, Vec::new());
    for epoch in 1..=fit.epochs {
        let start = std::time::Instant::now();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        for chunk in order.chunks(fit.batch_size) {
            let progress = step as f64 / total as f64;
            opt.set_learning_rate(fit.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            let (x, y) = train.batch(chunk, &device)?;
            let rec = net.decode(&net.code(&x)?)?;
            let logits = tail_module.forward_t(&rec, config.train_tail)?;
            // Task loss plus a reconstruction term (relative MSE) that gives the decoder a useful
            // target from the first step; the task loss alone starts from a random tail input.
            let mse = (&rec - &x)?.sqr()?.mean_all()?;
            let power = x.sqr()?.mean_all()?.affine(1.0, 1e-6)?;
            let loss = (candle_nn::loss::cross_entropy(&logits, &y)? + (mse / power)?)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()? as f64 * chunk.len() as f64;
            let pred = logits.argmax(1)?.to_vec1::<u32>()?;
            correct += pred.iter().zip(y.to_vec1::<u32>()?).filter(|(p, l)| **p == *l).count();
            step += 1;
            on_step(step, total);
        }
        let log = EpochLog {
            epoch,
            train_loss: loss_sum / n as f64,
            train_accuracy: correct as f64 / n as f64,
            val_accuracy: accuracy(&net, &tail_module, val)?,
            seconds: start.elapsed().as_secs_f64(),
        };
        on_epoch(&log);
        history.push(log);
    }
    let (encoder, decoder) = export(&net, config, train.shape)?;
    let tail = if config.train_tail { Some(tail_module.to_onnx()?) } else { None };
    Ok(TrainedBottleneck { encoder, decoder, tail, history })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exported encoder/decoder compute what the trained modules compute.
    #[test]
    fn export_matches_the_modules() {
        for decoder_layers in [1, 2] {
            let device = Device::Cpu;
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
            let cfg = Conv2dConfig { padding: 1, ..Default::default() };
            let net = Net {
                enc: candle_nn::conv2d(3, 2, 3, cfg, vb.pp("encoder")).unwrap(),
                dec: candle_nn::conv2d(2, 3, 3, cfg, vb.pp("decoder")).unwrap(),
                dec2: (decoder_layers == 2)
                    .then(|| candle_nn::conv2d(3, 3, 3, cfg, vb.pp("decoder2")).unwrap()),
                levels: 7.0,
                relu: true,
            };
            seeded(&varmap, 5).unwrap();
            let config = BottleneckConfig {
                channels: 2,
                bits: 3,
                kernel: 3,
                relu: true,
                decoder_layers,
                train_tail: false,
            };
            let (enc, dec) = export(&net, &config, [3, 5, 5]).unwrap();
            let x: Vec<f32> = (0..75).map(|i| (i % 11) as f32 / 5.0).collect();
            let xt = Tensor::from_vec(x.clone(), (1, 3, 5, 5), &device).unwrap();
            let code = net.code(&xt).unwrap();
            let want: Vec<f32> =
                net.decode(&code).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let run = |m: &ModelProto, v: Vec<f32>, dims: Vec<usize>| -> Vec<f32> {
                let g = Graph::analyse(m.clone()).unwrap();
                let om = OnnxModule::new(&g).unwrap();
                let t = Tensor::from_vec(v, dims, &device).unwrap();
                om.forward_t(&t, false).unwrap().flatten_all().unwrap().to_vec1().unwrap()
            };
            let c = run(&enc, x, vec![1, 3, 5, 5]);
            let q: Vec<f32> = c.iter().map(|v| (v * 7.0).round() / 7.0).collect();
            let got = run(&dec, q, vec![1, 2, 5, 5]);
            let close = coinfer_approx::Approximation::Close;
            if let Err(m) = coinfer_approx::compare_slices(&want, &got, close) {
                panic!("decoder_layers {decoder_layers}: {m}");
            }
        }
    }
}
