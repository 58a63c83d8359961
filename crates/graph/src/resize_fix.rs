//! A graph rewrite around a tract deviation: `Resize` in `align_corners` mode with scales whose
//! product with the input length is not an integer.
//!
//! ONNX defines the output length as `floor(len_in · scale)` and, in `align_corners` mode, maps
//! output coordinate `x` to `x · (len_in − 1) / (len_out − 1)`: the scale itself does not enter
//! the mapping. tract 0.23.9 uses `scale · len_in` (a fraction) in place of `len_out` there, so
//! with e.g. scale 1.5 on 7 rows every coordinate is off (a bilinear upsample differs from
//! ONNX Runtime by 34 % of the output scale; `tests/wild_models.rs` of the engine crate pins it).
//! At the analysed shape the rewrite replaces such a node's scales by `len_out / len_in`, which
//! yields the same `len_out` under ONNX's floor and the exact mapping in tract. The model is
//! unchanged for every runtime; written heads, tails and pruned models carry the fix.

use std::collections::HashMap;

use crate::initializer::read_f32;
use crate::pb;

/// Rewrites the scales of `align_corners` `Resize` nodes whose output lengths are fractional
/// products, given each tensor's shape at the analysed input shape; returns the node names.
pub(crate) fn exact_align_corners_scales(
    model: &mut pb::ModelProto,
    shape_of: &HashMap<String, (Option<Vec<usize>>, i32)>,
) -> Vec<String> {
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version);
    let Some(g) = model.graph.as_mut() else { return vec![] };
    if opset < 11 {
        return vec![]; // opset 10 Resize has no align_corners mode
    }
    let mut fixed = Vec::new();
    let mut new_inits = Vec::new();
    for (i, node) in g.node.iter_mut().enumerate() {
        let align_corners = node.attribute.iter().any(|a| {
            a.name == "coordinate_transformation_mode" && a.s.as_slice() == b"align_corners"
        });
        // Inputs: X, roi, scales[, sizes]; only constant scales with no sizes are rewritten.
        let uses_sizes = node.input.get(3).is_some_and(|s| !s.is_empty());
        if node.op_type != "Resize" || !align_corners || uses_sizes {
            continue;
        }
        let Some(scales_name) = node.input.get(2).filter(|s| !s.is_empty()) else { continue };
        let Some(scales) = g.initializer.iter().find(|t| &t.name == scales_name) else { continue };
        let Ok(scales) = read_f32(scales) else { continue };
        let Some((Some(shape), _)) = node.input.first().and_then(|x| shape_of.get(x)) else {
            continue;
        };
        if scales.len() != shape.len() {
            continue;
        }
        let exact: Vec<f32> =
            shape.iter().zip(&scales).map(|(&len, &s)| exact_scale(len, s)).collect();
        if exact == scales {
            continue;
        }
        let name = if node.name.is_empty() { format!("Resize_{i}") } else { node.name.clone() };
        let init_name = format!("{name}.exact_scales");
        let mut t = pb::TensorProto { name: init_name.clone(), ..Default::default() };
        if crate::initializer::write_f32(&mut t, &[exact.len()], &exact).is_err() {
            continue;
        }
        new_inits.push(t);
        node.input[2] = init_name;
        fixed.push(name);
    }
    g.initializer.extend(new_inits);
    if !fixed.is_empty() {
        tracing::debug!(nodes = ?fixed, "align_corners Resize scales made exact for tract");
    }
    fixed
}

/// The f32 scale `s′ ≈ out / len` with `floor(len · s′) == out` for `out = floor(len · s)`
/// (what ONNX computes), so that `s′ · len` is the output length to within one ulp.
fn exact_scale(len: usize, scale: f32) -> f32 {
    let out = (len as f32 * scale).floor();
    if out == len as f32 * scale || len == 0 {
        return scale;
    }
    let mut s = out / len as f32;
    // Rounding may leave len · s just below `out`: step up until the floor is right.
    while (len as f32 * s).floor() < out {
        s = f32::from_bits(s.to_bits() + 1);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::exact_scale;

    #[test]
    fn exact_scales_keep_the_onnx_output_length() {
        for len in 1..200usize {
            for s in [0.5f32, 0.75, 1.5, 2.0, 2.5, 1.0 / 3.0, 3.7] {
                let out = (len as f32 * s).floor();
                let e = exact_scale(len, s);
                assert_eq!((len as f32 * e).floor(), out, "len {len} scale {s}");
                assert!((len as f32 * e - out).abs() <= out * 1e-6, "len {len} scale {s}");
            }
        }
    }
}
