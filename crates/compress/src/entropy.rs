//! Entropy coding of quantized features: uniform quantization, then range-ANS coding
//! (`constriction`) of the symbols with a categorical model fitted on the frame's own
//! symbol histogram, which travels in the frame (so every size reported is the real count
//! of encoded bytes, model included).

use constriction::stream::model::DefaultContiguousCategoricalEntropyModel;
use constriction::stream::stack::DefaultAnsCoder;
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

fn model(counts: &[u16]) -> Result<DefaultContiguousCategoricalEntropyModel, FrameError> {
    // Unused symbols get a tiny probability so any histogram gives a valid (leaky) model.
    let probs: Vec<f64> = counts.iter().map(|&c| c as f64 + 1e-3).collect();
    DefaultContiguousCategoricalEntropyModel::from_floating_point_probabilities_fast(&probs, None)
        .map_err(|()| FrameError::Malformed("entropy model from histogram".into()))
}

/// ANS-codes `symbols` (each `< counts.len()`) and returns the compressed words as bytes.
pub(crate) fn encode_symbols(symbols: &[u32], counts: &[u16]) -> Vec<u8> {
    let Ok(model) = model(counts) else { return vec![] };
    let mut coder = DefaultAnsCoder::new();
    // Every symbol is in range by construction, so encoding cannot fail.
    let _ = coder.encode_iid_symbols_reverse(symbols.iter().map(|&s| s as usize), model.as_view());
    let words = coder.into_compressed().unwrap_or_default();
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Decodes `n` symbols from ANS-coded bytes.
pub(crate) fn decode_symbols(
    payload: &[u8],
    counts: &[u16],
    n: usize,
) -> Result<Vec<u32>, FrameError> {
    if !payload.len().is_multiple_of(4) {
        return Err(FrameError::Malformed("ANS payload is not a whole number of words".into()));
    }
    let words: Vec<u32> =
        payload.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let model = model(counts)?;
    let mut coder = DefaultAnsCoder::from_compressed(words)
        .map_err(|_| FrameError::Malformed("ANS payload does not end in a valid state".into()))?;
    let symbols: Vec<u32> = coder
        .decode_iid_symbols(n, model.as_view())
        .map(|s| s.map(|s| s as u32))
        .collect::<Result<_, _>>()
        .map_err(|_| FrameError::Malformed("ANS payload ended early".into()))?;
    if !coder.is_empty() {
        return Err(FrameError::Malformed("ANS payload has data left over".into()));
    }
    Ok(symbols)
}
