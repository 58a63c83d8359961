//! Prints the channel groups of a model (debug aid): `cargo run -p coinfer-prune --example groups -- MODEL`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: groups MODEL.onnx")?;
    let g = coinfer_graph::Graph::load(path.as_ref())?;
    let g = coinfer_prune::prepare_for_pruning(&g)?;
    let groups = coinfer_prune::ChannelGroups::analyse(&g)?;
    for gr in &groups.groups {
        println!(
            "{} ch={} prunable={:?} producers={:?}",
            gr.name, gr.channels, gr.unprunable, gr.producers
        );
        for s in &gr.slices {
            println!(
                "    {} axis={} off={} block={} {:?}",
                s.tensor, s.axis, s.offset, s.block, s.role
            );
        }
    }
    Ok(())
}
