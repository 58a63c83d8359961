//! Entropy coding of quantized features: uniform quantization, then range-ANS coding
//! (`constriction`) of the symbols with a categorical model fitted on the frame's own
//! symbol histogram, which travels in the frame (so every size reported is the real count
//! of encoded bytes, model included).

use constriction::stream::model::{
    DefaultContiguousCategoricalEntropyModel, SmallContiguousCategoricalEntropyModel,
};
use constriction::stream::stack::{DefaultAnsCoder, SmallAnsCoder};
use constriction::stream::{Decode, Encode};

use crate::frame::FrameError;

/// Largest bit width the entropy codec accepts (its histogram travels in the frame).
pub const MAX_ENTROPY_BITS: u8 = 12;

/// Histogram counts scaled into u16 (every used symbol keeps a count ≥ 1).
pub(crate) fn scaled_counts(symbols: &[u32], levels: usize) -> Vec<u16> {
    let mut counts = vec![0u64; levels];
    for &s in symbols {
        counts[s as usize] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1);
    counts
        .iter()
        .map(|&c| if c == 0 { 0 } else { ((c * 65_535).div_ceil(max)).clamp(1, 65_535) as u16 })
        .collect()
}

/// One histogram per model from calibration symbols (`models` of them; symbol `i` counts
/// toward `index(i, symbols)`), each smoothed toward the shared histogram `shared` with as
/// many pseudo-samples as there are levels (a model seen rarely borrows the shared shape);
/// scaled into u16 like [`scaled_counts`].
pub(crate) fn indexed_counts(
    symbols: &[u32],
    models: usize,
    index: impl Fn(usize, &[u32]) -> usize,
    shared: &[u16],
) -> Vec<Vec<u16>> {
    let levels = shared.len();
    if models == 0 || levels == 0 {
        return vec![];
    }
    let mut counts = vec![vec![0f64; levels]; models];
    for (i, &s) in symbols.iter().enumerate() {
        if let Some(c) = counts.get_mut(index(i, symbols)) {
            c[(s as usize).min(levels - 1)] += 1.0;
        }
    }
    let total: f64 = shared.iter().map(|&c| c as f64).sum::<f64>().max(1.0);
    counts
        .into_iter()
        .map(|mut c| {
            for (v, &q) in c.iter_mut().zip(shared) {
                *v += levels as f64 * q as f64 / total;
            }
            let max = c.iter().copied().fold(0.0, f64::max).max(f64::MIN_POSITIVE);
            let scale = |v: f64| (v * 65_535.0 / max).ceil().clamp(1.0, 65_535.0) as u16;
            c.iter().map(|&v| if v == 0.0 { 0 } else { scale(v) }).collect()
        })
        .collect()
}

/// Widest symbol alphabet (bits) coded with the small coder (u16 words, 12-bit probabilities,
/// table-lookup decoding); wider alphabets use the default coder (u32 words, 24-bit
/// probabilities, binary-search decoding).
pub const SMALL_CODER_MAX_BITS: u8 = 8;

fn probabilities(counts: &[u16]) -> Vec<f64> {
    // Unused symbols get a tiny probability so any histogram gives a valid (leaky) model.
    counts.iter().map(|&c| c as f64 + 1e-3).collect()
}

fn default_model(counts: &[u16]) -> Result<DefaultContiguousCategoricalEntropyModel, FrameError> {
    DefaultContiguousCategoricalEntropyModel::from_floating_point_probabilities_fast(
        &probabilities(counts),
        None,
    )
    .map_err(|()| FrameError::Malformed("entropy model from histogram".into()))
}

fn small_model(counts: &[u16]) -> Result<SmallContiguousCategoricalEntropyModel, FrameError> {
    SmallContiguousCategoricalEntropyModel::from_floating_point_probabilities_fast(
        &probabilities(counts),
        None,
    )
    .map_err(|()| FrameError::Malformed("entropy model from histogram".into()))
}

fn uses_small_coder(counts: &[u16]) -> bool {
    counts.len() <= 1 << SMALL_CODER_MAX_BITS
}

/// ANS-codes `symbols` (each `< counts.len()`) and returns the compressed words as bytes
/// (u16 words for alphabets up to 2^8 symbols, u32 words above).
pub(crate) fn encode_symbols(symbols: &[u32], counts: &[u16]) -> Vec<u8> {
    let iter = symbols.iter().map(|&s| s as usize);
    // Every symbol is in range by construction, so encoding cannot fail.
    if uses_small_coder(counts) {
        let Ok(model) = small_model(counts) else { return vec![] };
        let mut coder = SmallAnsCoder::new();
        let _ = coder.encode_iid_symbols_reverse(iter, model.as_view());
        let words = coder.into_compressed().unwrap_or_default();
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    } else {
        let Ok(model) = default_model(counts) else { return vec![] };
        let mut coder = DefaultAnsCoder::new();
        let _ = coder.encode_iid_symbols_reverse(iter, model.as_view());
        let words = coder.into_compressed().unwrap_or_default();
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

/// A categorical model for the small coder (u16 words, 12-bit probabilities).
pub(crate) type SmallModel = SmallContiguousCategoricalEntropyModel;

/// One small-coder model per histogram; an error if a histogram has more than 2^8 levels
/// or none.
pub(crate) fn small_models(histograms: &[Vec<u16>]) -> Result<Vec<SmallModel>, FrameError> {
    if histograms.iter().any(|c| c.len() > 1 << SMALL_CODER_MAX_BITS) {
        return Err(FrameError::Malformed("per-element entropy model is too wide".into()));
    }
    histograms.iter().map(|c| small_model(c)).collect()
}

/// ANS-codes `symbols` with a model chosen per symbol: symbol `i` uses
/// `models[index(i)]` (each a histogram over at most 2^8 levels, so the small coder serves:
/// u16 words, 12-bit probabilities). `index` may look at any symbol before `i` (the decoder
/// knows those when it reaches `i`).
pub(crate) fn encode_symbols_indexed(
    symbols: &[u32],
    models: &[SmallModel],
    index: impl Fn(usize, &[u32]) -> usize,
) -> Vec<u8> {
    let mut coder = SmallAnsCoder::new();
    // A stack: the last symbol encoded is the first decoded.
    for (i, &s) in symbols.iter().enumerate().rev() {
        let Some(model) = models.get(index(i, symbols)) else { return vec![] };
        if coder.encode_symbol(s as usize, model.as_view()).is_err() {
            return vec![];
        }
    }
    let words = coder.into_compressed().unwrap_or_default();
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Decodes `n` symbols coded by [`encode_symbols_indexed`] with the same models and index
/// (called with the symbols decoded so far).
pub(crate) fn decode_symbols_indexed(
    payload: &[u8],
    models: &[SmallModel],
    n: usize,
    index: impl Fn(usize, &[u32]) -> usize,
) -> Result<Vec<u32>, FrameError> {
    let malformed = |what: &str| FrameError::Malformed(format!("ANS payload {what}"));
    if !payload.len().is_multiple_of(2) {
        return Err(malformed("is not a whole number of 16-bit words"));
    }
    let words: Vec<u16> =
        payload.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    let mut coder = SmallAnsCoder::from_compressed(words)
        .map_err(|_| malformed("does not end in a valid state"))?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let model = models.get(index(i, &out)).ok_or_else(|| malformed("needs a missing model"))?;
        let s = coder.decode_symbol(model.as_view()).map_err(|_| malformed("ended early"))?;
        out.push(s as u32);
    }
    if !coder.is_empty() {
        return Err(malformed("has data left over"));
    }
    Ok(out)
}

/// Decodes `n` symbols from ANS-coded bytes.
pub(crate) fn decode_symbols(
    payload: &[u8],
    counts: &[u16],
    n: usize,
) -> Result<Vec<u32>, FrameError> {
    let malformed = |what: &str| FrameError::Malformed(format!("ANS payload {what}"));
    if n > 0 && counts.iter().all(|&c| c == 0) {
        // The encoder gives every used symbol a count ≥ 1: a histogram of zeros codes nothing.
        return Err(FrameError::Malformed("entropy model has no used symbol".into()));
    }
    if uses_small_coder(counts) {
        if !payload.len().is_multiple_of(2) {
            return Err(malformed("is not a whole number of 16-bit words"));
        }
        let words: Vec<u16> =
            payload.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        let model = small_model(counts)?.to_lookup_decoder_model();
        let mut coder = SmallAnsCoder::from_compressed(words)
            .map_err(|_| malformed("does not end in a valid state"))?;
        let mut out = Vec::with_capacity(n);
        for s in coder.decode_iid_symbols(n, &model) {
            out.push(s.map_err(|_| malformed("ended early"))? as u32);
        }
        if !coder.is_empty() {
            return Err(malformed("has data left over"));
        }
        return Ok(out);
    }
    if !payload.len().is_multiple_of(4) {
        return Err(malformed("is not a whole number of 32-bit words"));
    }
    let words: Vec<u32> =
        payload.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let model = default_model(counts)?;
    let mut coder = DefaultAnsCoder::from_compressed(words)
        .map_err(|_| malformed("does not end in a valid state"))?;
    let mut out = Vec::with_capacity(n);
    for s in coder.decode_iid_symbols(n, model.as_view()) {
        out.push(s.map_err(|_| malformed("ended early"))? as u32);
    }
    if !coder.is_empty() {
        return Err(malformed("has data left over"));
    }
    Ok(out)
}
