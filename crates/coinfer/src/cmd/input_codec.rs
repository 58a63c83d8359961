//! The input-compression baseline of split computing: compress the image itself (PNG,
//! lossless; JPEG at several qualities), offload it whole and run the full model at the edge.

use std::io::Cursor;

use anyhow::{bail, Result};
use coinfer_data::Dataset;
use coinfer_engine::eval::first_output;
use coinfer_engine::{Runnable, Tensor};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, ImageFormat};

/// An image format setting of the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputCodec {
    /// Lossless PNG of the 8-bit image.
    Png,
    /// Baseline JPEG at this quality (1–100).
    Jpeg(u8),
}

impl InputCodec {
    /// The settings the sweep evaluates.
    pub fn sweep() -> Vec<InputCodec> {
        vec![
            InputCodec::Png,
            InputCodec::Jpeg(90),
            InputCodec::Jpeg(75),
            InputCodec::Jpeg(50),
            InputCodec::Jpeg(25),
            InputCodec::Jpeg(10),
        ]
    }

    /// Row name, e.g. `input-jpeg-q75`.
    pub fn name(self) -> String {
        match self {
            InputCodec::Png => "input-png".into(),
            InputCodec::Jpeg(q) => format!("input-jpeg-q{q}"),
        }
    }

    /// Encodes one grey 8-bit image.
    fn encode(self, pixels: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match self {
            InputCodec::Png => {
                PngEncoder::new(&mut out).write_image(pixels, w, h, ExtendedColorType::L8)?
            }
            InputCodec::Jpeg(q) => JpegEncoder::new_with_quality(&mut out, q).write_image(
                pixels,
                w,
                h,
                ExtendedColorType::L8,
            )?,
        }
        Ok(out)
    }

    fn decode(self, bytes: &[u8]) -> Result<Vec<u8>> {
        let format = match self {
            InputCodec::Png => ImageFormat::Png,
            InputCodec::Jpeg(_) => ImageFormat::Jpeg,
        };
        Ok(image::load(Cursor::new(bytes), format)?.to_luma8().into_raw())
    }
}

/// Accuracy and mean compressed bytes per image of the full model fed decoded images.
pub fn evaluate(codec: InputCodec, data: &Dataset, full: &dyn Runnable) -> Result<(f64, f64)> {
    let [c, h, w] = data.image_shape;
    if c != 1 {
        bail!("the input baseline handles grey images, got {c} channels");
    }
    let (mut correct, mut sent) = (0usize, 0usize);
    for (x, labels) in data.batches(500) {
        let mut decoded = Vec::with_capacity(x.len());
        for img in x.as_slice().unwrap_or_default().chunks(h * w) {
            let pixels: Vec<u8> =
                img.iter().map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8).collect();
            let bytes = codec.encode(&pixels, w as u32, h as u32)?;
            sent += bytes.len();
            decoded.extend(codec.decode(&bytes)?.iter().map(|&p| p as f32 / 255.0));
        }
        let x = Tensor::from_shape_vec(x.shape().to_vec(), decoded)?;
        correct += coinfer_data::top1_correct(&first_output(full.run(&[x])?)?, labels);
    }
    let n = data.len().max(1) as f64;
    Ok((correct as f64 / n, sent as f64 / n))
}

#[cfg(test)]
mod tests {
    use super::InputCodec;

    #[test]
    fn png_is_lossless_and_jpeg_is_close() {
        let pixels: Vec<u8> = (0..28 * 28).map(|i| ((i * 37) % 256) as u8).collect();
        let png = InputCodec::Png.encode(&pixels, 28, 28).unwrap();
        assert_eq!(InputCodec::Png.decode(&png).unwrap(), pixels);
        let smooth: Vec<u8> = (0..28 * 28).map(|i| ((i % 28) * 9) as u8).collect();
        let jpg = InputCodec::Jpeg(90).encode(&smooth, 28, 28).unwrap();
        let back = InputCodec::Jpeg(90).decode(&jpg).unwrap();
        let err =
            smooth.iter().zip(&back).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
        assert!(err < 40, "max error {err}");
        assert!(InputCodec::Jpeg(10).encode(&smooth, 28, 28).unwrap().len() < jpg.len());
    }
}
