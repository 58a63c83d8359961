//! The graph pruning works on: shared weights given one copy per reader, and flattening
//! `Reshape`s with an explicit feature count rewritten to `[0, -1]`.
//!
//! paddle2onnx and TensorFlow converters flatten with `Reshape(x, [-1, 64])` where PyTorch
//! writes `Flatten` or `[N, -1]`. Pruning changes that 64, so the literal target would no longer
//! fit; `[0, -1]` computes the same tensor at every batch size and follows the new width.

use coinfer_graph::initializer::{read_i64, INT64};
use coinfer_graph::{pb, Graph};

use crate::apply::unshare_weights;
use crate::error::Result;

/// `graph` as pruning analyses it: [`unshare_weights`], then every `Reshape` whose constant
/// target is `[-1 or 0, n]` with `n` the per-sample element count of its input rewritten to
/// `[0, -1]`. The function of the model is unchanged.
pub fn prepare_for_pruning(graph: &Graph) -> Result<Graph> {
    let unshared = Graph::analyse(unshare_weights(&graph.proto))?;
    let mut model = unshared.proto.clone();
    let mut rewritten = 0;
    if let Some(g) = model.graph.as_mut() {
        let mut new_inits = Vec::new();
        for node in g.node.iter_mut().filter(|n| n.op_type == "Reshape") {
            let (Some(x), Some(target)) = (node.input.first(), node.input.get(1)) else { continue };
            let per_sample: Option<usize> = unshared
                .tensor(x)
                .and_then(|t| t.shape.as_ref())
                .filter(|s| s.len() >= 2)
                .map(|s| s[1..].iter().product());
            let Some(t) = g.initializer.iter().find(|t| &t.name == target) else { continue };
            let explicit_flatten = matches!(
                (read_i64(t).as_deref(), per_sample),
                (Ok([-1 | 0, n]), Some(p)) if *n > 0 && *n as usize == p
            );
            if !explicit_flatten {
                continue;
            }
            let name = format!("{}.flatten_shape", node.output.first().map_or("reshape", |o| o));
            new_inits.push(pb::TensorProto {
                name: name.clone(),
                dims: vec![2],
                data_type: INT64,
                int64_data: vec![0, -1],
                ..Default::default()
            });
            node.input[1] = name;
            rewritten += 1;
        }
        g.initializer.extend(new_inits);
    }
    if rewritten == 0 {
        return Ok(unshared);
    }
    tracing::debug!(rewritten, "flattening Reshape targets made width-independent");
    Ok(Graph::analyse(model)?)
}
