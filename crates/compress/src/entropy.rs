//! Entropy coding of quantized features: uniform quantization, then range-ANS coding
//! (`constriction`) of the symbols with a categorical model fitted on the frame's own
//! symbol histogram, which travels in the frame (so every size reported is the real count
//! of encoded bytes, model included).

use constriction::stream::model::{
    DefaultContiguousCategoricalEntropyModel, SmallContiguousCategoricalEntropyModel,
};
use constriction::stream::stack::{DefaultAnsCoder, SmallAnsCoder};
use constriction::stream::Decode;

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
