//! Writes the frame seeds of `fuzz/corpus/decode_frame`: one small valid frame per codec kind
//! (raw f32, f16, uniform per tensor and per channel, ANS with its histogram, ANS with a static
//! model), each a valid starting point for mutation. Run:
//! `cargo run -p coinfer-fuzz-targets --example seed_corpus`.

use coinfer_compress::{Codec, Feature, QuantRange};

fn main() -> std::io::Result<()> {
    let dir = coinfer_fuzz_targets::corpus::workspace_root().join("fuzz/corpus/decode_frame");
    std::fs::create_dir_all(&dir)?;
    let shape = vec![1, 3, 4, 4];
    let values: Vec<f32> = (0..48).map(|i| ((i * 29) % 17) as f32 / 16.0).collect();
    let x = Feature::new(shape, values).ok_or_else(|| std::io::Error::other("feature"))?;
    let per_tensor = QuantRange::PerTensor { lo: 0.0, hi: 1.0 };
    let per_channel = QuantRange::PerChannel { lo: vec![0.0, 0.1, 0.2], hi: vec![1.0, 0.9, 0.8] };
    let mut codecs = vec![
        ("raw-f32", Codec::RawF32),
        ("raw-f16", Codec::RawF16),
        ("uniform8-tensor", Codec::Uniform { bits: 8, range: per_tensor.clone() }),
        ("uniform4-channel", Codec::Uniform { bits: 4, range: per_channel }),
        ("uniform1-tensor", Codec::Uniform { bits: 1, range: per_tensor.clone() }),
        ("ans3-tensor", Codec::UniformAns { bits: 3, range: per_tensor.clone() }),
        ("ans12-tensor", Codec::UniformAns { bits: 12, range: per_tensor.clone() }),
    ];
    let samples = [x.clone()];
    let fitted = Codec::calibrate_entropy(3, per_tensor, &samples)
        .ok_or_else(|| std::io::Error::other("entropy calibration"))?;
    codecs.push(("ans3-static", fitted));
    for (name, codec) in codecs {
        std::fs::write(dir.join(format!("{name}.frame")), codec.encode(&x))?;
    }
    println!("wrote {}", dir.display());
    Ok(())
}
