//! Channel importance: which filters a group keeps.

use std::collections::HashMap;

use crate::error::{PruneError, Result};

use crate::groups::{ChannelGroup, ParamSlice, Role};

/// How channels are ranked; the lowest-ranked are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Criterion {
    /// L1 norm of each channel's output filter, normalised per producing layer (by the layer's
    /// mean filter norm) and summed over the group's producers (Li et al., 2017).
    #[default]
    L1,
    /// |γ| of the BatchNormalization layers on the channels, summed over the group
    /// (network slimming, Liu et al., 2017). Needs at least one BN in the group.
    BnScale,
}

impl std::fmt::Display for Criterion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Criterion::L1 => "l1",
            Criterion::BnScale => "bn-scale",
        })
    }
}

impl std::str::FromStr for Criterion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "l1" => Ok(Criterion::L1),
            "bn-scale" => Ok(Criterion::BnScale),
            other => Err(format!("unknown criterion `{other}` (expected l1 or bn-scale)")),
        }
    }
}

/// Initializer values by name: `(dims, row-major values)`.
pub(crate) type Params = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Per-channel sums of `f(value)` over the slice's indices.
fn per_channel(
    slice: &ParamSlice,
    channels: usize,
    params: &Params,
    f: fn(f32) -> f32,
) -> Option<Vec<f32>> {
    let (dims, values) = params.get(&slice.tensor)?;
    let len = *dims.get(slice.axis)?;
    let inner: usize = dims[slice.axis + 1..].iter().product();
    let outer: usize = dims[..slice.axis].iter().product();
    let mut sums = vec![0.0f32; channels];
    for o in 0..outer {
        for (c, sum) in sums.iter_mut().enumerate() {
            for j in 0..slice.block {
                let idx = slice.offset + c * slice.block + j;
                if idx >= len {
                    return None;
                }
                let start = (o * len + idx) * inner;
                *sum += values[start..start + inner].iter().map(|&v| f(v)).sum::<f32>();
            }
        }
    }
    Some(sums)
}

impl Criterion {
    /// Importance of each channel of `group` (higher = keep).
    pub(crate) fn scores(&self, group: &ChannelGroup, params: &Params) -> Result<Vec<f32>> {
        let role = match self {
            Criterion::L1 => Role::ProducerWeight,
            Criterion::BnScale => Role::BnScale,
        };
        let mut total = vec![0.0f32; group.channels];
        let mut used = 0;
        for slice in group.slices.iter().filter(|s| s.role == role) {
            let sums = per_channel(slice, group.channels, params, f32::abs).ok_or_else(|| {
                PruneError::Analysis(format!("slice of `{}` is out of bounds", slice.tensor))
            })?;
            let mean = sums.iter().sum::<f32>() / sums.len().max(1) as f32;
            let norm = if mean > 0.0 { mean } else { 1.0 };
            total.iter_mut().zip(&sums).for_each(|(t, s)| *t += s / norm);
            used += 1;
        }
        if used == 0 {
            return Err(PruneError::Criterion {
                criterion: self.to_string(),
                group: group.name.clone(),
                reason: format!("the group has no {role:?} parameters"),
            });
        }
        Ok(total)
    }
}

/// The `keep` highest-scoring channels, in ascending channel order (ties keep the lower index).
pub(crate) fn top_channels(scores: &[f32], keep: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut kept: Vec<usize> = order.into_iter().take(keep).collect();
    kept.sort_unstable();
    kept
}

#[cfg(test)]
mod tests {
    use super::top_channels;

    #[test]
    fn keeps_the_largest_in_channel_order() {
        assert_eq!(top_channels(&[0.1, 3.0, 2.0, 0.5], 2), vec![1, 2]);
        assert_eq!(top_channels(&[1.0, 1.0, 1.0], 2), vec![0, 1]);
    }
}
