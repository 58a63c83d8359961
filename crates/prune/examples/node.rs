//! Prints the nodes whose name contains a pattern (debug aid).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: node MODEL.onnx PATTERN")?;
    let pat = std::env::args().nth(2).unwrap_or_default();
    let g = coinfer_graph::Graph::load(path.as_ref())?;
    for n in g
        .nodes
        .iter()
        .filter(|n| n.name.contains(&pat) || n.outputs.iter().any(|o| o.contains(&pat)))
    {
        let kinds: Vec<_> = n
            .inputs
            .iter()
            .map(|i| (i.clone(), g.tensor(i).map(|t| (t.kind, t.shape.clone()))))
            .collect();
        println!("{} {} {:?} -> {:?}", n.name, n.op_type, kinds, n.outputs);
    }
    Ok(())
}
