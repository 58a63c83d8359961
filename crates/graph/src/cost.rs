//! Per-node compute cost: multiply–accumulates of the ops that dominate CNN/MLP inference.

use std::collections::HashMap;

use crate::analysis::TensorInfo;
use crate::initializer::int_attr;
use crate::pb;

fn shape<'a>(
    tensors: &'a HashMap<String, TensorInfo>,
    name: Option<&String>,
) -> Option<&'a [usize]> {
    name.and_then(|n| tensors.get(n)).and_then(|t| t.shape.as_deref())
}

/// Element count of `dims`, `None` if it overflows u64.
fn product(dims: &[usize]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
}

/// Multiply–accumulate count of one node at batch size 1.
///
/// Conv: `out_elems · (C_in/groups) · k_h · k_w`; ConvTranspose: `in_elems · (C_out/groups) · k`;
/// Gemm / MatMul: `out_elems · K`. Every other op counts 0 (they are memory-bound and small).
/// `None` if the count overflows u64 (a malformed shape: no real layer comes near).
pub fn node_macs(node: &pb::NodeProto, tensors: &HashMap<String, TensorInfo>) -> Option<u64> {
    let input = |i: usize| shape(tensors, node.input.get(i));
    let output = shape(tensors, node.output.first());
    match node.op_type.as_str() {
        "Conv" => match (input(1), output) {
            (Some(w), Some(y)) if w.len() >= 2 => product(y)?.checked_mul(product(&w[1..])?),
            _ => Some(0),
        },
        "ConvTranspose" => match (input(0), input(1)) {
            (Some(x), Some(w)) if w.len() >= 2 => product(x)?.checked_mul(product(&w[1..])?),
            _ => Some(0),
        },
        "Gemm" => match (input(0), output) {
            (Some(a), Some(y)) if a.len() == 2 => {
                let k = if int_attr(node, "transA").unwrap_or(0) != 0 { a[0] } else { a[1] };
                product(y)?.checked_mul(k as u64)
            }
            _ => Some(0),
        },
        "MatMul" => match (input(0), output) {
            (Some(a), Some(y)) if !a.is_empty() => product(y)?.checked_mul(a[a.len() - 1] as u64),
            _ => Some(0),
        },
        _ => Some(0),
    }
}
