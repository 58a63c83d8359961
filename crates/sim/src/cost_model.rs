//! The one cost model: latency and device energy of one inference, in SI units.
//!
//! Every planner, environment and comparison calls [`predict`]: `best_split`, `SplitEnv`,
//! `MultiDeviceEnv`, the stopping problem, the demo's "predicted" column and the runtime's
//! timing test. An inference is [`Work`] (device compute, encoding, the payload sent, edge
//! queue and compute) on a [`Link`] (uplink rate, the [`Transport`] around it: RTT, protocol
//! stack time, framing bytes, downlink), and the result is a [`Prediction`] whose parts add
//! up to its total.
//!
//! ```text
//! total = device + encode + [stack + rtt + uplink(wire_up) + queue + edge + downlink(wire_down)]
//! energy = P_compute·(device + encode) + P_tx·uplink + P_rx·downlink
//! ```
//! (the bracket only when something is sent; the device waits for the answer at no cost of
//! its own besides the radio, as in seed 002's model).

use crate::layers::CostWeights;

/// One level of segmentation that adds header bytes to every chunk of payload (HTTP/2 DATA
/// frames: 9 bytes per 16 KiB; TCP/IPv4: 40 bytes per 1448-byte segment).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunking {
    /// Header bytes per chunk.
    pub header_bytes: f64,
    /// Payload bytes per full chunk (> 0).
    pub payload_bytes: f64,
}

/// Bytes a transport adds around a payload, both ways, for one request/response exchange.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framing {
    /// Bytes each request adds to its payload (headers, length prefixes, message fields).
    pub request_bytes: f64,
    /// Bytes of each response, the answer included.
    pub response_bytes: f64,
    /// Segmentation levels applied to the request's bytes, innermost first.
    #[serde(default)]
    pub chunking: Vec<Chunking>,
}

impl Framing {
    /// No framing: the payload alone crosses the link and nothing comes back (the model of
    /// the papers).
    pub fn none() -> Framing {
        Framing { request_bytes: 0.0, response_bytes: 0.0, chunking: vec![] }
    }

    /// coinfer's runtime protocol (gRPC unary `Infer` over HTTP/2, HPACK-compressed headers
    /// after the first request) as counted by the link emulator above TCP: measured with
    /// `coinfer-runtime`'s test `framing_matches_the_bytes_on_the_wire`, which pins these
    /// numbers.
    pub fn grpc() -> Framing {
        Framing {
            request_bytes: 88.0,
            response_bytes: 101.0,
            chunking: vec![Chunking { header_bytes: 9.0, payload_bytes: 16_384.0 }],
        }
    }

    /// Bytes on the wire for a request carrying `payload` bytes.
    pub fn request_wire_bytes(&self, payload: f64) -> f64 {
        let mut bytes = payload + self.request_bytes;
        for c in &self.chunking {
            let chunks = (bytes / c.payload_bytes).ceil().max(1.0);
            bytes += chunks * c.header_bytes;
        }
        bytes
    }
}

impl Default for Framing {
    fn default() -> Self {
        Framing::none()
    }
}

/// Everything about a link but its uplink rate: what stays fixed while the rate fades.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// Round-trip propagation time (s), paid once per offloaded inference.
    #[serde(default)]
    pub rtt_s: f64,
    /// Software time of the protocol stacks on both ends per request (s): serialisation,
    /// HTTP/2, socket wake-ups. Measured (the demo calibrates it on an unshaped link).
    #[serde(default)]
    pub stack_s: f64,
    /// Bytes added around the payload.
    #[serde(default)]
    pub framing: Framing,
    /// Downlink rate (bit/s); 0 = the uplink's.
    #[serde(default)]
    pub down_bps: f64,
    /// Device radio power while receiving (W).
    #[serde(default)]
    pub rx_power_w: f64,
}

impl Transport {
    /// The papers' model: payload only, no RTT, no stack time, no answer.
    pub fn ideal() -> Transport {
        Transport {
            rtt_s: 0.0,
            stack_s: 0.0,
            framing: Framing::none(),
            down_bps: 0.0,
            rx_power_w: 0.0,
        }
    }
}

impl Default for Transport {
    fn default() -> Self {
        Transport::ideal()
    }
}

/// A device's link to the edge as the cost model sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    /// Uplink rate (bit/s), > 0 (`inf` = instantaneous transfer).
    pub up_bps: f64,
    /// Device radio power while sending (W).
    #[serde(default)]
    pub tx_power_w: f64,
    /// RTT, stack time, framing and downlink.
    #[serde(flatten)]
    pub transport: Transport,
}

impl Link {
    /// A link at `up_bps` (both ways) with round-trip time `rtt_s`, payload only, no power.
    pub fn simple(up_bps: f64, rtt_s: f64) -> Link {
        Link { up_bps, tx_power_w: 0.0, transport: Transport { rtt_s, ..Transport::ideal() } }
    }

    /// The downlink rate (bit/s).
    pub fn down_bps(&self) -> f64 {
        if self.transport.down_bps > 0.0 {
            self.transport.down_bps
        } else {
            self.up_bps
        }
    }
}

/// One inference's work, as a plan places it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Work {
    /// Device compute (s): the head, or the whole model.
    pub device_s: f64,
    /// Device power while computing and encoding (W).
    pub device_power_w: f64,
    /// Encoding the feature on the device (s).
    pub encode_s: f64,
    /// Payload bytes sent to the edge (the feature frame or the input); `None` = the device
    /// finishes on its own and nothing crosses the link.
    pub upload_bytes: Option<f64>,
    /// Waiting at the edge for a worker (s).
    pub edge_queue_s: f64,
    /// Edge compute (s): the tail, or the whole model.
    pub edge_s: f64,
}

impl Work {
    /// All on the device: `device_s` at `power_w`.
    pub fn local(device_s: f64, power_w: f64) -> Work {
        Work {
            device_s,
            device_power_w: power_w,
            encode_s: 0.0,
            upload_bytes: None,
            edge_queue_s: 0.0,
            edge_s: 0.0,
        }
    }

    /// `device_s` on the device, then `bytes` sent and `edge_s` on the edge.
    pub fn split(device_s: f64, power_w: f64, bytes: f64, edge_s: f64) -> Work {
        Work { upload_bytes: Some(bytes), edge_s, ..Work::local(device_s, power_w) }
    }
}

/// The cost model's answer: every part of the latency (s), the bytes on the wire and the
/// device's energy. Invariant: `total_s` is the sum of the parts.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Prediction {
    /// Device compute (s).
    pub device_s: f64,
    /// Encoding (s).
    pub encode_s: f64,
    /// Protocol stack software time (s).
    pub stack_s: f64,
    /// Round trip (s).
    pub rtt_s: f64,
    /// Sending the request's wire bytes (s).
    pub uplink_s: f64,
    /// Edge queue (s).
    pub edge_queue_s: f64,
    /// Edge compute (s).
    pub edge_s: f64,
    /// Receiving the response's wire bytes (s).
    pub downlink_s: f64,
    /// End to end (s).
    pub total_s: f64,
    /// Request bytes on the wire (payload and framing).
    pub wire_up_bytes: f64,
    /// Response bytes on the wire.
    pub wire_down_bytes: f64,
    /// Device energy (J): compute, encoding and radio.
    pub device_j: f64,
}

impl Prediction {
    /// `w_T·total_s + w_E·device_j`.
    pub fn weighted(&self, weights: &CostWeights) -> f64 {
        weights.cost(self.total_s, self.device_j)
    }

    /// Time on the link and at the edge (s): the total less device compute and encoding.
    pub fn offload_s(&self) -> f64 {
        self.total_s - self.device_s - self.encode_s
    }
}

/// The cost model: `work` over `link`.
pub fn predict(work: &Work, link: &Link) -> Prediction {
    let mut p = Prediction {
        device_s: work.device_s,
        encode_s: work.encode_s,
        device_j: work.device_power_w * (work.device_s + work.encode_s),
        ..Prediction::default()
    };
    if let Some(bytes) = work.upload_bytes {
        let t = &link.transport;
        p.wire_up_bytes = t.framing.request_wire_bytes(bytes);
        p.wire_down_bytes = t.framing.response_bytes;
        p.stack_s = t.stack_s;
        p.rtt_s = t.rtt_s;
        p.uplink_s = seconds(p.wire_up_bytes, link.up_bps);
        p.downlink_s = seconds(p.wire_down_bytes, link.down_bps());
        p.edge_queue_s = work.edge_queue_s;
        p.edge_s = work.edge_s;
        p.device_j += link.tx_power_w * p.uplink_s + t.rx_power_w * p.downlink_s;
    }
    p.total_s = p.device_s
        + p.encode_s
        + p.stack_s
        + p.rtt_s
        + p.uplink_s
        + p.edge_queue_s
        + p.edge_s
        + p.downlink_s;
    p
}

/// Time (s) to send `bytes` at `bps`: 0 for nothing, `inf` for something on a dead link.
fn seconds(bytes: f64, bps: f64) -> f64 {
    if bytes <= 0.0 {
        0.0
    } else {
        bytes * 8.0 / bps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_up_and_energy_counts_the_radio() {
        let link = Link {
            up_bps: 1e6,
            tx_power_w: 0.5,
            transport: Transport {
                rtt_s: 0.002,
                stack_s: 0.0003,
                framing: Framing::grpc(),
                down_bps: 2e6,
                rx_power_w: 0.1,
            },
        };
        let p = predict(&Work::split(0.004, 2.0, 1000.0, 0.001), &link);
        assert_eq!(p.wire_up_bytes, 1000.0 + 88.0 + 9.0);
        assert!((p.uplink_s - 1097.0 * 8.0 / 1e6).abs() < 1e-15);
        assert!((p.downlink_s - 101.0 * 8.0 / 2e6).abs() < 1e-15);
        let sum = 0.004 + 0.0003 + 0.002 + p.uplink_s + 0.001 + p.downlink_s;
        assert!((p.total_s - sum).abs() < 1e-15);
        assert!((p.device_j - (0.008 + 0.5 * p.uplink_s + 0.1 * p.downlink_s)).abs() < 1e-15);
        // Local work pays nothing for the link; an empty frame on a dead link is free, a
        // full one never arrives.
        let local = predict(&Work::local(0.004, 2.0), &link);
        assert_eq!((local.total_s, local.device_j), (0.004, 0.008));
        let dead = Link::simple(0.0, 0.0);
        assert_eq!(predict(&Work::split(0.0, 1.0, 0.0, 0.0), &dead).total_s, 0.0);
        assert!(predict(&Work::split(0.0, 1.0, 1.0, 0.0), &dead).total_s.is_infinite());
    }

    #[test]
    fn chunking_adds_a_header_per_started_chunk() {
        let f = Framing::grpc();
        // 16 384 − 88 payload bytes fill one DATA frame; one more byte starts a second.
        assert_eq!(f.request_wire_bytes(16_296.0), 16_384.0 + 9.0);
        assert_eq!(f.request_wire_bytes(16_297.0), 16_385.0 + 18.0);
        assert_eq!(Framing::none().request_wire_bytes(10.0), 10.0);
    }
}
