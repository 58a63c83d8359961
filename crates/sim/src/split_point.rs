//! One type for "where the model is split", with explicit conversions to the conventions
//! each boundary keeps:
//!
//! | convention | edge-only | after cut `k` | device-only |
//! |---|---|---|---|
//! | [`SplitChoice`] (plans) | `EdgeOnly` | `Cut { index: k, .. }` | `DeviceOnly` |
//! | partition `p` = layers on the device ([`crate::LayerTable`], `MultiDeviceEnv`, `SplitEnv`'s stage) | 0 | `k + 1` | `n_cuts + 1` |
//! | wire `i32` (`InferRequest.cut`) | −1 | `k` | not sent |
//! | online stage `s` over candidate cuts `c` ([`crate::OnlineSplit`]) | 0 | `s` with `c[s − 1] = k` | `c.len() + 1` |
//!
//! A layer table made from a model has one layer per segment between consecutive cuts, so its
//! partition `p` and the model's cut `p − 1` are the same split.

use crate::split_options::SplitChoice;

/// Where a model is split.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum SplitPoint {
    /// The input is sent; the edge runs everything.
    EdgeOnly,
    /// Head up to cut `k` (index in the model's cut list) on the device, the rest at the edge.
    AfterCut(usize),
    /// Everything on the device.
    DeviceOnly,
}

/// A split index that does not exist in the convention it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value} is not a split point of a model with {n_cuts} cuts")]
pub struct SplitPointError {
    /// Which convention.
    pub what: &'static str,
    /// The value given.
    pub value: i64,
    /// Cuts of the model.
    pub n_cuts: usize,
}

impl SplitPoint {
    /// From a partition (layers on the device, `0..=n_cuts + 1`).
    pub fn from_partition(p: usize, n_cuts: usize) -> Result<SplitPoint, SplitPointError> {
        match p {
            0 => Ok(SplitPoint::EdgeOnly),
            p if p <= n_cuts => Ok(SplitPoint::AfterCut(p - 1)),
            p if p == n_cuts + 1 => Ok(SplitPoint::DeviceOnly),
            p => Err(SplitPointError { what: "partition", value: p as i64, n_cuts }),
        }
    }

    /// As a partition (layers on the device) of a model with `n_cuts` cuts.
    pub fn partition(self, n_cuts: usize) -> usize {
        match self {
            SplitPoint::EdgeOnly => 0,
            SplitPoint::AfterCut(k) => k + 1,
            SplitPoint::DeviceOnly => n_cuts + 1,
        }
    }

    /// From the wire (`-1` = the input, `k ≥ 0` = cut `k`); the edge never sees device-only.
    pub fn from_wire(cut: i32, n_cuts: usize) -> Result<SplitPoint, SplitPointError> {
        match cut {
            -1 => Ok(SplitPoint::EdgeOnly),
            k if k >= 0 && (k as usize) < n_cuts => Ok(SplitPoint::AfterCut(k as usize)),
            k => Err(SplitPointError { what: "wire cut", value: k.into(), n_cuts }),
        }
    }

    /// From the wire without the model at hand: only the sign is checked (`-1` = the input,
    /// `k ≥ 0` = cut `k`); whoever loads the model checks `k` against its cuts.
    pub fn parse_wire(cut: i32) -> Result<SplitPoint, SplitPointError> {
        SplitPoint::from_wire(cut, usize::MAX)
    }

    /// On the wire: `Some(-1)` for the input, `Some(k)` for cut `k`, `None` when nothing is
    /// sent (device-only). `None` too for a cut index beyond `i32`.
    pub fn to_wire(self) -> Option<i32> {
        match self {
            SplitPoint::EdgeOnly => Some(-1),
            SplitPoint::AfterCut(k) => i32::try_from(k).ok(),
            SplitPoint::DeviceOnly => None,
        }
    }

    /// From an online rule's stage over candidate cuts `cuts` (stage 0 = the input, stage
    /// `s ≥ 1` = `cuts[s − 1]`, stage `cuts.len() + 1` = finish on the device).
    pub fn from_online_stage(stage: usize, cuts: &[usize]) -> Result<SplitPoint, SplitPointError> {
        match stage {
            0 => Ok(SplitPoint::EdgeOnly),
            s if s <= cuts.len() => Ok(SplitPoint::AfterCut(cuts[s - 1])),
            s if s == cuts.len() + 1 => Ok(SplitPoint::DeviceOnly),
            s => Err(SplitPointError { what: "online stage", value: s as i64, n_cuts: cuts.len() }),
        }
    }

    /// The plan's choice; `tensor` names the cut tensor (`""` if unknown).
    pub fn to_choice(self, tensor: impl Into<String>) -> SplitChoice {
        match self {
            SplitPoint::EdgeOnly => SplitChoice::EdgeOnly,
            SplitPoint::AfterCut(index) => SplitChoice::Cut { index, tensor: tensor.into() },
            SplitPoint::DeviceOnly => SplitChoice::DeviceOnly,
        }
    }
}

impl From<&SplitChoice> for SplitPoint {
    fn from(c: &SplitChoice) -> SplitPoint {
        match c {
            SplitChoice::EdgeOnly => SplitPoint::EdgeOnly,
            SplitChoice::Cut { index, .. } => SplitPoint::AfterCut(*index),
            SplitChoice::DeviceOnly => SplitPoint::DeviceOnly,
        }
    }
}

impl std::fmt::Display for SplitPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitPoint::EdgeOnly => f.write_str("edge-only"),
            SplitPoint::AfterCut(k) => write!(f, "after cut {k}"),
            SplitPoint::DeviceOnly => f.write_str("device-only"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every convention round-trips, and they agree on what each index means.
    #[test]
    fn conventions_round_trip_and_agree() {
        let n = 19;
        for p in 0..=n + 1 {
            let s = SplitPoint::from_partition(p, n).expect("in range");
            assert_eq!(s.partition(n), p);
            assert_eq!(SplitPoint::from(&s.to_choice("t")), s);
            match s.to_wire() {
                Some(w) => assert_eq!(SplitPoint::from_wire(w, n), Ok(s)),
                None => assert_eq!(s, SplitPoint::DeviceOnly),
            }
        }
        assert_eq!(SplitPoint::from_partition(7, n), Ok(SplitPoint::AfterCut(6)));
        assert_eq!(SplitPoint::from_wire(6, n), Ok(SplitPoint::AfterCut(6)));
        let cuts = [2, 9];
        let stages: Vec<SplitPoint> =
            (0..=3).map(|s| SplitPoint::from_online_stage(s, &cuts).expect("stage")).collect();
        assert_eq!(
            stages,
            [
                SplitPoint::EdgeOnly,
                SplitPoint::AfterCut(2),
                SplitPoint::AfterCut(9),
                SplitPoint::DeviceOnly
            ]
        );
        assert!(SplitPoint::from_partition(n + 2, n).is_err());
        assert!(SplitPoint::from_wire(-2, n).is_err());
        assert_eq!(SplitPoint::parse_wire(1000), Ok(SplitPoint::AfterCut(1000)));
        assert!(SplitPoint::parse_wire(-7).is_err());
        assert!(SplitPoint::from_wire(n as i32, n).is_err());
        assert!(SplitPoint::from_online_stage(4, &cuts).is_err());
        assert!(SplitPoint::EdgeOnly < SplitPoint::AfterCut(0));
        assert!(SplitPoint::AfterCut(18) < SplitPoint::DeviceOnly, "ordered by layers on device");
    }
}
