//! `coinfer cuts MODEL`.

use anyhow::Result;

use crate::args::CutsArgs;
use crate::output::{bytes, print_json, si, table};

pub fn run(args: &CutsArgs, json: bool) -> Result<()> {
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let cuts = graph.cut_points();
    if json {
        return print_json(&serde_json::json!({
            "model": args.model,
            "nodes": graph.nodes.len(),
            "total_macs": graph.total_macs(),
            "param_bytes": graph.total_param_bytes(),
            "input_bytes": graph.input_bytes(),
            "cuts": cuts,
        }));
    }
    println!(
        "{}: {} nodes, {} MACs, {} parameters, input {} per sample; {} valid cut points",
        args.model.display(),
        graph.nodes.len(),
        si(graph.total_macs() as f64),
        bytes(graph.total_param_bytes()),
        bytes(graph.input_bytes()),
        cuts.len()
    );
    let rows = cuts
        .iter()
        .map(|c| {
            vec![
                c.index.to_string(),
                c.tensor.clone(),
                c.op_type.clone(),
                format!("{:?}", c.shape),
                bytes(c.feature_bytes),
                si(c.head_macs as f64),
                si(c.tail_macs as f64),
                bytes(c.head_param_bytes),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["#", "tensor", "op", "shape", "feature", "head MACs", "tail MACs", "head params"],
            rows
        )
    );
    Ok(())
}
