//! # coinfer-train
//!
//! Training with candle. For now: the default model ([`ResNet`], a small residual CNN for
//! Fashion-MNIST), its training loop ([`train`]) and its ONNX export ([`to_onnx`]).

pub use error::{Result, TrainError};
pub use export::to_onnx;
pub use resnet::{ResNet, ResNetConfig};
pub use trainer::{evaluate, train, EpochLog, TrainConfig, Trained};

mod error;
mod export;
mod resnet;
mod trainer;
