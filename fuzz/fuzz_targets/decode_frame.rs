//! Fuzzes the feature-frame decoder: any bytes must give a frame or an error, never a panic,
//! and never an allocation beyond the limits. Run: `cargo +nightly fuzz run decode_frame`.
#![no_main]

use coinfer_compress::{decode_frame, Codec, DecodeLimits, EntropyModel, QuantRange};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_elements: 1 << 16, max_frame_bytes: 1 << 20 };
    let _ = decode_frame(data, &limits);
    // The CRC would stop the fuzzer at the checksum: also try the input with its CRC fixed,
    // so the parameter and payload parsers behind it are explored too.
    if data.len() >= 4 {
        let mut fixed = data.to_vec();
        let body = fixed.len() - 4;
        let crc = crc32(&fixed[..body]);
        fixed[body..].copy_from_slice(&crc.to_le_bytes());
        if let Ok(f) = decode_frame(&fixed, &limits) {
            assert_eq!(f.values.len(), f.shape.iter().product::<usize>());
        }
        let codec = Codec::UniformAnsStatic {
            bits: 3,
            range: QuantRange::PerTensor { lo: 0.0, hi: 1.0 },
            model: EntropyModel { counts: vec![9, 7, 5, 3, 2, 1, 1, 1] },
        };
        let _ = codec.decode(&fixed, &limits);
    }
});

/// CRC-32 (IEEE), bitwise; the fuzz target avoids extra dependencies.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
