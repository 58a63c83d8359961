//! A learned feature codec (BottleNet++-style): an encoder network maps the cut feature to a
//! small code in `[0, 1]`, a [`Codec`] quantizes and entropy codes it, and a decoder network
//! maps the decoded code back to the feature the tail expects.

use std::path::Path;
use std::sync::Arc;

use coinfer_compress::{Codec, CodecError, DecodeLimits, Feature, FeatureCodec};

use crate::eval::first_output;
use crate::{Engine, Runnable, Tensor};

/// Encoder network + code codec + decoder network, behind [`FeatureCodec`].
pub struct LearnedCodec {
    name: String,
    encoder: Arc<dyn Runnable>,
    decoder: Arc<dyn Runnable>,
    code: Codec,
}

fn model_err(e: impl std::fmt::Display) -> CodecError {
    CodecError::Model(e.to_string())
}

impl LearnedCodec {
    /// Loads `encoder.onnx`, `decoder.onnx` and `codec.json` from a directory written by
    /// `coinfer codec bottleneck`, prepared on `engine`.
    pub fn load(dir: &Path, engine: &dyn Engine) -> Result<LearnedCodec, CodecError> {
        let model = |f: &str| -> Result<Arc<dyn Runnable>, CodecError> {
            let proto = coinfer_graph::load_model(&dir.join(f)).map_err(model_err)?;
            engine.prepare(&proto).map_err(model_err)
        };
        let text = std::fs::read_to_string(dir.join("codec.json"))
            .map_err(|e| model_err(format!("{}/codec.json: {e}", dir.display())))?;
        let code: Codec = serde_json::from_str(&text).map_err(model_err)?;
        let name = dir.file_name().map_or("learned".into(), |n| n.to_string_lossy().to_string());
        Ok(LearnedCodec {
            name: format!("bottleneck-{name}"),
            encoder: model("encoder.onnx")?,
            decoder: model("decoder.onnx")?,
            code,
        })
    }

    fn run(net: &dyn Runnable, x: &Feature) -> Result<Feature, CodecError> {
        let t = Tensor::from_shape_vec(x.shape.clone(), x.values.clone()).map_err(model_err)?;
        let y = first_output(net.run(&[t]).map_err(model_err)?).map_err(model_err)?;
        Ok(Feature { shape: y.shape().to_vec(), values: y.iter().copied().collect() })
    }
}

impl FeatureCodec for LearnedCodec {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn encode(&self, x: &Feature) -> Result<Vec<u8>, CodecError> {
        Ok(self.code.encode(&Self::run(self.encoder.as_ref(), x)?))
    }

    fn decode(&self, frame: &[u8], limits: &DecodeLimits) -> Result<Feature, CodecError> {
        let code = self.code.decode(frame, limits)?;
        Self::run(self.decoder.as_ref(), &code)
    }
}
