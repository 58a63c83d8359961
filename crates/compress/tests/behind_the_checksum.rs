//! Corruption behind a valid checksum: each field of every frame kind is corrupted and the
//! CRC recomputed, so the decoders' own checks (not the CRC) must refuse the frame, each with
//! its specific error. A byte flipped on the wire is caught by the CRC; these are the frames
//! a buggy or hostile encoder writes.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use coinfer_compress::{decode_frame, Codec, DecodeLimits, Feature, FrameError, QuantRange};

/// The fields of a frame, by byte range (the layout documented in `frame.rs`).
struct Layout {
    rank: usize,
    params: std::ops::Range<usize>,
    payload: std::ops::Range<usize>,
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

fn layout(frame: &[u8]) -> Layout {
    let rank = frame[6] as usize;
    let p_len_at = 8 + 4 * rank;
    let params = p_len_at + 4..p_len_at + 4 + u32_at(frame, p_len_at);
    let n_len_at = params.end;
    let payload = n_len_at + 4..n_len_at + 4 + u32_at(frame, n_len_at);
    Layout { rank, params, payload }
}

/// Rebuilds a frame from its parts with a correct CRC.
fn rebuild(frame: &[u8], codec_id: u8, shape: &[u32], params: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = frame[..4].to_vec();
    out.extend([frame[4], codec_id, shape.len() as u8, 0]);
    shape.iter().for_each(|d| out.extend(d.to_le_bytes()));
    out.extend((params.len() as u32).to_le_bytes());
    out.extend(params);
    out.extend((payload.len() as u32).to_le_bytes());
    out.extend(payload);
    let crc = crc32fast::hash(&out);
    out.extend(crc.to_le_bytes());
    out
}

/// A frame's parts, editable.
struct Parts {
    codec_id: u8,
    shape: Vec<u32>,
    params: Vec<u8>,
    payload: Vec<u8>,
}

fn parts(frame: &[u8]) -> Parts {
    let l = layout(frame);
    Parts {
        codec_id: frame[5],
        shape: (0..l.rank).map(|i| u32_at(frame, 8 + 4 * i) as u32).collect(),
        params: frame[l.params].to_vec(),
        payload: frame[l.payload].to_vec(),
    }
}

/// `frame` with `edit` applied to its parts and the CRC recomputed.
fn corrupt(frame: &[u8], edit: impl FnOnce(&mut Parts)) -> Vec<u8> {
    let mut p = parts(frame);
    edit(&mut p);
    rebuild(frame, p.codec_id, &p.shape, &p.params, &p.payload)
}

fn feature() -> Feature {
    let shape = vec![1, 4, 6, 6];
    let values = (0..144).map(|i| ((i * 37) % 23) as f32 / 7.0 - 1.0).collect();
    Feature::new(shape, values).unwrap()
}

fn malformed(result: Result<Feature, FrameError>, needle: &str, what: &str) {
    match result {
        Err(FrameError::Malformed(m)) => {
            assert!(m.contains(needle), "{what}: `{needle}` not in `{m}`")
        }
        other => panic!("{what}: expected Malformed({needle}), got {other:?}"),
    }
}

/// Drops the payload's last byte.
fn shorter_payload(p: &mut Parts) {
    p.payload.pop();
}

/// Decodes `frame` with `edit` applied behind a fresh CRC; expects `Malformed` naming `needle`.
fn refuses(frame: &[u8], edit: impl FnOnce(&mut Parts), needle: &str, what: &str) {
    malformed(decode_frame(&corrupt(frame, edit), &DecodeLimits::default()), needle, what);
}

#[test]
fn rebuilt_frames_decode_as_before() {
    // The harness itself: an unchanged rebuild is the same frame.
    let x = feature();
    for codec in [
        Codec::RawF32,
        Codec::Uniform { bits: 4, range: QuantRange::PerTensor { lo: -1.0, hi: 3.0 } },
    ] {
        let frame = codec.encode(&x);
        assert_eq!(corrupt(&frame, |_| {}), frame);
    }
}

#[test]
fn raw_frames_check_payload_against_shape_and_codec() {
    let x = feature();
    let limits = DecodeLimits::default();
    for codec in [Codec::RawF32, Codec::RawF16] {
        let frame = codec.encode(&x);
        let what = format!("{codec:?}");
        refuses(&frame, |p| p.shape[3] = 7, "payload has", &what);
        refuses(&frame, shorter_payload, "payload has", &what);
        refuses(&frame, |p| p.shape.push(2), "payload has", &what);
        assert_eq!(
            decode_frame(&corrupt(&frame, |p| p.codec_id = 9), &limits),
            Err(FrameError::UnknownCodec(9))
        );
        // Declaring a rank past the limit is refused before the dims are read.
        let deep = corrupt(&frame, |p| p.shape = vec![1; 9]);
        assert!(matches!(
            decode_frame(&deep, &limits),
            Err(FrameError::TooLarge { what: "rank", .. })
        ));
    }
}

#[test]
fn uniform_frames_check_every_quantization_parameter() {
    let x = feature();
    let limits = DecodeLimits::default();
    let per_tensor = Codec::calibrate_uniform(4, false, std::slice::from_ref(&x)).unwrap();
    let per_channel = Codec::calibrate_uniform(5, true, std::slice::from_ref(&x)).unwrap();
    for codec in [per_tensor, per_channel] {
        let frame = codec.encode(&x);
        let what = format!("{codec:?}");
        // params: bits u8, per-channel u8, range count u32, (lo f32, hi f32) per range.
        for bits in [0u8, 17] {
            refuses(&frame, |p| p.params[0] = bits, "bits per value", &what);
        }
        refuses(&frame, |p| p.params[1] ^= 1, "quantization ranges", &what);
        refuses(
            &frame,
            |p| p.params[2..6].copy_from_slice(&0u32.to_le_bytes()),
            "quantization ranges",
            &what,
        );
        let swap = |p: &mut Parts| {
            let (lo, hi) = (p.params[6..10].to_vec(), p.params[10..14].to_vec());
            p.params[6..10].copy_from_slice(&hi);
            p.params[10..14].copy_from_slice(&lo);
        };
        refuses(&frame, swap, "range [", &what);
        let nan = |p: &mut Parts| p.params[6..10].copy_from_slice(&f32::NAN.to_le_bytes());
        refuses(&frame, nan, "range [NaN", &what);
        let inf = |p: &mut Parts| p.params[10..14].copy_from_slice(&f32::INFINITY.to_le_bytes());
        refuses(&frame, inf, "range [", &what);
        refuses(&frame, |p| p.params.push(0), "parameters length", &what);
        let short = corrupt(&frame, |p| {
            p.params.pop();
        });
        assert!(
            matches!(decode_frame(&short, &limits), Err(FrameError::Truncated { .. })),
            "{what}"
        );
        refuses(&frame, shorter_payload, "payload has", &what);
        refuses(&frame, |p| p.payload.push(0), "payload has", &what);
    }
}

#[test]
fn ans_frames_check_their_entropy_model_and_stream() {
    let x = feature();
    let limits = DecodeLimits::default();
    for bits in [3u8, 10] {
        // 3 bits: the small coder (16-bit words); 10 bits: the default coder (32-bit words).
        let codec = Codec::UniformAns { bits, range: QuantRange::PerTensor { lo: -1.0, hi: 3.0 } };
        let frame = codec.encode(&x);
        assert!(decode_frame(&frame, &limits).is_ok());
        let what = format!("{bits}-bit ANS");
        // params: the uniform parameters (14 bytes), then a u16 count per symbol.
        refuses(
            &frame,
            |p| {
                p.params.truncate(p.params.len() - 2);
            },
            "entropy model length",
            &what,
        );
        refuses(&frame, |p| p.params.extend([0, 0]), "entropy model length", &what);
        let zero_counts = |p: &mut Parts| p.params[14..].iter_mut().for_each(|b| *b = 0);
        refuses(&frame, zero_counts, "entropy model", &what);
        refuses(&frame, shorter_payload, "ANS payload is not a whole number", &what);
        // An empty stream is a valid ANS state (a constant feature may code to no words): it
        // decodes to the declared shape or is refused, never a panic.
        if let Ok(y) = decode_frame(&corrupt(&frame, |p| p.payload.clear()), &limits) {
            assert_eq!(y.values.len(), x.values.len(), "{what}");
        }
        let word = if bits <= 8 { 2 } else { 4 };
        refuses(
            &frame,
            |p| p.payload.extend(std::iter::repeat_n(0x55, word * 3)),
            "ANS payload",
            &what,
        );
        // Fewer symbols declared than coded: the stream has data left over.
        refuses(&frame, |p| p.shape[3] = 5, "ANS payload", &what);
        // Every 4-byte word of the stream replaced: whatever it decodes to, never a panic, and
        // a decoded feature keeps the declared shape.
        let p = parts(&frame);
        for i in (0..p.payload.len()).step_by(4) {
            let bad = corrupt(&frame, |p| {
                let end = (i + 4).min(p.payload.len());
                p.payload[i..end].iter_mut().for_each(|b| *b = !*b)
            });
            if let Ok(y) = decode_frame(&bad, &limits) {
                assert_eq!(y.shape, x.shape);
                assert_eq!(y.values.len(), x.values.len());
            }
        }
    }
}

#[test]
fn static_model_frames_are_refused_without_their_exact_model() {
    let calib: Vec<Feature> = (0..10).map(|_| feature()).collect();
    let range = QuantRange::PerTensor { lo: -1.0, hi: 3.0 };
    let codec = Codec::calibrate_entropy(3, range.clone(), &calib).unwrap();
    let frame = codec.encode(&calib[0]);
    let limits = DecodeLimits::default();
    assert!(codec.decode(&frame, &limits).is_ok());
    let fingerprint = u32_at(&frame, layout(&frame).params.start + 1) as u32;
    // params: bits u8, fingerprint u32.
    let other_print = corrupt(&frame, |p| p.params[1] ^= 0xff);
    assert!(
        matches!(codec.decode(&other_print, &limits), Err(FrameError::NeedsCodec { fingerprint: f }) if f != fingerprint)
    );
    let other_bits = corrupt(&frame, |p| p.params[0] = 4);
    assert_eq!(codec.decode(&other_bits, &limits), Err(FrameError::NeedsCodec { fingerprint }));
    let longer = corrupt(&frame, |p| p.params.push(0));
    assert_eq!(codec.decode(&longer, &limits), Err(FrameError::NeedsCodec { fingerprint }));
    assert!(matches!(
        codec.decode(&corrupt(&frame, |p| p.params.truncate(3)), &limits),
        Err(FrameError::Truncated { .. })
    ));
    malformed(codec.decode(&corrupt(&frame, shorter_payload), &limits), "ANS payload", "static");
    malformed(codec.decode(&corrupt(&frame, |p| p.shape[1] = 3), &limits), "ANS payload", "static");
    // Without the codec, a self-describing decoder says which model it needs.
    assert_eq!(decode_frame(&frame, &limits), Err(FrameError::NeedsCodec { fingerprint }));
}
