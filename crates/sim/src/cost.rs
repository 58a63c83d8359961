//! End-to-end latency of a split inference: device compute, transfer, edge compute.

/// Where a model is split.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SplitChoice {
    /// Everything on the device; only the result stays local.
    DeviceOnly,
    /// Send the raw input; everything on the edge.
    EdgeOnly,
    /// Head on the device, tail on the edge, at cut `index` (tensor `tensor`).
    Cut {
        /// Index in the model's cut list.
        index: usize,
        /// Tensor name.
        tensor: String,
    },
}

impl std::fmt::Display for SplitChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitChoice::DeviceOnly => f.write_str("device-only"),
            SplitChoice::EdgeOnly => f.write_str("edge-only"),
            SplitChoice::Cut { index, tensor } => write!(f, "cut {index} ({tensor})"),
        }
    }
}

/// The costs of one split option, independent of the link.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitOption {
    /// Which split.
    pub choice: SplitChoice,
    /// Device compute time (ms).
    pub device_ms: f64,
    /// Bytes sent uplink per inference (0 for device-only).
    pub uplink_bytes: u64,
    /// Edge compute time (ms).
    pub edge_ms: f64,
}

/// A link with a fixed rate and round-trip time.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    /// Uplink rate (bit/s), > 0.
    pub rate_bps: f64,
    /// Round-trip time (ms) paid once per offloaded inference (request + response).
    pub rtt_ms: f64,
}

impl Link {
    /// Time (ms) to send `bytes` and get the (small) answer back.
    pub fn transfer_ms(&self, bytes: u64) -> f64 {
        bytes as f64 * 8.0 / self.rate_bps * 1e3 + self.rtt_ms
    }
}

impl Link {
    /// Time (ms) of one request/response exchange on a link of this rate both ways: `up`
    /// bytes sent and `down` bytes received as they cross the wire (payload plus protocol
    /// framing), plus the RTT.
    pub fn exchange_ms(&self, up: u64, down: u64) -> f64 {
        (up + down) as f64 * 8.0 / self.rate_bps * 1e3 + self.rtt_ms
    }
}

/// The latency breakdown of a split on a link.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitLatency {
    /// The option evaluated.
    pub option: SplitOption,
    /// Transfer time (ms), 0 for device-only.
    pub transfer_ms: f64,
    /// Device + transfer + edge (ms).
    pub total_ms: f64,
}

impl SplitOption {
    /// End-to-end latency on `link`.
    pub fn latency(&self, link: &Link) -> SplitLatency {
        let transfer_ms = match self.choice {
            SplitChoice::DeviceOnly => 0.0,
            _ => link.transfer_ms(self.uplink_bytes),
        };
        SplitLatency {
            option: self.clone(),
            transfer_ms,
            total_ms: self.device_ms + transfer_ms + self.edge_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_time_of_a_megabit() {
        let link = Link { rate_bps: 1e6, rtt_ms: 2.0 };
        assert!((link.transfer_ms(125_000) - 1002.0).abs() < 1e-9);
        let local = SplitOption {
            choice: SplitChoice::DeviceOnly,
            device_ms: 5.0,
            uplink_bytes: 0,
            edge_ms: 0.0,
        };
        assert_eq!(local.latency(&link).total_ms, 5.0);
        assert!((link.exchange_ms(100_000, 25_000) - 1002.0).abs() < 1e-9);
    }
}
