//! Split options from measurements on the host, scaled to named device and edge profiles.

use crate::cost::{SplitChoice, SplitOption};
use crate::profiles::HardwareProfile;

/// One cut as measured on the host.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MeasuredCut {
    /// Index in the model's cut list.
    pub index: usize,
    /// Cut tensor name.
    pub tensor: String,
    /// Head latency on the host (ms).
    pub head_ms: f64,
    /// Tail latency on the host (ms).
    pub tail_ms: f64,
    /// Feature bytes per inference.
    pub feature_bytes: u64,
}

/// A model as measured on the host.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MeasuredModel {
    /// Multiply–accumulates per inference.
    pub total_macs: u64,
    /// Full-model latency on the host (ms).
    pub full_ms: f64,
    /// Input bytes per inference (sent by edge-only offloading).
    pub input_bytes: u64,
    /// Every valid cut.
    pub cuts: Vec<MeasuredCut>,
}

impl MeasuredModel {
    /// The host's effective throughput on this model, GMAC/s.
    pub fn host_gmacs(&self) -> f64 {
        self.total_macs as f64 / self.full_ms.max(1e-9) / 1e6
    }

    /// Every split option (edge-only, each cut, device-only) with compute times scaled from
    /// the host to `device` (head) and `edge` (tail).
    pub fn split_options(
        &self,
        device: &HardwareProfile,
        edge: &HardwareProfile,
    ) -> Vec<SplitOption> {
        let host = self.host_gmacs();
        let mut options = vec![SplitOption {
            choice: SplitChoice::EdgeOnly,
            device_ms: 0.0,
            uplink_bytes: self.input_bytes,
            edge_ms: edge.scale_from_host(self.full_ms, host),
        }];
        options.extend(self.cuts.iter().map(|c| SplitOption {
            choice: SplitChoice::Cut { index: c.index, tensor: c.tensor.clone() },
            device_ms: device.scale_from_host(c.head_ms, host),
            uplink_bytes: c.feature_bytes,
            edge_ms: edge.scale_from_host(c.tail_ms, host),
        }));
        options.push(SplitOption {
            choice: SplitChoice::DeviceOnly,
            device_ms: device.scale_from_host(self.full_ms, host),
            uplink_bytes: 0,
            edge_ms: 0.0,
        });
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::profile_by_name;

    #[test]
    fn options_cover_both_ends_and_scale() {
        let m = MeasuredModel {
            total_macs: 10_000_000,
            full_ms: 1.0, // 10 GMAC/s host
            input_bytes: 3136,
            cuts: vec![MeasuredCut {
                index: 0,
                tensor: "a".into(),
                head_ms: 0.4,
                tail_ms: 0.6,
                feature_bytes: 100,
            }],
        };
        assert!((m.host_gmacs() - 10.0).abs() < 1e-9);
        let dev = profile_by_name("rpi4").unwrap();
        let edge = profile_by_name("edge-gpu").unwrap();
        let opts = m.split_options(&dev, &edge);
        assert_eq!(opts.len(), 3);
        assert_eq!(opts[0].choice, SplitChoice::EdgeOnly);
        assert_eq!(opts[2].choice, SplitChoice::DeviceOnly);
        assert!((opts[1].device_ms - 0.4 * 10.0 / dev.gmacs()).abs() < 1e-12);
        assert!(opts[2].device_ms > opts[1].device_ms);
    }
}
