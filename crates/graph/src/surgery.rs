//! Head/tail surgery: two standalone ONNX models whose composition equals the original.

use std::collections::HashSet;

use crate::analysis::{declared_type, Graph, TensorKind};
use crate::cuts::CutPoint;
use crate::error::{GraphError, Result};
use crate::pb::{self, ModelProto};

/// Metadata key of head and tail files: the full model's input shapes the split was analysed
/// at (`NAME:D0,D1,…`, space separated; a symbolic batch dim shown as 1).
pub const INPUT_SHAPE_KEY: &str = "coinfer.input_shape";

/// A model split at one cut: `tail(head(x)) == full(x)` up to floating-point reassociation.
#[derive(Debug, Clone)]
pub struct Partition {
    /// The cut it was made at.
    pub cut: CutPoint,
    /// Device side: the original inputs → the cut tensor.
    pub head: ModelProto,
    /// Edge side: the cut tensor → the original outputs.
    pub tail: ModelProto,
}

impl Graph {
    /// Splits the model at `cut` (which must come from [`Graph::cut_points`] or [`Graph::find_cut`]).
    pub fn split(&self, cut: &CutPoint) -> Result<Partition> {
        let producer = self
            .tensors
            .get(&cut.tensor)
            .and_then(|t| t.producer)
            .ok_or_else(|| GraphError::Invalid(format!("`{}` has no producer", cut.tensor)))?;
        let head = self.head_set(producer);
        let head_nodes: Vec<usize> = (0..self.nodes.len()).filter(|&i| head[i]).collect();
        let tail_nodes: Vec<usize> =
            (0..self.nodes.len()).filter(|&i| !head[i] && !self.nodes[i].is_constant).collect();
        let cut_vi = self.cut_value_info(&cut.tensor)?;
        let g = self.graph_proto()?;
        let head_inputs: Vec<pb::ValueInfoProto> =
            g.input.iter().filter(|vi| self.inputs.contains(&vi.name)).cloned().collect();
        let head_model = self.sub_model(&head_nodes, head_inputs, vec![cut_vi.clone()], "head")?;
        let tail_model = self.sub_model(&tail_nodes, vec![cut_vi], g.output.clone(), "tail")?;
        Ok(Partition { cut: cut.clone(), head: head_model, tail: tail_model })
    }

    fn graph_proto(&self) -> Result<&pb::GraphProto> {
        self.proto.graph.as_ref().ok_or_else(|| GraphError::Invalid("no graph".into()))
    }

    /// Value info of the cut tensor: inferred shape, with the batch dimension copied from the
    /// model's first input (symbolic batch stays symbolic).
    fn cut_value_info(&self, tensor: &str) -> Result<pb::ValueInfoProto> {
        use pb::tensor_shape_proto::{dimension::Value, Dimension};
        let info = &self.tensors[tensor];
        let shape = info.shape.as_ref().ok_or_else(|| {
            GraphError::ShapeInference(format!("the shape of `{tensor}` is unknown"))
        })?;
        let g = self.graph_proto()?;
        let batch_dim =
            g.input.iter().find(|vi| vi.name == self.inputs[0]).and_then(|vi| {
                match vi.r#type.as_ref()?.value.as_ref()? {
                    pb::type_proto::Value::TensorType(t) => t.shape.as_ref()?.dim.first().cloned(),
                }
            });
        let dims = shape
            .iter()
            .enumerate()
            .map(|(i, &d)| match (&batch_dim, i) {
                (Some(b), 0) if d == 1 => b.clone(),
                _ => {
                    Dimension { denotation: String::new(), value: Some(Value::DimValue(d as i64)) }
                }
            })
            .collect();
        Ok(pb::ValueInfoProto {
            name: tensor.to_string(),
            r#type: Some(pb::TypeProto {
                denotation: String::new(),
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: info.elem.onnx_code,
                    shape: Some(pb::TensorShapeProto { dim: dims }),
                })),
            }),
            ..Default::default()
        })
    }

    /// A standalone model made of `nodes` (topological indices) plus the constant nodes they need.
    fn sub_model(
        &self,
        nodes: &[usize],
        inputs: Vec<pb::ValueInfoProto>,
        outputs: Vec<pb::ValueInfoProto>,
        suffix: &str,
    ) -> Result<ModelProto> {
        let g = self.graph_proto()?;
        // Close over the constant nodes the selected nodes read.
        let mut keep = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = nodes.to_vec();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut keep[i], true) {
                continue;
            }
            for x in &self.nodes[i].inputs {
                if let Some(t) = self.tensors.get(x) {
                    if t.kind == TensorKind::Constant {
                        if let Some(p) = t.producer {
                            stack.push(p);
                        }
                    }
                }
            }
        }
        let kept: Vec<&pb::NodeProto> = (0..self.nodes.len())
            .filter(|&i| keep[i])
            .map(|i| &g.node[self.nodes[i].proto_index])
            .collect();
        let read: HashSet<&str> =
            kept.iter().flat_map(|n| n.input.iter().map(String::as_str)).collect();
        let written: HashSet<&str> =
            kept.iter().flat_map(|n| n.output.iter().map(String::as_str)).collect();
        let initializer: Vec<pb::TensorProto> =
            g.initializer.iter().filter(|t| read.contains(t.name.as_str())).cloned().collect();
        let mut all_inputs = inputs;
        // Old-style models list initializers among the inputs: keep those this side reads.
        all_inputs.extend(
            g.input
                .iter()
                .filter(|vi| {
                    !self.inputs.contains(&vi.name) && initializer.iter().any(|t| t.name == vi.name)
                })
                .cloned(),
        );
        let value_info = g
            .value_info
            .iter()
            .filter(|vi| written.contains(vi.name.as_str()))
            .filter(|vi| declared_type(vi).0 != 0)
            .cloned()
            .collect();
        let graph = pb::GraphProto {
            node: kept.into_iter().cloned().collect(),
            name: format!("{}_{suffix}", g.name),
            initializer,
            input: all_inputs,
            output: outputs,
            value_info,
            ..Default::default()
        };
        Ok(ModelProto {
            graph: Some(graph),
            metadata_props: vec![pb::StringStringEntryProto {
                key: INPUT_SHAPE_KEY.into(),
                value: self.input_shapes.to_string(),
            }],
            producer_name: "coinfer".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            ..self.proto_without_graph()
        })
    }

    fn proto_without_graph(&self) -> ModelProto {
        ModelProto {
            ir_version: self.proto.ir_version,
            opset_import: self.proto.opset_import.clone(),
            domain: self.proto.domain.clone(),
            model_version: self.proto.model_version,
            ..Default::default()
        }
    }
}
