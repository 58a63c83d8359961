//! # coinfer-train
//!
//! Training with candle: the default model ([`ResNet`], a small residual CNN for Fashion-MNIST),
//! its training loop ([`train`], [`fit`]) and ONNX export ([`to_onnx`]), and fine-tuning of any
//! ONNX model through a trainable interpreter ([`OnnxModule`]).

pub use bottleneck::{train_bottleneck, BottleneckConfig, CutFeatures, TrainedBottleneck};
pub use error::{Result, TrainError};
pub use export::to_onnx;
pub use onnx_module::{OnnxModule, SUPPORTED_OPS};
pub use resnet::{ResNet, ResNetConfig};
pub use trainer::{evaluate, fit, train, EpochLog, FitConfig, TrainConfig, Trained};

mod bottleneck;
mod error;
mod export;
mod onnx_module;
mod resnet;
mod trainer;
