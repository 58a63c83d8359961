//! The default model: a small residual CNN for 28×28 grey images, as a candle module.
//!
//! Layout (widths `w = [w0, w1, w2]`):
//! `stem: conv3×3/s(1→w0) BN ReLU` → for each stage `i`: (`i > 0`: `conv3×3/2(w_{i-1}→w_i) BN ReLU`),
//! then `blocks` residual blocks `x + BN(conv(ReLU(BN(conv(x)))))` → ReLU`;
//! → global average pool → `fc(w2→hidden)` ReLU → `fc(hidden→classes)`.
//! The identity skips make the DAG non-trivial: no cut lies inside a block.

use candle_core::{Module, ModuleT, Result, Tensor};
use candle_nn::{batch_norm, conv2d, linear, BatchNorm, Conv2d, Conv2dConfig, Linear, VarBuilder};

/// Shape of the default model family.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResNetConfig {
    /// Input channels (1 for grey images).
    pub in_channels: usize,
    /// Stride of the stem convolution (2 halves the resolution right away).
    pub stem_stride: usize,
    /// Channel width of each stage; stages after the first halve the resolution.
    pub widths: Vec<usize>,
    /// Residual blocks per stage.
    pub blocks: usize,
    /// Width of the hidden fully connected layer.
    pub hidden: usize,
    /// Number of classes.
    pub classes: usize,
}

impl Default for ResNetConfig {
    fn default() -> Self {
        ResNetConfig {
            in_channels: 1,
            stem_stride: 2,
            widths: vec![16, 32, 48],
            blocks: 1,
            hidden: 64,
            classes: 10,
        }
    }
}

/// Conv + BatchNorm (+ ReLU when used so).
#[derive(Debug, Clone)]
pub struct ConvBn {
    /// The convolution (with bias).
    pub conv: Conv2d,
    /// Its batch normalisation.
    pub bn: BatchNorm,
    /// Stride of the convolution.
    pub stride: usize,
}

impl ConvBn {
    fn new(cin: usize, cout: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let cfg = Conv2dConfig { padding: 1, stride, ..Default::default() };
        Ok(ConvBn {
            conv: conv2d(cin, cout, 3, cfg, vb.pp("conv"))?,
            bn: batch_norm(cout, 1e-5, vb.pp("bn"))?,
            stride,
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_t(&self.conv.forward(x)?, train)
    }
}

/// One residual block: `relu(x + bn2(conv2(relu(bn1(conv1(x))))))`.
#[derive(Debug, Clone)]
pub struct Block {
    /// First conv + BN.
    pub a: ConvBn,
    /// Second conv + BN.
    pub b: ConvBn,
}

/// One stage: optional downsampling conv, then residual blocks.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Stride-2 conv + BN + ReLU (absent in the first stage).
    pub down: Option<ConvBn>,
    /// Residual blocks.
    pub blocks: Vec<Block>,
}

/// The default model as a trainable candle module.
#[derive(Debug, Clone)]
pub struct ResNet {
    /// Its shape.
    pub config: ResNetConfig,
    /// Stem conv + BN + ReLU.
    pub stem: ConvBn,
    /// Stages.
    pub stages: Vec<Stage>,
    /// Hidden FC layer.
    pub fc1: Linear,
    /// Classifier.
    pub fc2: Linear,
}

impl ResNet {
    /// Builds the model with variables from `vb` (fresh ones for a `VarMap`).
    pub fn new(config: &ResNetConfig, vb: VarBuilder) -> Result<Self> {
        let w = &config.widths;
        if w.is_empty() {
            candle_core::bail!("the model needs at least one stage width");
        }
        let stem = ConvBn::new(config.in_channels, w[0], config.stem_stride, vb.pp("stem"))?;
        let mut stages = Vec::new();
        for (i, &width) in w.iter().enumerate() {
            let vs = vb.pp(format!("stage{i}"));
            let down =
                if i == 0 { None } else { Some(ConvBn::new(w[i - 1], width, 2, vs.pp("down"))?) };
            let blocks = (0..config.blocks)
                .map(|j| {
                    let vbk = vs.pp(format!("block{j}"));
                    Ok(Block {
                        a: ConvBn::new(width, width, 1, vbk.pp("a"))?,
                        b: ConvBn::new(width, width, 1, vbk.pp("b"))?,
                    })
                })
                .collect::<Result<_>>()?;
            stages.push(Stage { down, blocks });
        }
        let last = w[w.len() - 1];
        Ok(ResNet {
            config: config.clone(),
            stem,
            stages,
            fc1: linear(last, config.hidden, vb.pp("fc1"))?,
            fc2: linear(config.hidden, config.classes, vb.pp("fc2"))?,
        })
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = self.stem.forward_t(x, train)?.relu()?;
        for stage in &self.stages {
            if let Some(down) = &stage.down {
                x = down.forward_t(&x, train)?.relu()?;
            }
            for block in &stage.blocks {
                let y = block.a.forward_t(&x, train)?.relu()?;
                let y = block.b.forward_t(&y, train)?;
                x = (x + y)?.relu()?;
            }
        }
        let x = x.mean_keepdim(3)?.mean_keepdim(2)?.flatten_from(1)?;
        let x = self.fc1.forward(&x)?.relu()?;
        self.fc2.forward(&x)
    }
}
