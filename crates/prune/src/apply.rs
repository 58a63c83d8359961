//! Rewriting a model with fewer channels: every initializer slice of a pruned group is gathered
//! down to the kept channels, depthwise convs get their new `group`, stale shape annotations go.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use coinfer_graph::initializer::{read_f32, set_int_attr, write_f32};
use coinfer_graph::pb::ModelProto;

use crate::criterion::Params;
use crate::error::{PruneError, Result};
use crate::groups::ChannelGroups;

/// Float initializers of a model by name.
pub(crate) fn params(model: &ModelProto) -> Result<Params> {
    let g = model.graph.as_ref().ok_or_else(|| PruneError::Analysis("no graph".into()))?;
    let mut out = HashMap::new();
    for t in g.initializer.iter().filter(|t| t.data_type == coinfer_graph::initializer::FLOAT) {
        out.insert(t.name.clone(), (coinfer_graph::initializer::dims(t)?, read_f32(t)?));
    }
    Ok(out)
}

/// Keeps `indices` along `axis` of a row-major tensor.
fn gather(
    dims: &[usize],
    values: &[f32],
    axis: usize,
    indices: &[usize],
) -> (Vec<usize>, Vec<f32>) {
    let inner: usize = dims[axis + 1..].iter().product();
    let outer: usize = dims[..axis].iter().product();
    let len = dims[axis];
    let mut out = Vec::with_capacity(outer * indices.len() * inner);
    for o in 0..outer {
        for &i in indices {
            let start = (o * len + i) * inner;
            out.extend_from_slice(&values[start..start + inner]);
        }
    }
    let mut new_dims = dims.to_vec();
    new_dims[axis] = indices.len();
    (new_dims, out)
}

/// Returns `model` with the channels of group `i` reduced to `keep[i]` (sorted channel indices;
/// groups without an entry keep everything).
pub(crate) fn apply(
    model: &ModelProto,
    groups: &ChannelGroups,
    keep: &BTreeMap<usize, Vec<usize>>,
) -> Result<ModelProto> {
    let mut params = params(model)?;
    // Removed indices per (tensor, axis).
    let mut removed: BTreeMap<(String, usize), BTreeSet<usize>> = BTreeMap::new();
    for (&gi, kept) in keep {
        let group = &groups.groups[gi];
        let kept: BTreeSet<usize> = kept.iter().copied().collect();
        for s in &group.slices {
            let set = removed.entry((s.tensor.clone(), s.axis)).or_default();
            for c in (0..group.channels).filter(|c| !kept.contains(c)) {
                set.extend(s.offset + c * s.block..s.offset + (c + 1) * s.block);
            }
        }
    }
    for ((tensor, axis), gone) in &removed {
        let (dims, values) = params.get(tensor).ok_or_else(|| {
            PruneError::Analysis(format!("`{tensor}` is not a float initializer"))
        })?;
        let len = *dims
            .get(*axis)
            .ok_or_else(|| PruneError::Analysis(format!("`{tensor}` has no axis {axis}")))?;
        let indices: Vec<usize> = (0..len).filter(|i| !gone.contains(i)).collect();
        let gathered = gather(dims, values, *axis, &indices);
        params.insert(tensor.clone(), gathered);
    }
    let mut model = model.clone();
    let g = model.graph.as_mut().ok_or_else(|| PruneError::Analysis("no graph".into()))?;
    let touched: BTreeSet<&String> = removed.keys().map(|(t, _)| t).collect();
    for t in g.initializer.iter_mut().filter(|t| touched.contains(&t.name)) {
        let (dims, values) = &params[&t.name];
        write_f32(t, dims, values)?;
    }
    for &ni in &groups.depthwise_nodes {
        let w = g.node[ni].input.get(1).cloned().unwrap_or_default();
        if let Some((dims, _)) = params.get(&w) {
            set_int_attr(&mut g.node[ni], "group", dims[0] as i64);
        }
    }
    // Shapes recorded for intermediate tensors and weight inputs are now stale.
    g.value_info.clear();
    let inits: BTreeSet<String> = g.initializer.iter().map(|t| t.name.clone()).collect();
    g.input.retain(|i| !inits.contains(&i.name));
    Ok(model)
}

/// Gives every reader of a shared weight its own copy: `Identity` nodes on initializers become
/// initializers, and an initializer read by several nodes is duplicated per extra reader.
/// The function is unchanged; channel pruning can then treat each layer on its own.
pub fn unshare_weights(model: &ModelProto) -> ModelProto {
    let mut model = model.clone();
    let Some(g) = model.graph.as_mut() else {
        return model;
    };
    let mut inits: HashMap<String, coinfer_graph::pb::TensorProto> =
        g.initializer.iter().map(|t| (t.name.clone(), t.clone())).collect();
    // Identity(initializer) → initializer (repeat for chains; nodes are not necessarily sorted).
    loop {
        let pos = g.node.iter().position(|n| {
            n.op_type == "Identity" && n.input.len() == 1 && inits.contains_key(&n.input[0])
        });
        let Some(pos) = pos else { break };
        let node = g.node.remove(pos);
        let mut t = inits[&node.input[0]].clone();
        t.name = node.output[0].clone();
        inits.insert(t.name.clone(), t.clone());
        g.initializer.push(t);
    }
    let mut readers: HashMap<String, usize> = HashMap::new();
    let mut copies = Vec::new();
    for node in g.node.iter_mut() {
        for (k, x) in node.input.iter_mut().enumerate() {
            let Some(t) = inits.get(x.as_str()) else { continue };
            let n = readers.entry(x.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                let mut copy = t.clone();
                copy.name = format!("{}.copy{}.{k}", x, *n - 1);
                *x = copy.name.clone();
                copies.push(copy);
            }
        }
    }
    g.initializer.extend(copies);
    // Drop initializers nobody reads any more.
    let used: BTreeSet<String> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .chain(g.output.iter().map(|o| o.name.clone()))
        .collect();
    g.initializer.retain(|t| used.contains(&t.name));
    model
}
