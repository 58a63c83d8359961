//! The input-compression baseline of split computing as a codec: the camera's own image
//! formats (PNG, lossless; JPEG at a quality), offloaded whole to run the full model at the
//! edge. Images are grey, `(1, 1, H, W)` with values in `[0, 1]` (8 bits on the wire).

use std::io::Cursor;

use coinfer_compress::{
    Codec, CodecError, DecodeLimits, Feature, FeatureCodec, FrameError, QuantRange, SessionEntropy,
};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, ImageFormat};

/// An image format setting of the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageCodec {
    /// Lossless PNG of the 8-bit image.
    Png,
    /// Baseline JPEG at this quality (1–100).
    Jpeg(u8),
}

impl ImageCodec {
    /// The settings a sweep evaluates.
    pub fn sweep() -> Vec<ImageCodec> {
        vec![
            ImageCodec::Png,
            ImageCodec::Jpeg(90),
            ImageCodec::Jpeg(75),
            ImageCodec::Jpeg(50),
            ImageCodec::Jpeg(25),
            ImageCodec::Jpeg(10),
        ]
    }

    /// Encodes one grey 8-bit image of `w × h` pixels.
    pub fn encode_pixels(self, pixels: &[u8], w: u32, h: u32) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        let written = match self {
            ImageCodec::Png => {
                PngEncoder::new(&mut out).write_image(pixels, w, h, ExtendedColorType::L8)
            }
            ImageCodec::Jpeg(q) => JpegEncoder::new_with_quality(&mut out, q).write_image(
                pixels,
                w,
                h,
                ExtendedColorType::L8,
            ),
        };
        written.map_err(|e| CodecError::Model(format!("{}: {e}", self.name())))?;
        Ok(out)
    }

    /// Decodes an image file into grey 8-bit pixels and its `(width, height)`.
    pub fn decode_pixels(self, bytes: &[u8]) -> Result<(Vec<u8>, u32, u32), CodecError> {
        let format = match self {
            ImageCodec::Png => ImageFormat::Png,
            ImageCodec::Jpeg(_) => ImageFormat::Jpeg,
        };
        let img = image::load(Cursor::new(bytes), format)
            .map_err(|e| CodecError::Frame(FrameError::Malformed(format!("{}: {e}", self.name()))))?
            .to_luma8();
        let (w, h) = img.dimensions();
        Ok((img.into_raw(), w, h))
    }
}

impl FeatureCodec for ImageCodec {
    fn name(&self) -> String {
        match self {
            ImageCodec::Png => "input-png".into(),
            ImageCodec::Jpeg(q) => format!("input-jpeg-q{q}"),
        }
    }

    fn encode(&self, x: &Feature) -> Result<Vec<u8>, CodecError> {
        let [1, 1, h, w] = x.shape[..] else {
            return Err(CodecError::Model(format!(
                "{} takes one grey image (1, 1, H, W), got {:?}",
                self.name(),
                x.shape
            )));
        };
        let (Ok(w32), Ok(h32)) = (u32::try_from(w), u32::try_from(h)) else {
            return Err(CodecError::Model(format!("image of {w} × {h} pixels")));
        };
        let pixels: Vec<u8> =
            x.values.iter().map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8).collect();
        self.encode_pixels(&pixels, w32, h32)
    }

    fn decode(&self, frame: &[u8], limits: &DecodeLimits) -> Result<Feature, CodecError> {
        if frame.len() > limits.max_frame_bytes {
            return Err(CodecError::Frame(FrameError::TooLarge {
                what: "frame bytes",
                value: frame.len(),
                limit: limits.max_frame_bytes,
            }));
        }
        let (pixels, w, h) = self.decode_pixels(frame)?;
        if pixels.len() > limits.max_elements {
            return Err(CodecError::Frame(FrameError::TooLarge {
                what: "elements",
                value: pixels.len(),
                limit: limits.max_elements,
            }));
        }
        let values = pixels.iter().map(|&p| p as f32 / 255.0).collect();
        Ok(Feature { shape: vec![1, 1, h as usize, w as usize], values })
    }
}

/// Training images an input session codec's entropy model is fitted on.
pub const INPUT_CALIBRATION_IMAGES: usize = 20_000;

/// The lossless codec a deployed edge-only plan sends the camera's 8-bit image with: the
/// pixels as 8-bit symbols (values in [0, 1], exact for 8-bit images), ANS coded with one
/// entropy model per pixel fitted on `images` training images of `data`, in session frames
/// (6 bytes beyond the payload). Unlike PNG or JPEG it runs on `coinfer edge serve` /
/// `device run` as a plan's codec.
pub fn input_session_codec(data: coinfer_data::DatasetName, images: usize) -> crate::Result<Codec> {
    let train = coinfer_data::load(data, coinfer_data::Split::Train)?.take(images);
    let mut samples = Vec::with_capacity(train.len());
    for (x, _) in train.batches(1000) {
        samples.extend(crate::features::sample_features(&x));
    }
    let range = QuantRange::PerTensor { lo: 0.0, hi: 1.0 };
    Codec::calibrate_session(8, range, &samples, SessionEntropy::PerElement).ok_or_else(|| {
        crate::PipelineError::Invalid("calibrating the input's entropy model failed".into())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn png_is_lossless_and_jpeg_is_close() {
        let pixels: Vec<u8> = (0..28 * 28).map(|i| ((i * 37) % 256) as u8).collect();
        let png = ImageCodec::Png.encode_pixels(&pixels, 28, 28).unwrap();
        assert_eq!(ImageCodec::Png.decode_pixels(&png).unwrap(), (pixels, 28, 28));
        let smooth: Vec<u8> = (0..28 * 28).map(|i| ((i % 28) * 9) as u8).collect();
        let jpg = ImageCodec::Jpeg(90).encode_pixels(&smooth, 28, 28).unwrap();
        let (back, _, _) = ImageCodec::Jpeg(90).decode_pixels(&jpg).unwrap();
        let err =
            smooth.iter().zip(&back).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
        assert!(err < 40, "max error {err}");
        assert!(ImageCodec::Jpeg(10).encode_pixels(&smooth, 28, 28).unwrap().len() < jpg.len());
    }

    #[test]
    fn as_a_feature_codec_it_round_trips_images_and_refuses_the_rest() {
        let x =
            Feature { shape: vec![1, 1, 4, 3], values: (0..12).map(|i| i as f32 / 11.0).collect() };
        let frame = ImageCodec::Png.encode(&x).unwrap();
        let back = ImageCodec::Png.decode(&frame, &DecodeLimits::default()).unwrap();
        assert_eq!(back.shape, x.shape);
        for (a, b) in x.values.iter().zip(&back.values) {
            assert!((a - b).abs() <= 0.5 / 255.0 + 1e-6, "{a} vs {b}");
        }
        let rgb = Feature { shape: vec![1, 3, 2, 2], values: vec![0.0; 12] };
        assert!(ImageCodec::Png.encode(&rgb).is_err(), "three channels are not grey");
        assert!(ImageCodec::Png.decode(b"not a png", &DecodeLimits::default()).is_err());
        let tiny = DecodeLimits { max_elements: 4, max_frame_bytes: 1 << 20 };
        assert!(ImageCodec::Png.decode(&frame, &tiny).is_err(), "12 pixels over a limit of 4");
    }

    #[test]
    fn the_input_session_codec_is_lossless_and_smaller_than_png_on_real_images() {
        let name = coinfer_data::DatasetName::FashionMnist;
        let codec = input_session_codec(name, 2000).unwrap();
        let test = coinfer_data::load(name, coinfer_data::Split::Test).unwrap().take(100);
        let (mut session, mut png) = (0, 0);
        for (x, _) in test.batches(100) {
            for f in crate::features::sample_features(&x) {
                let frame = coinfer_compress::FeatureCodec::encode(&codec, &f).unwrap();
                session += frame.len();
                png += ImageCodec::Png.encode(&f).unwrap().len();
                let back = codec.decode(&frame, &DecodeLimits::default()).unwrap();
                assert_eq!(back.shape, f.shape);
                for (a, b) in f.values.iter().zip(&back.values) {
                    assert_eq!(
                        (a * 255.0).round(),
                        (b * 255.0).round(),
                        "lossless on 8-bit pixels"
                    );
                }
            }
        }
        assert!(session < png, "per-pixel ANS {session} B vs PNG {png} B on 100 images");
    }
}
