//! A real model as the simulator's layer table.

use coinfer_graph::Graph;
use coinfer_sim::{Layer, LayerTable};

/// The layer table of `g`: one "layer" per segment between consecutive valid cuts (so stage
/// `k` of the table is cut `k − 1` of the graph), with its MACs, output values, parameters,
/// operators (non-constant nodes) and memory traffic (each operator's inputs, outputs and
/// weights, in bytes); float32 values (32 bits each).
pub fn layer_table(g: &Graph) -> LayerTable {
    let cuts = g.cut_points();
    let mut layers = Vec::with_capacity(cuts.len() + 1);
    let (mut macs, mut params) = (0u64, 0u64);
    // Operators and memory traffic per segment: node `i` is in the first segment whose cut
    // is produced at position ≥ i.
    let mut ops = vec![0.0; cuts.len() + 1];
    let mut mem = vec![0.0; cuts.len() + 1];
    for node in g.nodes.iter().filter(|n| !n.is_constant) {
        let segment = cuts.iter().position(|c| node.index <= c.position).unwrap_or(cuts.len());
        let inputs: u64 = node.inputs.iter().filter_map(|t| g.tensor(t)?.bytes()).sum();
        ops[segment] += 1.0;
        mem[segment] += (inputs.max(node.param_bytes) + node.output_bytes) as f64;
    }
    for (k, c) in cuts.iter().enumerate() {
        layers.push(Layer {
            ops: ops[k],
            mem_bytes: mem[k],
            ..Layer::new(
                c.head_macs.saturating_sub(macs) as f64,
                (c.feature_bytes / 4) as f64,
                (c.head_param_bytes.saturating_sub(params) / 4) as f64,
            )
        });
        (macs, params) = (c.head_macs, c.head_param_bytes);
    }
    layers.push(Layer {
        ops: ops[cuts.len()],
        mem_bytes: mem[cuts.len()],
        ..Layer::new(
            g.total_macs().saturating_sub(macs) as f64,
            (g.output_bytes() / 4) as f64,
            (g.total_param_bytes().saturating_sub(params) / 4) as f64,
        )
    });
    LayerTable { input_values: (g.input_bytes() / 4) as f64, bits_per_value: 32.0, layers }
}
