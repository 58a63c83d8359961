//! The targets: byte slices in, nothing out; invariants checked with `assert!`.

use coinfer_compress::{Codec, DecodeLimits, EntropyModel, QuantRange};
use coinfer_graph::Graph;

/// Limits the frame target decodes under: small enough that an accepted frame costs little.
pub const FRAME_LIMITS: DecodeLimits =
    DecodeLimits { max_elements: 1 << 16, max_frame_bytes: 1 << 20 };

/// Decodes `data` as a feature frame as it is, then with its last four bytes replaced by the
/// right CRC (so the decoders behind the checksum see the rest), also with a static-model ANS
/// codec. An accepted frame must hold as many values as its shape says.
pub fn decode_frame(data: &[u8]) {
    check_frame(coinfer_compress::decode_frame(data, &FRAME_LIMITS));
    if data.len() < 4 {
        return;
    }
    let mut fixed = data.to_vec();
    let body = fixed.len() - 4;
    let crc = crc32fast::hash(&fixed[..body]);
    fixed[body..].copy_from_slice(&crc.to_le_bytes());
    check_frame(coinfer_compress::decode_frame(&fixed, &FRAME_LIMITS));
    let codec = Codec::UniformAnsStatic {
        bits: 3,
        range: QuantRange::PerTensor { lo: 0.0, hi: 1.0 },
        model: EntropyModel::new(vec![9, 7, 5, 3, 2, 1, 1, 1], vec![], vec![], false),
    };
    check_frame(codec.decode(&fixed, &FRAME_LIMITS));
    decode_session_frame(data);
}

/// Decodes `data` as a session frame of a channel-context session codec (samples of 2×2×2,
/// one model per element and previous-channel symbol), with its fingerprint and 16-bit check
/// made right so the ANS decoder sees the payload.
fn decode_session_frame(data: &[u8]) {
    let counts = vec![9, 7, 5, 3, 2, 1, 1, 1];
    let per_element = (0..64).map(|k| counts.iter().map(|&c| c + k).collect()).collect();
    let model = EntropyModel::new(counts, vec![2, 2, 2], per_element, true);
    let fingerprint = model.fingerprint() as u16;
    let codec = Codec::UniformAnsStatic {
        bits: 3,
        range: QuantRange::PerTensor { lo: 0.0, hi: 1.0 },
        model,
    };
    check_frame(codec.decode(data, &FRAME_LIMITS));
    if data.len() < 6 {
        return;
    }
    let mut fixed = data.to_vec();
    fixed[0] = coinfer_compress::frame::SESSION_FRAME_TAG;
    fixed[2..4].copy_from_slice(&fingerprint.to_le_bytes());
    let body = fixed.len() - 2;
    let crc = crc32fast::hash(&fixed[..body]) as u16;
    fixed[body..].copy_from_slice(&crc.to_le_bytes());
    check_frame(codec.decode(&fixed, &FRAME_LIMITS));
}

fn check_frame<E>(decoded: Result<coinfer_compress::Feature, E>) {
    if let Ok(f) = decoded {
        assert_eq!(f.values.len(), f.shape.iter().product::<usize>(), "values vs shape");
        assert!(f.values.len() <= FRAME_LIMITS.max_elements, "limit ignored");
    }
}

/// How far an input got through [`onnx_import`], so a driver can tell whether its mutations
/// reach past the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// Not an ONNX model with a graph.
    Decode,
    /// Decoded, refused by analysis (with an error, as it should be).
    Analysis,
    /// Analysed and split at this many cuts.
    Cuts(usize),
}

/// Decodes `data` as an ONNX model and, if it is one, analyses it and splits it at every cut
/// point the analysis offers. Invariants: a cut offered can be made; the head of the first
/// and last cut analyses again with the cut tensor as its output; the sides' costs add up.
pub fn onnx_import(data: &[u8]) -> Reached {
    let Ok(model) = coinfer_graph::decode_model(data) else { return Reached::Decode };
    let Ok(graph) = Graph::analyse(model) else { return Reached::Analysis };
    let cuts = graph.cut_points();
    let (total_macs, total_params) = (graph.total_macs(), graph.total_param_bytes());
    for (i, cut) in cuts.iter().enumerate() {
        assert_eq!(cut.head_macs + cut.tail_macs, total_macs, "MACs of cut {i}");
        assert_eq!(cut.head_param_bytes + cut.tail_param_bytes, total_params, "params of cut {i}");
        let part = match graph.split(cut) {
            Ok(p) => p,
            Err(e) => panic!("cut {i} (`{}`) was offered but cannot be made: {e}", cut.tensor),
        };
        if i == 0 || i + 1 == cuts.len() {
            let head = Graph::analyse(part.head);
            let head = head.unwrap_or_else(|e| panic!("the head at cut {i} does not analyse: {e}"));
            assert!(head.tensor(&cut.tensor).is_some(), "head at cut {i} lost its output");
        }
    }
    Reached::Cuts(cuts.len())
}
