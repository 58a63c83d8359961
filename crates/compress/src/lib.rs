//! # coinfer-compress
//!
//! Intermediate-feature codecs for the device→edge link. Every codec writes the same
//! self-describing, versioned [frame] (shape, element type, codec and its parameters,
//! CRC-32), so the edge decodes any frame with [`decode_frame`] without knowing the codec in
//! advance, and never allocates more than [`DecodeLimits`] allow.
//!
//! Codecs: [`Codec::RawF32`] (lossless), [`Codec::RawF16`], [`Codec::Uniform`] (1–16-bit
//! uniform quantization with per-tensor or per-channel ranges calibrated on data) and
//! [`Codec::UniformAns`] (the same symbols, range-ANS coded with `constriction`), and
//! [`Codec::UniformAnsStatic`] (entropy model calibrated once, agreed out of band). All of them,
//! and learned codecs, sit behind the [`FeatureCodec`] trait.
//!
//! ```
//! use coinfer_compress::{decode_frame, Codec, DecodeLimits, Feature};
//! let x = Feature::new(vec![1, 2, 2], vec![0.0, 0.5, -1.0, 2.0]).unwrap();
//! let frame = Codec::RawF32.encode(&x);
//! assert_eq!(decode_frame(&frame, &DecodeLimits::default()).unwrap(), x);
//! ```

pub use codec::{Codec, EntropyModel, Feature, QuantRange, SessionEntropy};
pub use feature_codec::{CodecError, FeatureCodec};
pub use frame::{decode_frame, DecodeLimits, FrameError, FRAME_MAGIC, FRAME_VERSION};

mod codec;
mod entropy;
mod feature_codec;
pub mod frame;
