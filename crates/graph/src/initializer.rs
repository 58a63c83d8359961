//! Float32 initializers: read the values of an ONNX `TensorProto` and write new ones, plus the
//! node-attribute lookups that graph rewrites need.

use crate::error::{GraphError, Result};
use crate::pb;

/// ONNX `TensorProto.DataType` code of float32.
pub const FLOAT: i32 = 1;
/// ONNX `TensorProto.DataType` code of int64.
pub const INT64: i32 = 7;

/// Dimensions of an initializer (negative dims, which ONNX forbids, are rejected).
pub fn dims(t: &pb::TensorProto) -> Result<Vec<usize>> {
    t.dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                GraphError::Invalid(format!("initializer `{}` has a negative dim {d}", t.name))
            })
        })
        .collect()
}

fn count_matches(t: &pb::TensorProto, n: usize) -> Result<usize> {
    let expected: usize = dims(t)?.iter().product();
    if expected != n {
        return Err(GraphError::Invalid(format!(
            "initializer `{}` holds {n} values for dims {:?} ({expected} expected)",
            t.name, t.dims
        )));
    }
    Ok(n)
}

/// The values of a float32 initializer (from `raw_data` or `float_data`).
///
/// Errors: another data type, external data, or a value count that does not match the dims.
pub fn read_f32(t: &pb::TensorProto) -> Result<Vec<f32>> {
    if t.data_type != FLOAT {
        return Err(GraphError::Invalid(format!(
            "initializer `{}` is not float32 (data type {})",
            t.name, t.data_type
        )));
    }
    if !t.external_data.is_empty() {
        return Err(GraphError::Invalid(format!(
            "initializer `{}` uses external data, which coinfer does not read",
            t.name
        )));
    }
    let values: Vec<f32> = if t.raw_data.is_empty() {
        t.float_data.clone()
    } else {
        if !t.raw_data.len().is_multiple_of(4) {
            return Err(GraphError::Invalid(format!(
                "initializer `{}` has {} raw bytes, not a multiple of 4",
                t.name,
                t.raw_data.len()
            )));
        }
        t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    count_matches(t, values.len())?;
    Ok(values)
}

/// The values of an int64 initializer (from `raw_data` or `int64_data`).
pub fn read_i64(t: &pb::TensorProto) -> Result<Vec<i64>> {
    if t.data_type != INT64 {
        return Err(GraphError::Invalid(format!(
            "initializer `{}` is not int64 (data type {})",
            t.name, t.data_type
        )));
    }
    let values: Vec<i64> = if t.raw_data.is_empty() {
        t.int64_data.clone()
    } else {
        if !t.raw_data.len().is_multiple_of(8) {
            return Err(GraphError::Invalid(format!(
                "initializer `{}` has {} raw bytes, not a multiple of 8",
                t.name,
                t.raw_data.len()
            )));
        }
        t.raw_data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    };
    count_matches(t, values.len())?;
    Ok(values)
}

/// Replaces the contents of `t` by float32 `values` of shape `dims` (stored as `raw_data`).
///
/// Errors if the value count does not match `dims`.
pub fn write_f32(t: &mut pb::TensorProto, dims: &[usize], values: &[f32]) -> Result<()> {
    if dims.iter().product::<usize>() != values.len() {
        return Err(GraphError::Invalid(format!(
            "cannot store {} values in `{}` with dims {dims:?}",
            values.len(),
            t.name
        )));
    }
    t.data_type = FLOAT;
    t.dims = dims.iter().map(|&d| d as i64).collect();
    t.float_data.clear();
    t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok(())
}

/// An integer attribute of a node.
pub fn int_attr(node: &pb::NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// An integer-list attribute of a node.
pub fn ints_attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a [i64]> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.ints.as_slice())
}

/// A float attribute of a node.
pub fn float_attr(node: &pb::NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

/// Sets (or adds) an integer attribute of a node.
pub fn set_int_attr(node: &mut pb::NodeProto, name: &str, value: i64) {
    match node.attribute.iter_mut().find(|a| a.name == name) {
        Some(a) => a.i = value,
        None => node.attribute.push(crate::builder::attr_int(name, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_round_trip_and_count_checks() {
        let mut t = pb::TensorProto { name: "w".into(), ..Default::default() };
        write_f32(&mut t, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(read_f32(&t).unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(write_f32(&mut t, &[2, 2], &[1.0]).is_err());
        t.dims = vec![7];
        assert!(read_f32(&t).is_err(), "6 values under dims [7]");
        t.data_type = INT64;
        assert!(read_f32(&t).is_err());
    }
}
