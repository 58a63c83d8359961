//! A real model as the simulator's layer table.

use coinfer_graph::Graph;
use coinfer_sim::{Layer, LayerTable};

/// The layer table of `g`: one "layer" per segment between consecutive valid cuts (so stage
/// `k` of the table is cut `k − 1` of the graph), with its MACs, output values and
/// parameters; float32 values (32 bits each).
pub fn layer_table(g: &Graph) -> LayerTable {
    let cuts = g.cut_points();
    let mut layers = Vec::with_capacity(cuts.len() + 1);
    let (mut macs, mut params) = (0u64, 0u64);
    for c in &cuts {
        layers.push(Layer {
            macs: c.head_macs.saturating_sub(macs) as f64,
            output_values: (c.feature_bytes / 4) as f64,
            params: (c.head_param_bytes.saturating_sub(params) / 4) as f64,
        });
        (macs, params) = (c.head_macs, c.head_param_bytes);
    }
    layers.push(Layer {
        macs: g.total_macs().saturating_sub(macs) as f64,
        output_values: (g.output_bytes() / 4) as f64,
        params: (g.total_param_bytes().saturating_sub(params) / 4) as f64,
    });
    LayerTable { input_values: (g.input_bytes() / 4) as f64, bits_per_value: 32.0, layers }
}
