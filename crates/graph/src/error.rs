//! Errors of graph loading, analysis and surgery.

use std::path::PathBuf;

/// Everything that can go wrong while reading, analysing or cutting an ONNX graph.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// The file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// File involved.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX protobuf (truncated, garbage, or another format).
    #[error("{path} is not a valid ONNX model (protobuf decoding failed: {reason})")]
    Decode {
        /// File involved.
        path: PathBuf,
        /// Decoder message.
        reason: String,
    },
    /// The protobuf decoded but holds no graph, or a structurally broken one.
    #[error("invalid ONNX graph: {0}")]
    Invalid(String),
    /// A node uses an operator the inference engine does not implement.
    #[error("unsupported operator `{op}` (domain `{domain}`) in node `{node}`")]
    UnsupportedOp {
        /// ONNX op type, e.g. `NonMaxSuppression`.
        op: String,
        /// Operator domain (empty = default ONNX domain).
        domain: String,
        /// Name of the first node that uses it.
        node: String,
    },
    /// An input has symbolic dims besides the batch and no concrete shape was given.
    #[error(
        "input `{input}` is declared {declared}: its dims {symbolic} are symbolic, and costs, \
         feature sizes and cuts depend on them; give the shape to analyse it at with \
         --input-shape {example} (or `input_shape` in the config)"
    )]
    SymbolicInput {
        /// Input name.
        input: String,
        /// Its declared shape, symbolic dims by name.
        declared: String,
        /// The symbolic dims other than the batch, with their positions.
        symbolic: String,
        /// A `--input-shape` value with placeholders for the symbolic dims.
        example: String,
    },
    /// A user-given input shape is malformed or does not fit the model.
    #[error("input shape: {0}")]
    InputShape(String),
    /// A `Constant` node holds something coinfer cannot use as a tensor.
    #[error("Constant node `{node}`: {reason}")]
    BadConstant {
        /// Node name (`Constant_<index>` when the file leaves it empty).
        node: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// Shape inference failed.
    #[error("shape inference failed: {0}")]
    ShapeInference(String),
    /// The requested tensor is not a valid cut point.
    #[error("`{tensor}` is not a valid cut point: {reason}; nearest valid cuts: {nearest:?}")]
    NotACutPoint {
        /// The tensor (or index) the user asked for.
        tensor: String,
        /// Why it does not separate the graph.
        reason: String,
        /// Valid cut tensors nearest to it: in topological order for a tensor of the model, by
        /// edit distance of the name for a name the model does not have.
        nearest: Vec<String>,
    },
    /// A cut index beyond the cut list.
    #[error(
        "cut index {index} is out of range: the model has {count} valid cut points (0..{count})"
    )]
    CutIndexOutOfRange {
        /// Requested index.
        index: usize,
        /// Number of valid cuts.
        count: usize,
    },
}

/// Result alias of this crate.
pub type Result<T, E = GraphError> = std::result::Result<T, E>;
