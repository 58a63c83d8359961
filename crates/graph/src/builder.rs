//! A small builder for writing ONNX models (used to export trained models and in tests).

use crate::pb::{self, attribute_proto::AttributeType, ModelProto};

/// ONNX opset the builder declares (covers every op coinfer writes).
pub const OPSET: i64 = 13;
/// ONNX IR version the builder declares (IR 7 pairs with opset 13).
pub const IR_VERSION: i64 = 7;

/// Builds a single-graph ONNX model node by node; node and tensor names are generated as
/// `<op>_<n>` unless given.
#[derive(Debug, Default)]
pub struct ModelBuilder {
    graph: pb::GraphProto,
    counter: usize,
}

/// A dimension of a declared input or output: fixed, or symbolic (`None`, named `batch`).
pub type Dim = Option<usize>;

fn value_info(name: &str, elem_type: i32, dims: &[Dim]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            denotation: String::new(),
            value: Some(match d {
                Some(n) => Value::DimValue(*n as i64),
                None => Value::DimParam("batch".into()),
            }),
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
        }),
        ..Default::default()
    }
}

impl ModelBuilder {
    /// An empty model whose graph is called `name`.
    pub fn new(name: &str) -> Self {
        ModelBuilder {
            graph: pb::GraphProto { name: name.into(), ..Default::default() },
            counter: 0,
        }
    }

    /// Declares a float32 graph input and returns its name.
    pub fn input(&mut self, name: &str, dims: &[Dim]) -> String {
        self.graph.input.push(value_info(name, 1, dims));
        name.into()
    }

    /// Declares a float32 graph output (an existing tensor).
    pub fn output(&mut self, name: &str, dims: &[Dim]) {
        self.graph.output.push(value_info(name, 1, dims));
    }

    /// Adds a float32 initializer (row-major `data` of shape `dims`) and returns its name.
    pub fn weight(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        self.graph.initializer.push(pb::TensorProto {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: 1,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.into()
    }

    /// Adds an int64 initializer and returns its name.
    pub fn weight_i64(&mut self, name: &str, data: &[i64]) -> String {
        self.graph.initializer.push(pb::TensorProto {
            name: name.into(),
            dims: vec![data.len() as i64],
            data_type: 7,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.into()
    }

    /// Adds a node with one output and returns the output's name (`<op>_<n>`).
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> String {
        let name = format!("{}_{}", op.to_lowercase(), self.counter);
        self.counter += 1;
        self.named_node(&name, op, inputs, attrs)
    }

    /// Adds a node whose name and single output are `name`.
    pub fn named_node(
        &mut self,
        name: &str,
        op: &str,
        inputs: &[&str],
        attribute: Vec<pb::AttributeProto>,
    ) -> String {
        self.graph.node.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.into()],
            name: name.into(),
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        name.into()
    }

    /// The finished model (opset [`OPSET`], IR [`IR_VERSION`]).
    pub fn build(self) -> ModelProto {
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: OPSET }],
            producer_name: "coinfer".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(self.graph),
            ..Default::default()
        }
    }
}

/// An integer-list attribute (`kernel_shape`, `strides`, `pads`, ...).
pub fn attr_ints(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// An integer attribute (`group`, `axis`, ...).
pub fn attr_int(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

/// A float attribute (`epsilon`, `alpha`, ...).
pub fn attr_float(name: &str, value: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: value,
        ..Default::default()
    }
}
