//! # coinfer-prune
//!
//! Structured pruning of ONNX models: whole conv filters / FC units are removed and the result
//! is a smaller dense ONNX model (fewer MACs, less latency), not a mask.
//!
//! [`ChannelGroups::analyse`] derives from the DAG which channels must be pruned together
//! (residual adds, concats, depthwise convs, squeeze–excite scaling) and which cannot be pruned
//! at all; [`prune`] ranks channels by a [`Criterion`] and rewrites the weights.
//!
//! ```no_run
//! use coinfer_prune::{prune, Criterion, Ratios};
//! let graph = coinfer_graph::Graph::load("models/fmnist-resnet.onnx".as_ref())?;
//! let pruned = prune(&graph, &Ratios::Uniform { ratio: 0.5, until: None }, Criterion::L1)?;
//! println!("{} → {} MACs", graph.total_macs(), pruned.graph.total_macs());
//! # Ok::<(), coinfer_prune::PruneError>(())
//! ```

use std::collections::BTreeMap;

use coinfer_graph::Graph;

pub use apply::unshare_weights;
pub use criterion::Criterion;
pub use error::{PruneError, Result};
pub use groups::{ChannelGroup, ChannelGroups, ParamSlice, Role};
pub use normalise::prepare_for_pruning;

mod apply;
mod criterion;
mod error;
mod groups;
mod normalise;

/// Which fraction of channels to remove, per group.
#[derive(Debug, Clone, PartialEq)]
pub enum Ratios {
    /// The same ratio for every prunable group whose producers all lie at or before topological
    /// node index `until` (all groups if `None`).
    Uniform {
        /// Fraction removed, in `[0, 1)`.
        ratio: f64,
        /// Last node index (e.g. the producer of a cut tensor) of the pruned region.
        until: Option<usize>,
    },
    /// Ratios by group name (or the name of one of the group's producing nodes).
    PerGroup(BTreeMap<String, f64>),
}

/// What pruning did to one group.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupOutcome {
    /// Group name.
    pub name: String,
    /// Channels before.
    pub channels: usize,
    /// Channels kept.
    pub kept: usize,
}

/// A pruned model.
#[derive(Debug, Clone)]
pub struct Pruned {
    /// The pruned model, analysed (shapes and MACs of the smaller graph).
    pub graph: Graph,
    /// One entry per group that lost channels.
    pub outcome: Vec<GroupOutcome>,
}

fn check_ratio(group: &str, ratio: f64) -> Result<()> {
    if (0.0..1.0).contains(&ratio) {
        Ok(())
    } else {
        Err(PruneError::BadRatio { group: group.to_string(), ratio })
    }
}

/// Channels kept out of `channels` when a fraction `ratio` is removed: rounded to the nearest
/// multiple of `multiple_of` (SIMD kernels pad channel counts to their tile width, so other
/// counts save MACs but not time), at least one multiple (or one channel), at most `channels`.
pub fn kept_channels(channels: usize, ratio: f64, multiple_of: usize) -> usize {
    let m = multiple_of.max(1);
    let exact = channels as f64 * (1.0 - ratio);
    let rounded = ((exact / m as f64).round() as usize).max(1) * m;
    rounded.clamp(1, channels)
}

/// Prunes `graph` by `ratios`, ranking channels by `criterion` (kept counts not rounded).
///
/// Errors: a ratio outside `[0, 1)`, a name that is no group, a ratio on an unprunable group,
/// a criterion that cannot rank a group, or a rewritten model that fails analysis.
pub fn prune(graph: &Graph, ratios: &Ratios, criterion: Criterion) -> Result<Pruned> {
    prune_rounded(graph, ratios, criterion, 1)
}

/// [`prune`] with every kept channel count rounded to a multiple of `multiple_of`
/// (see [`kept_channels`]).
pub fn prune_rounded(
    graph: &Graph,
    ratios: &Ratios,
    criterion: Criterion,
    multiple_of: usize,
) -> Result<Pruned> {
    let original = graph;
    let prepared = prepare_for_pruning(graph)?;
    let graph = &prepared;
    let groups = ChannelGroups::analyse(graph)?;
    let mut wanted: BTreeMap<usize, f64> = BTreeMap::new();
    match ratios {
        Ratios::Uniform { ratio, until } => {
            check_ratio("uniform", *ratio)?;
            for (i, g) in groups.groups.iter().enumerate() {
                if g.is_prunable() && until.is_none_or(|u| g.last_producer <= u) {
                    wanted.insert(i, *ratio);
                }
            }
        }
        Ratios::PerGroup(map) => {
            for (name, &ratio) in map {
                check_ratio(name, ratio)?;
                let g = groups.find(name).ok_or_else(|| PruneError::UnknownGroup {
                    name: name.clone(),
                    known: groups.names(),
                })?;
                if let Some(reason) = &g.unprunable {
                    return Err(PruneError::Unprunable {
                        group: g.name.clone(),
                        reason: reason.clone(),
                    });
                }
                let i = groups.groups.iter().position(|x| x.name == g.name).unwrap_or_default();
                wanted.insert(i, ratio);
            }
        }
    }
    let params = apply::params(&graph.proto)?;
    let mut keep = BTreeMap::new();
    let mut outcome = Vec::new();
    for (&i, &ratio) in &wanted {
        let g = &groups.groups[i];
        let k = kept_channels(g.channels, ratio, multiple_of);
        if k == g.channels {
            continue;
        }
        let scores = criterion.scores(g, &params)?;
        keep.insert(i, criterion::top_channels(&scores, k));
        outcome.push(GroupOutcome { name: g.name.clone(), channels: g.channels, kept: k });
    }
    if keep.is_empty() {
        // Nothing to remove: the model as given, not its normalised copy.
        return Ok(Pruned { graph: original.clone(), outcome });
    }
    let model = apply::apply(&graph.proto, &groups, &keep)?;
    let graph = Graph::analyse(model)?;
    tracing::info!(groups = outcome.len(), macs = graph.total_macs(), "pruned");
    Ok(Pruned { graph, outcome })
}

#[cfg(test)]
mod tests {
    use super::kept_channels;

    #[test]
    fn kept_counts_round_to_multiples_within_bounds() {
        assert_eq!(kept_channels(32, 0.3, 1), 22);
        assert_eq!(kept_channels(32, 0.3, 8), 24);
        assert_eq!(kept_channels(16, 0.9, 8), 8);
        assert_eq!(kept_channels(6, 0.1, 8), 6);
        assert_eq!(kept_channels(10, 0.99, 1), 1);
    }
}
