//! Reading and writing ONNX model files.

use std::path::Path;

use prost::Message;

use crate::error::{GraphError, Result};
use crate::pb::ModelProto;

/// Largest model file accepted, in bytes (protobuf's own 2 GiB limit).
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// Reads and decodes an ONNX model file.
///
/// Errors: [`GraphError::Io`] if unreadable, [`GraphError::Decode`] if the bytes are not ONNX,
/// [`GraphError::Invalid`] if the model holds no graph or no nodes.
pub fn load_model(path: &Path) -> Result<ModelProto> {
    let io = |source| GraphError::Io { path: path.to_path_buf(), source };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_MODEL_BYTES {
        return Err(GraphError::Invalid(format!(
            "{} is {len} bytes, above the 2 GiB protobuf limit",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    decode_model(&bytes).map_err(|e| match e {
        GraphError::Decode { reason, .. } => {
            GraphError::Decode { path: path.to_path_buf(), reason }
        }
        other => other,
    })
}

/// Decodes an ONNX model from bytes and checks that it holds a non-empty graph.
pub fn decode_model(bytes: &[u8]) -> Result<ModelProto> {
    let model = ModelProto::decode(bytes)
        .map_err(|e| GraphError::Decode { path: "<bytes>".into(), reason: e.to_string() })?;
    match &model.graph {
        None => Err(GraphError::Decode {
            path: "<bytes>".into(),
            reason: "no graph in the protobuf message".into(),
        }),
        Some(g) if g.node.is_empty() => Err(GraphError::Invalid("the graph has no nodes".into())),
        Some(g) if g.output.is_empty() => {
            Err(GraphError::Invalid("the graph declares no outputs".into()))
        }
        Some(_) => Ok(model),
    }
}

/// Encodes and writes an ONNX model file.
pub fn save_model(model: &ModelProto, path: &Path) -> Result<()> {
    std::fs::write(path, model.encode_to_vec())
        .map_err(|source| GraphError::Io { path: path.to_path_buf(), source })
}
