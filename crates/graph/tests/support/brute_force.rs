//! The independent definition of a valid cut that the cut finder is checked against
//! (`#[path]`-included by the graph tests).

use std::collections::HashSet;

use coinfer_graph::{Graph, TensorKind};

/// Brute force: `t` separates iff, with `t` removed, no graph output depends on a graph input.
pub fn separators(g: &Graph) -> HashSet<String> {
    let mut out = HashSet::new();
    for (name, info) in &g.tensors {
        if info.kind != TensorKind::Activation || g.outputs.contains(name) {
            continue;
        }
        if info.consumers.is_empty() {
            continue;
        }
        let mut reached: HashSet<&str> = g.inputs.iter().map(String::as_str).collect();
        for node in &g.nodes {
            if node.inputs.iter().any(|x| reached.contains(x.as_str())) {
                for o in &node.outputs {
                    if o != name {
                        reached.insert(o);
                    }
                }
            }
        }
        if !g.outputs.iter().any(|o| reached.contains(o.as_str())) {
            out.insert(name.clone());
        }
    }
    out
}
