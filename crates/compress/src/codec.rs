//! The codecs: raw float32, raw float16, and uniform quantization with bit packing.

use crate::frame::{write_frame, write_session_frame, FrameError, Reader};

/// A float32 feature tensor, row-major; for quantization the channel axis is axis 1
/// (`(batch, channels, ...)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, `len() == shape.iter().product()`.
    pub values: Vec<f32>,
}

impl Feature {
    /// A feature; `None` if the value count does not match the shape.
    pub fn new(shape: Vec<usize>, values: Vec<f32>) -> Option<Feature> {
        (shape.iter().product::<usize>() == values.len()).then_some(Feature { shape, values })
    }

    /// Bytes of the uncompressed float32 values.
    pub fn raw_bytes(&self) -> usize {
        4 * self.values.len()
    }
}

/// The clipping range of a uniform quantizer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum QuantRange {
    /// One `[lo, hi]` for the whole tensor.
    PerTensor {
        /// Lower clip.
        lo: f32,
        /// Upper clip.
        hi: f32,
    },
    /// One `[lo, hi]` per channel (axis 1).
    PerChannel {
        /// Lower clips, one per channel.
        lo: Vec<f32>,
        /// Upper clips, one per channel.
        hi: Vec<f32>,
    },
}

impl QuantRange {
    /// Lower and upper clips as vectors (one entry per tensor, or one per channel).
    fn bounds(&self) -> (Vec<f32>, Vec<f32>) {
        match self {
            QuantRange::PerTensor { lo, hi } => (vec![*lo], vec![*hi]),
            QuantRange::PerChannel { lo, hi } => (lo.clone(), hi.clone()),
        }
    }
}

/// A feature codec. Encoding writes a complete frame; decoding is [`crate::decode_frame`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Codec {
    /// Float32 values as they are (lossless).
    RawF32,
    /// IEEE half precision (relative error ≤ 2⁻¹¹ in the normal range).
    RawF16,
    /// `bits`-bit uniform quantization (1–16) of values clipped to `range`; the error of an
    /// in-range value is at most half a step, `(hi − lo) / (2·(2^bits − 1))`.
    Uniform {
        /// Bits per value.
        bits: u8,
        /// Clipping range(s).
        range: QuantRange,
    },
    /// [`Codec::Uniform`]'s symbols (1–12 bits), range-ANS coded with a categorical model fitted
    /// on the frame's own histogram (the histogram travels in the frame). Same error bound.
    UniformAns {
        /// Bits per value before entropy coding.
        bits: u8,
        /// Clipping range(s).
        range: QuantRange,
    },
    /// [`Codec::UniformAns`] with the range and the entropy model fitted once on calibration
    /// data and agreed out of band (a deployed codec configuration), so frames carry only the
    /// bit width and the model's fingerprint: the right codec for small features, where a
    /// per-frame histogram would cost more than the payload. Decode with [`Codec::decode`].
    UniformAnsStatic {
        /// Bits per value before entropy coding (1–12).
        bits: u8,
        /// Clipping range(s).
        range: QuantRange,
        /// The agreed entropy model.
        model: EntropyModel,
    },
}

/// Bits of the codec's static entropy model, for [`Codec::UniformAnsStatic`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EntropyModel {
    /// Symbol histogram scaled into u16 (one entry per quantization level).
    pub counts: Vec<u16>,
    /// Shape of one sample (the dims after the batch) the model was calibrated on. When set,
    /// frames are compact session frames ([`crate::frame`]): the shape, ranges and model are
    /// agreed once, so a frame carries its sample count, payload and checks only (6 bytes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample_shape: Vec<usize>,
    /// One histogram per element of a sample (row-major over `sample_shape`, each smoothed
    /// toward `counts`), or with `channel_context` one per element and symbol of the same
    /// position in the previous channel (`element · levels + context`); empty: every element
    /// uses `counts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_element: Vec<Vec<u16>>,
    /// Whether `per_element` is conditioned on the previous channel's symbol at the same
    /// position (channel 0: context 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub channel_context: bool,
    /// `per_element` as coder models, built on first use (a frame would otherwise rebuild
    /// hundreds of them): make a changed model with [`EntropyModel::new`] rather than by
    /// editing a used one's fields.
    #[serde(skip)]
    built: std::sync::OnceLock<Result<Vec<crate::entropy::SmallModel>, FrameError>>,
    /// [`EntropyModel::fingerprint`], computed on first use (it hashes every histogram).
    #[serde(skip)]
    fingerprint: std::sync::OnceLock<u32>,
}

impl PartialEq for EntropyModel {
    fn eq(&self, other: &Self) -> bool {
        (&self.counts, &self.sample_shape, &self.per_element, self.channel_context)
            == (&other.counts, &other.sample_shape, &other.per_element, other.channel_context)
    }
}

impl Eq for EntropyModel {}

/// The entropy model of a session codec ([`Codec::calibrate_session`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEntropy {
    /// One model for every symbol.
    Shared,
    /// One model per element of a sample (channel × position); codes of at most 8 bits.
    PerElement,
    /// One model per element and previous channel's symbol at that position; codes of at
    /// most 4 bits.
    ChannelContext,
}

impl EntropyModel {
    /// CRC-32 of the model (counts, and the sample shape and per-element histograms when
    /// set): frames carry it so a decoder with another model refuses.
    pub fn fingerprint(&self) -> u32 {
        *self.fingerprint.get_or_init(|| self.hash())
    }

    fn hash(&self) -> u32 {
        let mut bytes: Vec<u8> = self.counts.iter().flat_map(|c| c.to_le_bytes()).collect();
        if !self.sample_shape.is_empty() || !self.per_element.is_empty() {
            bytes.extend(self.sample_shape.iter().flat_map(|&d| (d as u32).to_le_bytes()));
            bytes.extend(self.per_element.iter().flatten().flat_map(|c| c.to_le_bytes()));
            bytes.push(u8::from(self.channel_context));
        }
        crc32fast::hash(&bytes)
    }

    /// Whether a feature of `shape` goes in a session frame: a sample shape is agreed, the
    /// feature has it after a batch of 1–255 samples (and no per-element models, or one per
    /// element of that shape).
    fn is_session_shape(&self, shape: &[usize]) -> bool {
        !self.sample_shape.is_empty()
            && shape.get(1..) == Some(&self.sample_shape[..])
            && (1..=255).contains(&shape[0])
            && (self.per_element.is_empty() || self.per_element.len() == self.models())
    }

    /// Elements in one sample (1 when no sample shape is agreed).
    fn sample_len(&self) -> usize {
        self.sample_shape.iter().product::<usize>().max(1)
    }

    /// A model of these parts (no coder models built yet).
    pub fn new(
        counts: Vec<u16>,
        sample_shape: Vec<usize>,
        per_element: Vec<Vec<u16>>,
        channel_context: bool,
    ) -> EntropyModel {
        EntropyModel {
            counts,
            sample_shape,
            per_element,
            channel_context,
            built: std::sync::OnceLock::new(),
            fingerprint: std::sync::OnceLock::new(),
        }
    }

    fn coder_models(&self) -> Result<&[crate::entropy::SmallModel], FrameError> {
        let built = self.built.get_or_init(|| crate::entropy::small_models(&self.per_element));
        built.as_deref().map_err(Clone::clone)
    }

    /// Models `per_element` must hold: one per element, times the levels with a channel
    /// context.
    fn models(&self) -> usize {
        let contexts = if self.channel_context { self.counts.len() } else { 1 };
        self.sample_len() * contexts
    }

    /// The model of symbol `i` of a frame, given the symbols before it.
    fn model_index(&self, i: usize, symbols: &[u32]) -> usize {
        let e = i % self.sample_len();
        if !self.channel_context {
            return e;
        }
        let levels = self.counts.len();
        let inner = self.sample_shape.iter().skip(1).product::<usize>().max(1);
        let context =
            if e >= inner { symbols.get(i - inner).map_or(0, |&s| s as usize) } else { 0 };
        e * levels + context.min(levels.saturating_sub(1))
    }

    fn encode(&self, symbols: &[u32]) -> Vec<u8> {
        if self.per_element.is_empty() {
            crate::entropy::encode_symbols(symbols, &self.counts)
        } else {
            let Ok(models) = self.coder_models() else { return vec![] };
            let index = |i, s: &[u32]| self.model_index(i, s);
            crate::entropy::encode_symbols_indexed(symbols, models, index)
        }
    }

    fn decode(&self, payload: &[u8], n: usize) -> Result<Vec<u32>, FrameError> {
        if self.per_element.is_empty() {
            return crate::entropy::decode_symbols(payload, &self.counts, n);
        }
        if self.per_element.len() != self.models() {
            return Err(FrameError::Malformed(format!(
                "codec has {} per-element models, its samples need {}",
                self.per_element.len(),
                self.models()
            )));
        }
        let index = |i, s: &[u32]| self.model_index(i, s);
        crate::entropy::decode_symbols_indexed(payload, self.coder_models()?, n, index)
    }
}

const RAW_F32: u8 = 0;
const RAW_F16: u8 = 1;
const UNIFORM: u8 = 2;
const UNIFORM_ANS: u8 = 3;
const UNIFORM_ANS_STATIC: u8 = 4;

/// Channel count and inner size (product of dims after axis 1) of a shape.
fn channel_layout(shape: &[usize]) -> (usize, usize) {
    let channels = shape.get(1).copied().unwrap_or(1).max(1);
    let inner = shape.iter().skip(2).product::<usize>().max(1);
    (channels, inner)
}

impl Codec {
    /// A uniform quantizer whose ranges are the min/max of the calibration features.
    pub fn calibrate_uniform(bits: u8, per_channel: bool, samples: &[Feature]) -> Option<Codec> {
        let first = samples.first()?;
        if !(1..=16).contains(&bits) {
            return None;
        }
        let (channels, inner) = channel_layout(&first.shape);
        let n = if per_channel { channels } else { 1 };
        let (mut lo, mut hi) = (vec![f32::INFINITY; n], vec![f32::NEG_INFINITY; n]);
        for s in samples {
            for (i, &v) in s.values.iter().enumerate().filter(|(_, v)| v.is_finite()) {
                let c = if per_channel { (i / inner) % channels } else { 0 };
                lo[c] = lo[c].min(v);
                hi[c] = hi[c].max(v);
            }
        }
        for (l, h) in lo.iter_mut().zip(hi.iter_mut()) {
            if !l.is_finite() {
                (*l, *h) = (0.0, 0.0);
            }
        }
        let range = if per_channel {
            QuantRange::PerChannel { lo, hi }
        } else {
            QuantRange::PerTensor { lo: lo[0], hi: hi[0] }
        };
        Some(Codec::Uniform { bits, range })
    }

    /// [`Codec::UniformAnsStatic`] with its entropy model fitted on the symbols of the
    /// calibration features; `None` for an empty calibration set or bits outside 1–12.
    pub fn calibrate_entropy(bits: u8, range: QuantRange, samples: &[Feature]) -> Option<Codec> {
        if samples.is_empty() || !(1..=crate::entropy::MAX_ENTROPY_BITS).contains(&bits) {
            return None;
        }
        let counts = crate::entropy::scaled_counts(&symbols_of(samples, bits, &range), 1 << bits);
        let model = EntropyModel::new(counts, vec![], vec![], false);
        Some(Codec::UniformAnsStatic { bits, range, model })
    }

    /// A session codec: [`Codec::UniformAnsStatic`] whose sample shape (the calibration
    /// features' dims after the batch, which must all agree) is agreed with the model, so its
    /// frames are compact session frames, with the `entropy` model (per-element models need
    /// at most 8 bits, channel contexts at most 4: wider codes keep one shared model).
    /// `None` for an empty calibration set, mixed sample shapes or bits outside 1–12.
    pub fn calibrate_session(
        bits: u8,
        range: QuantRange,
        samples: &[Feature],
        entropy: SessionEntropy,
    ) -> Option<Codec> {
        let sample_shape = samples.first()?.shape.get(1..)?.to_vec();
        if samples.iter().any(|s| s.shape.get(1..) != Some(sample_shape.as_slice())) {
            return None;
        }
        if !(1..=crate::entropy::MAX_ENTROPY_BITS).contains(&bits) {
            return None;
        }
        // The symbols are quantized once: the shared histogram and the per-element ones.
        let symbols = symbols_of(samples, bits, &range);
        let counts = crate::entropy::scaled_counts(&symbols, 1 << bits);
        let channel_context = entropy == SessionEntropy::ChannelContext && bits <= 4;
        let mut model = EntropyModel::new(counts, sample_shape, vec![], channel_context);
        let per_element = match entropy {
            SessionEntropy::Shared => false,
            SessionEntropy::PerElement => bits <= crate::entropy::SMALL_CODER_MAX_BITS,
            SessionEntropy::ChannelContext => bits <= 4,
        };
        if per_element {
            let index = |i, s: &[u32]| model.model_index(i, s);
            let counts = &model.counts;
            let per = crate::entropy::indexed_counts(&symbols, model.models(), index, counts);
            model.per_element = per;
        }
        Some(Codec::UniformAnsStatic { bits, range, model })
    }

    /// Decodes a frame made by this codec. Self-describing frames decode as with
    /// [`crate::decode_frame`]; [`Codec::UniformAnsStatic`] frames need this codec's model.
    pub fn decode(
        &self,
        bytes: &[u8],
        limits: &crate::DecodeLimits,
    ) -> Result<Feature, FrameError> {
        if let Some(session) = crate::frame::parse_session_frame(bytes, limits) {
            return self.decode_session(session?, limits);
        }
        let f = crate::frame::parse_frame(bytes, limits)?;
        if f.codec_id != UNIFORM_ANS_STATIC {
            let values =
                Codec::decode_payload(f.codec_id, &f.shape, f.elements, f.params, f.payload)?;
            return Ok(Feature { shape: f.shape, values });
        }
        let mut r = Reader::new(f.params);
        let (bits, fingerprint) = (r.u8()?, r.u32()?);
        let Codec::UniformAnsStatic { bits: own_bits, range, model } = self else {
            return Err(FrameError::NeedsCodec { fingerprint });
        };
        if bits != *own_bits || fingerprint != model.fingerprint() || r.remaining() != 0 {
            return Err(FrameError::NeedsCodec { fingerprint });
        }
        let (lo, hi) = range.bounds();
        let per_channel = matches!(range, QuantRange::PerChannel { .. });
        let (channels, _) = channel_layout(&f.shape);
        if per_channel && lo.len() != channels {
            return Err(FrameError::Malformed(format!(
                "frame has {channels} channels, the codec's ranges {}",
                lo.len()
            )));
        }
        let ranges: Vec<(f32, f32)> = lo.into_iter().zip(hi).collect();
        if !model.sample_shape.is_empty() && f.shape.get(1..) != Some(&model.sample_shape[..]) {
            return Err(FrameError::Malformed(format!(
                "frame shape {:?}, the codec's samples {:?}",
                f.shape, model.sample_shape
            )));
        }
        let symbols = model.decode(f.payload, f.elements)?;
        let values = dequantize(&symbols, bits, per_channel, &ranges, &f.shape);
        Ok(Feature { shape: f.shape, values })
    }

    /// Decodes a checked session frame with this codec's agreed shape and model.
    fn decode_session(
        &self,
        f: crate::frame::SessionFrame<'_>,
        limits: &crate::DecodeLimits,
    ) -> Result<Feature, FrameError> {
        let fingerprint = u32::from(f.fingerprint);
        let Codec::UniformAnsStatic { bits, range, model } = self else {
            return Err(FrameError::NeedsCodec { fingerprint });
        };
        if model.sample_shape.is_empty() || model.fingerprint() as u16 != f.fingerprint {
            return Err(FrameError::NeedsCodec { fingerprint });
        }
        let elements = f.samples.saturating_mul(model.sample_len());
        if elements > limits.max_elements {
            return Err(FrameError::TooLarge {
                what: "elements",
                value: elements,
                limit: limits.max_elements,
            });
        }
        let shape: Vec<usize> =
            std::iter::once(f.samples).chain(model.sample_shape.iter().copied()).collect();
        let (lo, hi) = range.bounds();
        let per_channel = matches!(range, QuantRange::PerChannel { .. });
        if per_channel && lo.len() != channel_layout(&shape).0 {
            return Err(FrameError::Malformed("the codec's ranges do not fit its shape".into()));
        }
        let ranges: Vec<(f32, f32)> = lo.into_iter().zip(hi).collect();
        let symbols = model.decode(f.payload, elements)?;
        let values = dequantize(&symbols, *bits, per_channel, &ranges, &shape);
        Ok(Feature { shape, values })
    }

    /// Bytes a frame of this codec spends beyond its payload for a feature of `shape`
    /// (header, codec parameters, check): 6 for a session frame, else the full frame's
    /// `20 + 4·rank + parameters`.
    pub fn frame_overhead(&self, shape: &[usize]) -> usize {
        let ranges = |range: &QuantRange| 2 + 4 + 8 * range.bounds().0.len();
        let params = match self {
            Codec::UniformAnsStatic { model, .. } if model.is_session_shape(shape) => {
                return crate::frame::SESSION_FRAME_OVERHEAD;
            }
            Codec::RawF32 | Codec::RawF16 => 0,
            Codec::Uniform { range, .. } => ranges(range),
            Codec::UniformAns { bits, range } => {
                ranges(range) + (2 << (*bits).min(crate::entropy::MAX_ENTROPY_BITS))
            }
            Codec::UniformAnsStatic { .. } => 5,
        };
        20 + 4 * shape.len() + params
    }

    /// Encodes `x` into a frame.
    pub fn encode(&self, x: &Feature) -> Vec<u8> {
        match self {
            Codec::RawF32 => {
                let payload: Vec<u8> = x.values.iter().flat_map(|v| v.to_le_bytes()).collect();
                write_frame(RAW_F32, &x.shape, &[], &payload)
            }
            Codec::RawF16 => {
                let payload: Vec<u8> =
                    x.values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
                write_frame(RAW_F16, &x.shape, &[], &payload)
            }
            Codec::Uniform { bits, range } => {
                let (params, symbols) = quantize(x, *bits, range);
                let mut packer = BitPacker::new(symbols.len(), *bits);
                symbols.iter().for_each(|&q| packer.push(q));
                write_frame(UNIFORM, &x.shape, &params, &packer.finish())
            }
            Codec::UniformAns { bits, range } => {
                let bits = (*bits).min(crate::entropy::MAX_ENTROPY_BITS);
                let (mut params, symbols) = quantize(x, bits, range);
                let counts = crate::entropy::scaled_counts(&symbols, 1 << bits);
                params.extend(counts.iter().flat_map(|c| c.to_le_bytes()));
                let payload = crate::entropy::encode_symbols(&symbols, &counts);
                write_frame(UNIFORM_ANS, &x.shape, &params, &payload)
            }
            Codec::UniformAnsStatic { bits, range, model } => {
                let (_, symbols) = quantize(x, *bits, range);
                let payload = model.encode(&symbols);
                if model.is_session_shape(&x.shape) {
                    let samples = x.shape[0] as u8;
                    return write_session_frame(samples, model.fingerprint(), &payload);
                }
                let mut params = vec![*bits];
                params.extend(model.fingerprint().to_le_bytes());
                write_frame(UNIFORM_ANS_STATIC, &x.shape, &params, &payload)
            }
        }
    }

    /// Decodes a payload (after the frame checks); `elements` is the product of `shape`.
    pub(crate) fn decode_payload(
        codec_id: u8,
        shape: &[usize],
        elements: usize,
        params: &[u8],
        payload: &[u8],
    ) -> Result<Vec<f32>, FrameError> {
        let expect_len = |n: usize| {
            if payload.len() == n {
                Ok(())
            } else {
                Err(FrameError::Malformed(format!(
                    "payload has {} bytes, shape {shape:?} needs {n}",
                    payload.len()
                )))
            }
        };
        match codec_id {
            RAW_F32 => {
                expect_len(elements.saturating_mul(4))?;
                Ok(payload
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect())
            }
            RAW_F16 => {
                expect_len(elements.saturating_mul(2))?;
                Ok(payload
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect())
            }
            UNIFORM | UNIFORM_ANS => {
                let mut r = Reader::new(params);
                let (bits, per_channel, ranges) = read_ranges(&mut r, shape)?;
                let symbols = if codec_id == UNIFORM {
                    if r.remaining() != 0 {
                        return Err(FrameError::Malformed("quantization parameters length".into()));
                    }
                    expect_len(elements.saturating_mul(bits as usize).div_ceil(8))?;
                    let mut unpacker = BitUnpacker::new(payload, bits);
                    (0..elements).map(|_| unpacker.next()).collect()
                } else {
                    if bits > crate::entropy::MAX_ENTROPY_BITS || r.remaining() != 2 << bits {
                        return Err(FrameError::Malformed("entropy model length".into()));
                    }
                    let counts: Vec<u16> = r
                        .take(2 << bits)?
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .collect();
                    crate::entropy::decode_symbols(payload, &counts, elements)?
                };
                Ok(dequantize(&symbols, bits, per_channel, &ranges, shape))
            }
            UNIFORM_ANS_STATIC => {
                let fingerprint =
                    Reader::new(params.get(1..).unwrap_or_default()).u32().unwrap_or(0);
                Err(FrameError::NeedsCodec { fingerprint })
            }
            other => Err(FrameError::UnknownCodec(other)),
        }
    }
}

/// The symbols of every calibration sample, laid end to end.
fn symbols_of(samples: &[Feature], bits: u8, range: &QuantRange) -> Vec<u32> {
    samples.iter().flat_map(|s| quantize(s, bits, range).1).collect()
}

/// Quantization parameters (bits, mode, ranges) and the symbols of `x`.
fn quantize(x: &Feature, bits: u8, range: &QuantRange) -> (Vec<u8>, Vec<u32>) {
    let (channels, inner) = channel_layout(&x.shape);
    let (lo, hi) = range.bounds();
    let per_channel = matches!(range, QuantRange::PerChannel { .. });
    let levels = ((1u32 << bits) - 1) as f32;
    let mut params = vec![bits, u8::from(per_channel)];
    params.extend_from_slice(&(lo.len() as u32).to_le_bytes());
    for (l, h) in lo.iter().zip(&hi) {
        params.extend_from_slice(&l.to_le_bytes());
        params.extend_from_slice(&h.to_le_bytes());
    }
    // Chunked by channel so the inner loop is a multiply-add per value (no division).
    let mut symbols = Vec::with_capacity(x.values.len());
    let block = if per_channel { inner } else { x.values.len().max(1) };
    for (k, chunk) in x.values.chunks(block).enumerate() {
        let c = if per_channel { (k % channels).min(lo.len().max(1) - 1) } else { 0 };
        let (l, h) = (lo.get(c).copied().unwrap_or(0.0), hi.get(c).copied().unwrap_or(0.0));
        if h > l {
            let scale = levels / (h - l);
            // v is clamped to [l, h], so (v − l)·scale + ½ lies in [½, levels + ½]: truncation
            // rounds to nearest. NaN becomes 0 through the saturating cast.
            symbols.extend(chunk.iter().map(|&v| ((v.clamp(l, h) - l) * scale + 0.5) as u32));
        } else {
            symbols.extend(std::iter::repeat_n(0, chunk.len()));
        }
    }
    (params, symbols)
}

/// Quantization parameters as read from a frame: bits, per-channel flag, `(lo, hi)` ranges.
type QuantParams = (u8, bool, Vec<(f32, f32)>);

/// Reads and checks the quantization parameters.
fn read_ranges(r: &mut Reader, shape: &[usize]) -> Result<QuantParams, FrameError> {
    let bits = r.u8()?;
    let per_channel = r.u8()? != 0;
    let n = r.u32()? as usize;
    if !(1..=16).contains(&bits) {
        return Err(FrameError::Malformed(format!("{bits} bits per value (1-16)")));
    }
    let (channels, _) = channel_layout(shape);
    if n == 0 || (per_channel && n != channels) || (!per_channel && n != 1) {
        return Err(FrameError::Malformed(format!(
            "{n} quantization ranges for {channels} channels"
        )));
    }
    let mut ranges = Vec::with_capacity(n);
    for _ in 0..n {
        let (l, h) = (r.f32()?, r.f32()?);
        if !(l.is_finite() && h.is_finite() && l <= h) {
            return Err(FrameError::Malformed(format!("range [{l}, {h}]")));
        }
        ranges.push((l, h));
    }
    Ok((bits, per_channel, ranges))
}

fn dequantize(
    symbols: &[u32],
    bits: u8,
    per_channel: bool,
    ranges: &[(f32, f32)],
    shape: &[usize],
) -> Vec<f32> {
    let (channels, inner) = channel_layout(shape);
    let levels = (1u32 << bits) - 1;
    let block = if per_channel { inner } else { symbols.len().max(1) };
    let mut out = Vec::with_capacity(symbols.len());
    for (k, chunk) in symbols.chunks(block).enumerate() {
        let (l, h) = ranges[if per_channel { k % channels } else { 0 }];
        let step = (h - l) / levels as f32;
        out.extend(chunk.iter().map(|&q| l + q.min(levels) as f32 * step));
    }
    out
}

/// LSB-first bit packing of `bits`-bit codes; hand-written (a few lines with a u64
/// accumulator; no dependency needed).
struct BitPacker {
    out: Vec<u8>,
    acc: u64,
    filled: u32,
    bits: u32,
}

impl BitPacker {
    fn new(n: usize, bits: u8) -> Self {
        BitPacker {
            out: Vec::with_capacity((n * bits as usize).div_ceil(8)),
            acc: 0,
            filled: 0,
            bits: bits as u32,
        }
    }

    fn push(&mut self, q: u32) {
        self.acc |= (q as u64) << self.filled;
        self.filled += self.bits;
        while self.filled >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.filled -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.filled > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

struct BitUnpacker<'a> {
    bytes: &'a [u8],
    pos: usize,
    acc: u64,
    filled: u32,
    bits: u32,
}

impl<'a> BitUnpacker<'a> {
    fn new(bytes: &'a [u8], bits: u8) -> Self {
        BitUnpacker { bytes, pos: 0, acc: 0, filled: 0, bits: bits as u32 }
    }

    fn next(&mut self) -> u32 {
        while self.filled < self.bits {
            let b = self.bytes.get(self.pos).copied().unwrap_or(0);
            self.acc |= (b as u64) << self.filled;
            self.pos += 1;
            self.filled += 8;
        }
        let q = (self.acc & ((1u64 << self.bits) - 1)) as u32;
        self.acc >>= self.bits;
        self.filled -= self.bits;
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode_frame, DecodeLimits, FrameError};
    use proptest::prelude::*;

    fn feature(shape: Vec<usize>, f: impl Fn(usize) -> f32) -> Feature {
        let n = shape.iter().product();
        Feature::new(shape, (0..n).map(f).collect()).unwrap()
    }

    proptest! {
        #[test]
        fn raw_f32_is_bit_exact(values in proptest::collection::vec(any::<f32>(), 1..200)) {
            let x = Feature::new(vec![values.len()], values).unwrap();
            let y = decode_frame(&Codec::RawF32.encode(&x), &DecodeLimits::default()).unwrap();
            prop_assert_eq!(x.shape, y.shape);
            prop_assert_eq!(x.values.len(), y.values.len());
            prop_assert!(x.values.iter().zip(&y.values).all(|(a, b)| a.to_bits() == b.to_bits()));
        }

        #[test]
        fn uniform_error_within_half_a_step(
            values in proptest::collection::vec(-50.0f32..50.0, 2..300),
            bits in 1u8..=16,
        ) {
            let x = Feature::new(vec![1, 1, values.len()], values).unwrap();
            let codec = Codec::calibrate_uniform(bits, false, std::slice::from_ref(&x)).unwrap();
            let Codec::Uniform { range: QuantRange::PerTensor { lo, hi }, .. } = codec.clone() else { unreachable!() };
            let frame = codec.encode(&x);
            let y = decode_frame(&frame, &DecodeLimits::default()).unwrap();
            let step = (hi - lo) / ((1u32 << bits) - 1) as f32;
            prop_assert_eq!(&x.shape, &y.shape);
            prop_assert_eq!(x.values.len(), y.values.len());
            for (a, b) in x.values.iter().zip(&y.values) {
                prop_assert!(b.is_finite(), "decoded {}", b);
                // Half a step, plus float32 rounding at the range's magnitude.
                let rounding = 8.0 * f32::EPSILON * lo.abs().max(hi.abs());
                prop_assert!((a - b).abs() <= 0.5 * step + rounding, "{} vs {} (step {})", a, b, step);
            }
            // Header (8) + 3 dims (12) + params length (4) + params (2 + 4 + 8) + payload
            // length (4) + payload ceil(n·bits/8) + CRC (4).
            let n = x.values.len();
            prop_assert_eq!(frame.len(), 46 + (n * bits as usize).div_ceil(8));
        }
    }

    #[test]
    fn fp16_and_per_channel_round_trips() {
        let x = feature(vec![2, 3, 4, 4], |i| {
            ((i * 37) % 101) as f32 / 7.0 - 5.0 + (i % 3) as f32 * 100.0
        });
        let y = decode_frame(&Codec::RawF16.encode(&x), &DecodeLimits::default()).unwrap();
        assert!(x
            .values
            .iter()
            .zip(&y.values)
            .all(|(a, b)| (a - b).abs() <= a.abs() * 1e-3 + 1e-3));
        let per_ch = Codec::calibrate_uniform(8, true, std::slice::from_ref(&x)).unwrap();
        let per_t = Codec::calibrate_uniform(8, false, std::slice::from_ref(&x)).unwrap();
        let err = |c: &Codec| {
            let y = decode_frame(&c.encode(&x), &DecodeLimits::default()).unwrap();
            let loose = coinfer_approx::Approximation::OfScale(f32::MAX);
            let agreement = coinfer_approx::compare_slices(&x.values, &y.values, loose);
            agreement.unwrap_or_else(|m| panic!("{m}")).max_abs_diff
        };
        assert!(err(&per_ch) <= err(&per_t) + 1e-6, "per-channel ranges are never worse here");
    }

    #[test]
    fn entropy_coding_is_lossless_on_the_symbols_and_smaller_on_sparse_features() {
        // A ReLU-like feature: 80 % zeros, the rest spread out.
        let x = feature(vec![1, 16, 14, 14], |i| {
            let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            if h.is_multiple_of(5) {
                (h % 1000) as f32 / 100.0
            } else {
                0.0
            }
        });
        let limits = DecodeLimits::default();
        for bits in [1u8, 2, 4, 8, 12] {
            let Codec::Uniform { range, .. } =
                Codec::calibrate_uniform(bits, false, std::slice::from_ref(&x)).unwrap()
            else {
                unreachable!()
            };
            let packed = Codec::Uniform { bits, range: range.clone() }.encode(&x);
            let ans = Codec::UniformAns { bits, range }.encode(&x);
            let a = decode_frame(&packed, &limits).unwrap();
            let b = decode_frame(&ans, &limits).unwrap();
            assert_eq!(a, b, "{bits} bits: entropy coding must not change the decoded values");
            // The histogram (2·2^bits bytes) travels in the frame, so at 12 bits it outweighs
            // the gain on a feature this small.
            if (4..=8).contains(&bits) {
                assert!(
                    ans.len() < packed.len(),
                    "{bits} bits: ANS {} vs packed {}",
                    ans.len(),
                    packed.len()
                );
            }
        }
    }

    #[test]
    fn corrupt_frames_are_rejected_without_panic() {
        let x = feature(vec![1, 4, 8, 8], |i| i as f32 * 0.01);
        let limits = DecodeLimits::default();
        let codecs = [
            Codec::RawF32,
            Codec::RawF16,
            Codec::calibrate_uniform(4, true, std::slice::from_ref(&x)).unwrap(),
        ];
        for codec in &codecs {
            let frame = codec.encode(&x);
            for cut in 0..frame.len() {
                assert!(
                    decode_frame(&frame[..cut], &limits).is_err(),
                    "{codec:?} truncated at {cut}"
                );
            }
            for i in 0..frame.len() {
                let mut bad = frame.clone();
                bad[i] ^= 0x5a;
                assert!(decode_frame(&bad, &limits).is_err(), "{codec:?} flipped byte {i}");
            }
            let mut long = frame.clone();
            long.push(0);
            assert_eq!(decode_frame(&long, &limits), Err(FrameError::TrailingBytes { extra: 1 }));
        }
        // A forged header declaring a huge shape is refused before any allocation.
        let mut forged = b"CFRM\x01\x00\x02\x00".to_vec();
        forged.extend(u32::MAX.to_le_bytes());
        forged.extend(u32::MAX.to_le_bytes());
        assert!(matches!(
            decode_frame(&forged, &limits),
            Err(FrameError::TooLarge { what: "elements", .. })
        ));
        let mut v2 = codecs[0].encode(&x);
        v2[4] = 2;
        assert_eq!(decode_frame(&v2, &limits), Err(FrameError::UnsupportedVersion(2)));
        assert_eq!(decode_frame(b"NOPE\x01\x00\x00\x00", &limits), Err(FrameError::BadMagic));
        let small = DecodeLimits { max_elements: 10, max_frame_bytes: 1 << 20 };
        assert!(matches!(
            decode_frame(&codecs[0].encode(&x), &small),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn static_entropy_model_round_trips_and_guards_its_fingerprint() {
        let calib: Vec<Feature> = (0..20)
            .map(|k| feature(vec![1, 2, 7, 7], |i| ((i * 13 + k) % 17) as f32 / 16.0))
            .collect();
        let range = QuantRange::PerTensor { lo: 0.0, hi: 1.0 };
        let codec = Codec::calibrate_entropy(3, range.clone(), &calib).unwrap();
        let x = &calib[3];
        let frame = codec.encode(x);
        let y = codec.decode(&frame, &DecodeLimits::default()).unwrap();
        assert_eq!(y.shape, x.shape);
        let step = 1.0 / 7.0;
        assert!(x.values.iter().zip(&y.values).all(|(a, b)| (a - b).abs() <= step / 2.0 + 1e-6));
        // Smaller than the self-describing variant, which carries its histogram.
        let own = Codec::UniformAns { bits: 3, range: range.clone() }.encode(x);
        assert!(frame.len() < own.len(), "{} vs {}", frame.len(), own.len());
        // Without the model, or with another one: a clear error.
        assert!(matches!(
            decode_frame(&frame, &DecodeLimits::default()),
            Err(FrameError::NeedsCodec { .. })
        ));
        let other = Codec::calibrate_entropy(3, range, &calib[..1]).unwrap();
        assert!(matches!(
            other.decode(&frame, &DecodeLimits::default()),
            Err(FrameError::NeedsCodec { .. })
        ));
        // Self-describing frames decode through any codec.
        let raw = Codec::RawF32.encode(x);
        assert_eq!(codec.decode(&raw, &DecodeLimits::default()).unwrap(), *x);
    }

    #[test]
    fn session_codec_sends_six_bytes_beyond_its_payload_and_per_element_models_pay_off() {
        // Position-dependent codes: element e is mostly level e % 4, as a spatial code is.
        let calib: Vec<Feature> = (0..400)
            .map(|k| {
                feature(vec![1, 2, 3, 3], |e| {
                    let noise = (e * 7 + k * 13) % 11 == 0;
                    ((e % 4) as f32 + if noise { 1.0 } else { 0.0 }).min(3.0) / 3.0
                })
            })
            .collect();
        let range = QuantRange::PerTensor { lo: 0.0, hi: 1.0 };
        let limits = DecodeLimits::default();
        let session = |e| Codec::calibrate_session(2, range.clone(), &calib, e).unwrap();
        let shared = session(SessionEntropy::Shared);
        let per_element = session(SessionEntropy::PerElement);
        let context = session(SessionEntropy::ChannelContext);
        let full = Codec::calibrate_entropy(2, range.clone(), &calib).unwrap();
        let batch = Feature {
            shape: vec![3, 2, 3, 3],
            values: calib[..3].iter().flat_map(|f| f.values.clone()).collect(),
        };
        let mut sizes = vec![];
        for codec in [&shared, &per_element, &context] {
            let frame = codec.encode(&batch);
            assert_eq!(frame[0], crate::frame::SESSION_FRAME_TAG);
            let y = codec.decode(&frame, &limits).unwrap();
            let reference = full.decode(&full.encode(&batch), &limits).unwrap();
            assert_eq!(y, reference, "same symbols as the self-describing static codec");
            // Without the codec, or with another one: a clear error, never a wrong decode.
            assert!(matches!(decode_frame(&frame, &limits), Err(FrameError::NeedsCodec { .. })));
            assert!(matches!(full.decode(&frame, &limits), Err(FrameError::NeedsCodec { .. })));
            for cut in 0..frame.len() {
                assert!(codec.decode(&frame[..cut], &limits).is_err(), "truncated at {cut}");
            }
            for i in 0..frame.len() {
                let mut bad = frame.clone();
                bad[i] ^= 0x5a;
                assert!(codec.decode(&bad, &limits).is_err(), "flipped byte {i}");
            }
            sizes.push(frame.len());
        }
        let payload = full.encode(&batch).len() - 36 - 5;
        assert_eq!(sizes[0], payload + crate::frame::SESSION_FRAME_OVERHEAD);
        assert!(sizes[1] < sizes[0], "per-element {} vs shared {}", sizes[1], sizes[0]);
        assert!(sizes[2] <= sizes[1], "channel context {} vs per-element {}", sizes[2], sizes[1]);
        // A batch a session frame cannot hold, or another sample shape, goes in a full frame.
        let big = Feature {
            shape: vec![300, 2, 3, 3],
            values: (0..300).flat_map(|k| calib[k % 400].values.clone()).collect(),
        };
        let frame = per_element.encode(&big);
        assert_eq!(&frame[..4], b"CFRM");
        assert_eq!(per_element.decode(&frame, &limits).unwrap().shape, big.shape);
        let tight = DecodeLimits { max_elements: 17, max_frame_bytes: 1 << 20 };
        assert!(matches!(
            per_element.decode(&per_element.encode(&batch), &tight),
            Err(FrameError::TooLarge { .. })
        ));
        // Mixed sample shapes cannot be agreed on.
        let mixed = [calib[0].clone(), feature(vec![1, 2, 2, 2], |_| 0.5)];
        assert!(Codec::calibrate_session(2, range, &mixed, SessionEntropy::PerElement).is_none());
    }
}
