//! # coinfer-graph
//!
//! ONNX models as graphs a split-computing system can reason about:
//! load ([`load_model`]), analyse ([`Graph::analyse`]: `Constant` weights made initializers,
//! topological order, per-tensor shapes at batch size 1 and the user's [`InputShapes`] for
//! symbolic dims, per-node MACs and bytes), find the valid cut points ([`Graph::cut_points`]:
//! single-tensor separators of the DAG) and cut the model into a device head and an edge tail
//! ([`Graph::split`]), each a standalone ONNX model.
//!
//! ```no_run
//! let graph = coinfer_graph::Graph::load("models/fmnist-resnet.onnx".as_ref())?;
//! for cut in graph.cut_points() {
//!     println!("{} {:?} {} bytes", cut.tensor, cut.shape, cut.feature_bytes);
//! }
//! let part = graph.split(&graph.find_cut("3")?)?;
//! coinfer_graph::save_model(&part.head, "head.onnx".as_ref())?;
//! # Ok::<(), coinfer_graph::GraphError>(())
//! ```

pub use analysis::{ElemType, Graph, NodeInfo, TensorInfo, TensorKind, MAX_TENSOR_BYTES};
pub use compose::compose;
pub use cost::node_macs;
pub use cuts::CutPoint;
pub use error::{GraphError, Result};
pub use io::{decode_model, load_model, save_model, MAX_MODEL_BYTES};
pub use shapes::{InputShape, InputShapes};
pub use surgery::{Partition, INPUT_SHAPE_KEY};
/// The ONNX protobuf types (prost-generated; shared with tract).
pub use tract_onnx::pb;

pub mod builder;
pub mod initializer;

mod analysis;
mod compose;
mod constants;
mod cost;
mod cuts;
mod error;
mod io;
mod rank_check;
mod resize_fix;
mod shapes;
mod surgery;
