//! Input ranks of layout ops, checked before tract sees the model: tract 0.23.9 indexes a
//! `Conv`/`BatchNormalization`/pooling input's dims without a bounds check, so a model that
//! feeds such an op a tensor of too low a rank is undefined behaviour there (found by the
//! `onnx_import` fuzz target). Only ranks known before inference (initializers and declared
//! graph inputs) can be checked here; tract's own inference catches the rest.

use std::collections::HashMap;

use crate::analysis::declared_type;
use crate::error::{GraphError, Result};
use crate::pb;

/// Smallest rank of input 0 each layout op accepts (batch, channel, then spatial dims).
fn min_rank(op: &str) -> Option<usize> {
    Some(match op {
        "BatchNormalization" | "InstanceNormalization" => 2,
        "Conv" | "ConvTranspose" | "MaxPool" | "AveragePool" | "LpPool" | "GlobalAveragePool"
        | "GlobalMaxPool" | "GlobalLpPool" | "LRN" => 3,
        _ => return None,
    })
}

/// Refuses a layout op whose data input has a known rank below what the op needs.
pub(crate) fn check_layout_ranks(g: &pb::GraphProto) -> Result<()> {
    let mut known: HashMap<&str, usize> =
        g.initializer.iter().map(|t| (t.name.as_str(), t.dims.len())).collect();
    for vi in &g.input {
        let (_, dims) = declared_type(vi);
        if !dims.is_empty() {
            known.entry(vi.name.as_str()).or_insert(dims.len());
        }
    }
    for node in &g.node {
        let (Some(need), Some(x)) = (min_rank(&node.op_type), node.input.first()) else {
            continue;
        };
        if let Some(&rank) = known.get(x.as_str()) {
            if rank < need {
                return Err(GraphError::Invalid(format!(
                    "node `{}` ({}) reads `{x}` of rank {rank}; it needs rank {need} or more \
                     (batch, channels, spatial dims)",
                    node.name, node.op_type
                )));
            }
        }
    }
    Ok(())
}
