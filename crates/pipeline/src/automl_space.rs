//! A real model's AutoML search space at a cut: the prunable channel groups of the device
//! head (in topological order of their last producer, the group of the feature sent at the
//! cut last), AMC's embedding of each, and every layer's cost with the groups that scale it.

use std::collections::HashMap;

use coinfer_graph::initializer::ints_attr;
use coinfer_graph::{CutPoint, Graph};
use coinfer_prune::{ChannelGroups, Role};
use coinfer_sim::{Decision, DecisionKind, FeatureSpec, Layer, PruneSpace, ScaledLayer, Side};

use crate::error::{PipelineError, Result};

/// How the space is cut out of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceOptions {
    /// Kept counts are multiples of this (or the full width).
    pub multiple_of: usize,
    /// No group keeps less than this fraction of its channels.
    pub min_keep: f64,
    /// Feature bits the search may choose (ascending); one entry = fixed.
    pub bits: Vec<u8>,
    /// Bytes per frame beyond the packed values.
    pub header_bytes: f64,
}

/// The search space of `graph` split at `cut` (`None`: device-only, every prunable group of
/// the model is on the device and nothing is sent). Errors: no prunable group in the head.
pub fn prune_space(
    graph: &Graph,
    cut: Option<&CutPoint>,
    options: &SpaceOptions,
) -> Result<PruneSpace> {
    let prepared = coinfer_prune::prepare_for_pruning(graph)?;
    let groups = ChannelGroups::analyse(&prepared)?;
    let position = match cut {
        Some(c) => Some(prepared.find_cut(&c.tensor)?.position),
        None => None,
    };
    let in_head = |node: usize| position.is_none_or(|p| node <= p);
    // Who reads each initializer as what: tensor → (group, role).
    let mut slices: HashMap<&str, Vec<(usize, Role)>> = HashMap::new();
    for (g, group) in groups.groups.iter().enumerate() {
        for s in &group.slices {
            slices.entry(s.tensor.as_str()).or_default().push((g, s.role));
        }
    }
    let readers = |g: usize| -> Vec<usize> {
        groups.groups[g]
            .slices
            .iter()
            .filter(|s| matches!(s.role, Role::ConsumerWeight))
            .filter_map(|s| prepared.tensor(&s.tensor))
            .flat_map(|t| t.consumers.clone())
            .collect()
    };
    let head_groups: Vec<usize> = (0..groups.groups.len())
        .filter(|&g| groups.groups[g].is_prunable() && in_head(groups.groups[g].last_producer))
        .collect();
    // The group of the feature crossing the cut: produced in the head, read after it.
    let feature_channels = cut.and_then(|c| c.shape.get(1).copied());
    let crossing = cut.and_then(|_| {
        head_groups.iter().copied().find(|&g| {
            readers(g).iter().any(|&n| !in_head(n))
                && Some(groups.groups[g].channels) == feature_channels
        })
    });
    // A crossing group no head layer reads (a bottleneck's code) costs bytes, not device
    // compute: its width is searched channel by channel.
    let bytes_only = crossing.is_some_and(|g| readers(g).iter().all(|&n| !in_head(n)));
    let mut order: Vec<usize> =
        head_groups.iter().copied().filter(|&g| Some(g) != crossing).collect();
    order.sort_by_key(|&g| groups.groups[g].last_producer);
    order.extend(crossing);
    if order.is_empty() {
        return Err(PipelineError::Invalid(format!(
            "no prunable channel group {}: nothing for the search to decide",
            cut.map_or("in the model".into(), |c| format!("before cut {} ({})", c.index, c.tensor))
        )));
    }
    let decision_of: HashMap<usize, usize> =
        order.iter().enumerate().map(|(d, &g)| (g, d)).collect();

    let mut layers = vec![];
    let mut first_producer: HashMap<usize, usize> = HashMap::new();
    for node in prepared.nodes.iter().filter(|n| !n.is_constant) {
        let (mut out_group, mut in_group) = (None, None);
        if node.macs > 0 {
            for (g, role) in node.inputs.iter().flat_map(|t| slices.get(t.as_str())).flatten() {
                let Some(&d) = decision_of.get(g) else { continue };
                match role {
                    Role::ProducerWeight | Role::Depthwise => {
                        out_group = Some(d);
                        first_producer.entry(d).or_insert(node.index);
                    }
                    Role::ConsumerWeight => in_group = Some(d),
                    _ => {}
                }
            }
        }
        let inputs: u64 = node.inputs.iter().filter_map(|t| prepared.tensor(t)?.bytes()).sum();
        layers.push(ScaledLayer {
            layer: Layer {
                mem_bytes: (inputs.max(node.param_bytes) + node.output_bytes) as f64,
                ..Layer::new(
                    node.macs as f64,
                    (node.output_bytes / 4) as f64,
                    (node.param_bytes / 4) as f64,
                )
            },
            side: if in_head(node.index) { Side::Device } else { Side::Edge },
            out_group,
            in_group,
        });
    }
    let decisions = order
        .iter()
        .enumerate()
        .map(|(d, &g)| {
            let group = &groups.groups[g];
            let producer = first_producer.get(&d).map(|&n| &prepared.nodes[n]);
            describe(
                &prepared,
                group.name.clone(),
                group.channels,
                producer,
                bytes_only && Some(g) == crossing,
            )
        })
        .collect();
    let feature = cut.map(|c| FeatureSpec {
        channels: c.shape.get(1).copied().unwrap_or(1),
        values_per_channel: c.shape.iter().skip(2).product::<usize>().max(1) as f64,
        group: crossing.map(|_| order.len() - 1),
        bits: options.bits.clone(),
        header_bytes: options.header_bytes,
    });
    let space = PruneSpace {
        decisions,
        layers,
        feature,
        multiple_of: options.multiple_of,
        min_keep: options.min_keep,
    };
    space.validate().map_err(|e| PipelineError::Invalid(e.to_string()))?;
    Ok(space)
}

/// AMC's embedding of a group from its first producer's weight and attributes.
fn describe(
    graph: &Graph,
    name: String,
    channels: usize,
    producer: Option<&coinfer_graph::NodeInfo>,
    code: bool,
) -> Decision {
    let weight = producer.and_then(|n| graph.tensor(n.inputs.get(1)?)?.shape.clone());
    let proto = producer.and_then(|n| graph.proto.graph.as_ref()?.node.get(n.proto_index));
    let conv = producer.is_some_and(|n| n.op_type == "Conv");
    let in_channels = match (&weight, conv) {
        (Some(w), true) => w.get(1).copied().unwrap_or(0),
        (Some(w), false) => w.iter().copied().min().unwrap_or(0),
        (None, _) => 0,
    };
    let kernel =
        if conv { weight.as_ref().and_then(|w| w.get(2).copied()).unwrap_or(1) } else { 1 };
    let stride = proto
        .and_then(|p| ints_attr(p, "strides"))
        .and_then(|s| s.first().copied())
        .map_or(1, |s| s.max(1) as usize);
    Decision {
        kind: if code {
            DecisionKind::Code
        } else if conv {
            DecisionKind::Conv
        } else {
            DecisionKind::Linear
        },
        name,
        channels,
        in_channels,
        stride,
        kernel,
        params: producer.map_or(0.0, |n| (n.param_bytes / 4) as f64),
    }
}
