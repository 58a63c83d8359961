//! `Constant` nodes become initializers at import.
//!
//! paddle2onnx and older PyTorch/TensorFlow converters store every weight, bias and batch-norm
//! statistic as a `Constant` node and write no initializer. Parameter counts, channel groups,
//! pruning and surgery all read initializers, so the graph is normalised once, on analysis:
//! every top-level `Constant` holding a dense numeric tensor is removed and its value stored as
//! an initializer of the same name. The computation is unchanged.

use crate::error::{GraphError, Result};
use crate::pb::{self, attribute_proto::AttributeType, tensor_proto::DataType};

/// Converts every top-level `Constant` node into an initializer; returns how many it converted.
///
/// A `Constant` whose output is a graph output stays a node (an initializer cannot be one in
/// every runtime). Models of IR version < 4 also list the new initializers as graph inputs, as
/// that IR requires.
///
/// Errors name the node: a `Constant` with no value, with a sparse or string value, with
/// external data, or whose tensor holds a number of values its dims do not allow.
pub(crate) fn constants_to_initializers(model: &mut pb::ModelProto) -> Result<usize> {
    let ir_version = model.ir_version;
    let Some(g) = model.graph.as_mut() else { return Ok(0) };
    let outputs: Vec<String> = g.output.iter().map(|o| o.name.clone()).collect();
    let mut kept = Vec::with_capacity(g.node.len());
    let mut converted = 0;
    for (i, node) in std::mem::take(&mut g.node).into_iter().enumerate() {
        let is_constant = node.op_type == "Constant"
            && (node.domain.is_empty() || node.domain == "ai.onnx")
            && node.output.len() == 1
            && !outputs.contains(&node.output[0]);
        if !is_constant {
            kept.push(node);
            continue;
        }
        let name = if node.name.is_empty() { format!("Constant_{i}") } else { node.name.clone() };
        let mut tensor = constant_value(&node, &name)?;
        tensor.name = node.output[0].clone();
        check_tensor(&tensor, &name)?;
        if ir_version < 4 {
            g.input.push(value_info_of(&tensor));
        }
        g.initializer.push(tensor);
        converted += 1;
    }
    g.node = kept;
    if converted > 0 {
        tracing::debug!("{converted} Constant nodes became initializers");
    }
    Ok(converted)
}

/// The tensor a `Constant` node holds, from whichever of its value attributes is set.
fn constant_value(node: &pb::NodeProto, name: &str) -> Result<pb::TensorProto> {
    let bad = |reason: String| GraphError::BadConstant { node: name.to_string(), reason };
    let attr = match node.attribute.as_slice() {
        [a] => a,
        [] => return Err(bad("it has no value attribute".into())),
        more => {
            return Err(bad(format!(
                "it has {} attributes; a Constant holds exactly one value",
                more.len()
            )))
        }
    };
    let scalar = |data_type: DataType, dims: Vec<i64>| pb::TensorProto {
        data_type: data_type as i32,
        dims,
        ..Default::default()
    };
    Ok(match attr.name.as_str() {
        "value" => match &attr.t {
            Some(t) => t.clone(),
            None => return Err(bad("its `value` attribute holds no tensor".into())),
        },
        "value_float" => {
            pb::TensorProto { float_data: vec![attr.f], ..scalar(DataType::Float, vec![]) }
        }
        "value_floats" => pb::TensorProto {
            float_data: attr.floats.clone(),
            ..scalar(DataType::Float, vec![attr.floats.len() as i64])
        },
        "value_int" => {
            pb::TensorProto { int64_data: vec![attr.i], ..scalar(DataType::Int64, vec![]) }
        }
        "value_ints" => pb::TensorProto {
            int64_data: attr.ints.clone(),
            ..scalar(DataType::Int64, vec![attr.ints.len() as i64])
        },
        "sparse_value" => {
            return Err(bad("it holds a sparse tensor; coinfer reads dense tensors only".into()))
        }
        "value_string" | "value_strings" => {
            return Err(bad("it holds strings, not a numeric tensor".into()))
        }
        other => {
            let kind = AttributeType::try_from(attr.r#type).map_or("unknown", |t| t.as_str_name());
            return Err(bad(format!("`{other}` ({kind}) is not a Constant value attribute")));
        }
    })
}

/// Size in bytes of one element of an ONNX data type, for the numeric types a weight can have.
fn elem_bytes(data_type: i32) -> Option<usize> {
    let bytes = crate::analysis::ElemType::from_onnx(data_type).bytes;
    (bytes > 0).then_some(bytes)
}

/// Checks that a tensor's stored values fit its dims and type.
fn check_tensor(t: &pb::TensorProto, name: &str) -> Result<()> {
    let bad = |reason: String| GraphError::BadConstant { node: name.to_string(), reason };
    if t.data_type == DataType::String as i32 {
        return Err(bad("it holds strings, not a numeric tensor".into()));
    }
    let size = elem_bytes(t.data_type)
        .ok_or_else(|| bad(format!("its tensor has unsupported data type {}", t.data_type)))?;
    if !t.external_data.is_empty() {
        return Err(bad("its tensor uses external data, which coinfer does not read".into()));
    }
    if let Some(d) = t.dims.iter().find(|&&d| d < 0) {
        return Err(bad(format!("its tensor has a negative dim {d}")));
    }
    let count: usize = t.dims.iter().map(|&d| d as usize).product();
    let stored = if !t.raw_data.is_empty() {
        if !t.raw_data.len().is_multiple_of(size) {
            return Err(bad(format!(
                "its tensor has {} raw bytes, not a multiple of the {size}-byte element",
                t.raw_data.len()
            )));
        }
        t.raw_data.len() / size
    } else {
        t.float_data.len()
            + t.int32_data.len()
            + t.int64_data.len()
            + t.double_data.len()
            + t.uint64_data.len()
    };
    if stored != count {
        return Err(bad(format!("its tensor holds {stored} values for dims {:?}", t.dims)));
    }
    Ok(())
}

/// A value info declaring a tensor's type and shape (for IR < 4 input lists).
fn value_info_of(t: &pb::TensorProto) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = t
        .dims
        .iter()
        .map(|&d| Dimension { denotation: String::new(), value: Some(Value::DimValue(d)) })
        .collect();
    pb::ValueInfoProto {
        name: t.name.clone(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: t.data_type,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
        }),
        ..Default::default()
    }
}
