//! The one codec interface: tensor → bytes, bytes → tensor.

use crate::codec::{Codec, Feature};
use crate::frame::{DecodeLimits, FrameError};

/// Why a codec failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The frame was rejected.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A learned codec's network failed (engine error, wrong feature shape...).
    #[error("codec model: {0}")]
    Model(String),
}

/// A feature codec: encodes a feature into a complete frame and decodes frames back.
/// Implemented by [`Codec`] (quantizers and entropy coders) and by learned codecs that run an
/// encoder network before and a decoder network after one (`coinfer_engine::LearnedCodec`).
pub trait FeatureCodec: Send + Sync {
    /// Short name for tables and logs.
    fn name(&self) -> String;
    /// Encodes one feature into a frame.
    fn encode(&self, x: &Feature) -> Result<Vec<u8>, CodecError>;
    /// Decodes a frame, within `limits`.
    fn decode(&self, frame: &[u8], limits: &DecodeLimits) -> Result<Feature, CodecError>;
}

impl FeatureCodec for Codec {
    fn name(&self) -> String {
        match self {
            Codec::RawF32 => "raw-f32".into(),
            Codec::RawF16 => "raw-f16".into(),
            Codec::Uniform { bits, .. } => format!("uniform-{bits}b"),
            Codec::UniformAns { bits, .. } => format!("uniform-ans-{bits}b"),
            Codec::UniformAnsStatic { bits, .. } => format!("uniform-ans-static-{bits}b"),
        }
    }

    fn encode(&self, x: &Feature) -> Result<Vec<u8>, CodecError> {
        Ok(Codec::encode(self, x))
    }

    fn decode(&self, frame: &[u8], limits: &DecodeLimits) -> Result<Feature, CodecError> {
        Ok(Codec::decode(self, frame, limits)?)
    }
}
