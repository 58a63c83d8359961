//! Model distribution (seed 002's slow time scale): the edge publishes model versions and
//! serves the head of `K` layers of each as an ONNX file; a device downloads the head it
//! decides to place ([`crate::fetch`]) and checks it against what the edge advertised before
//! running it.
//!
//! Layers follow the layer table of the model (`coinfer_pipeline::layers`): layer `k` ends
//! at cut `k − 1`, the last layer (`N` = cuts + 1) ends at the model's outputs. The head of
//! `K < N` layers is the model split at cut `K − 1`; the head of `N` layers is the model
//! file itself.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use coinfer_graph::pb::ModelProto;
use coinfer_graph::{Graph, InputShape, InputShapes, INPUT_SHAPE_KEY};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::error::{Result, RuntimeError};
use crate::models::{input_shape, ModelEntry, ModelId};
use crate::proto::{HeadInfo, VersionInfo};

/// A head as the edge serves it: the file's bytes and what a device checks them against.
#[derive(Debug, Clone)]
pub struct HeadFile {
    /// Its description (layers, size, SHA-256, output shape, MACs).
    pub info: HeadInfo,
    /// The ONNX file.
    pub bytes: Arc<Vec<u8>>,
}

/// Name a device stores the head of `layers` layers of `version` under (`<version>.k<K>`),
/// beside the versions in `<dir>/<model>/`.
pub fn placed_version(version: &str, layers: usize) -> String {
    format!("{version}.k{layers}")
}

/// The layers of a placed head's name (`w050.k3` → 3); `None` for a version's own name.
pub fn placed_layers(name: &str) -> Option<usize> {
    let (_, k) = name.rsplit_once(".k")?;
    k.parse().ok()
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Shape without the batch dimension, as the wire carries it.
fn sample_shape(shape: &[usize]) -> Vec<u32> {
    shape.iter().skip(1).map(|&d| d as u32).collect()
}

/// Shape of the graph's first output at batch 1 (empty if unknown).
fn output_shape(g: &Graph) -> Vec<usize> {
    g.outputs.first().and_then(|n| g.tensor(n)).and_then(|t| t.shape.clone()).unwrap_or_default()
}

/// Builds the head of `layers` layers of the analysed model `entry` (`path` is its file,
/// served as is for the whole model).
pub fn build_head(
    id: &ModelId,
    entry: &ModelEntry,
    path: &Path,
    layers: usize,
) -> Result<HeadFile> {
    let n = entry.cuts.len() + 1;
    if layers == 0 || layers > n {
        return Err(RuntimeError::NotFound(format!(
            "model `{id}` has {n} layers: a head has 1..={n}, not {layers}"
        )));
    }
    let (bytes, shape, macs) = if layers == n {
        let bytes = std::fs::read(path)
            .map_err(|e| RuntimeError::io(format!("reading {}", path.display()), e))?;
        (bytes, output_shape(&entry.graph), entry.graph.total_macs())
    } else {
        let cut = &entry.cuts[layers - 1];
        let head = entry.graph.split(cut)?.head;
        (head.encode_to_vec(), cut.shape.clone(), cut.head_macs)
    };
    let info = HeadInfo {
        layers: layers as u32,
        bytes: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
        output_shape: sample_shape(&shape),
        macs,
    };
    Ok(HeadFile { info, bytes: Arc::new(bytes) })
}

/// A version's description from its heads (`heads[k − 1]` places `k` layers).
pub fn version_info(version: &str, entry: &ModelEntry, heads: &[Arc<HeadFile>]) -> VersionInfo {
    VersionInfo {
        version: version.to_string(),
        layers: (entry.cuts.len() + 1) as u32,
        input_shape: sample_shape(&input_shape(&entry.graph)),
        macs: entry.graph.total_macs(),
        heads: heads.iter().map(|h| h.info.clone()).collect(),
    }
}

/// Checks a downloaded head against its advertised description and the version it belongs
/// to: size, SHA-256, that it is ONNX, that it takes the version's input and that its output
/// is the feature the edge's tail expects (the model's output for the whole model). Returns
/// the decoded model. Nothing is written; a failure names what differs.
pub fn verify_head(bytes: &[u8], info: &HeadInfo, version: &VersionInfo) -> Result<ModelProto> {
    let what = format!("head of {} layers of version `{}`", info.layers, version.version);
    let bad = |why: String| RuntimeError::Invalid(format!("{what}: {why}; refused"));
    if bytes.len() as u64 != info.bytes {
        return Err(bad(format!(
            "{} bytes received, {} advertised (truncated or padded download)",
            bytes.len(),
            info.bytes
        )));
    }
    let sum = sha256_hex(bytes);
    if sum != info.sha256 {
        return Err(bad(format!("SHA-256 {sum} differs from the advertised {}", info.sha256)));
    }
    let proto = coinfer_graph::decode_model(bytes).map_err(|e| bad(e.to_string()))?;
    // A head carries the input shapes it was split at; a whole model may need none.
    let shapes = proto
        .metadata_props
        .iter()
        .find(|e| e.key == INPUT_SHAPE_KEY)
        .map(|e| {
            let specs: std::result::Result<Vec<InputShape>, _> =
                e.value.split_whitespace().map(InputShape::from_str).collect();
            specs.map_err(|e| bad(format!("{INPUT_SHAPE_KEY}: {e}"))).and_then(|s| {
                InputShapes::from_specs(&s).map_err(|e| bad(format!("{INPUT_SHAPE_KEY}: {e}")))
            })
        })
        .transpose()?
        .unwrap_or_default();
    let g = Graph::analyse_with(proto.clone(), &shapes).map_err(|e| bad(e.to_string()))?;
    let input = sample_shape(&input_shape(&g));
    if !version.input_shape.is_empty() && input != version.input_shape {
        return Err(bad(format!(
            "it takes input {input:?}, the version takes {:?}",
            version.input_shape
        )));
    }
    let output = sample_shape(&output_shape(&g));
    if output != info.output_shape {
        return Err(bad(format!(
            "its output {output:?} does not match the edge's tail, which takes {:?}",
            info.output_shape
        )));
    }
    // Its layers are the version's first K: K − 1 cuts inside it, the last at its output.
    let cuts = g.cut_points().len();
    if cuts + 1 != info.layers as usize {
        return Err(bad(format!("it has {} layers, not {}", cuts + 1, info.layers)));
    }
    Ok(proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placed_names_round_trip() {
        assert_eq!(placed_layers(&placed_version("w050", 3)), Some(3));
        assert_eq!(placed_layers("w050"), None);
        assert_eq!(placed_layers("v1.kx"), None);
    }

    #[test]
    fn sha256_of_known_text() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
