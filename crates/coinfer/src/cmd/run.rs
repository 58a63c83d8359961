//! `coinfer run MODEL --input X.npy --output Y.npy`.

use anyhow::Result;

use crate::args::RunArgs;
use crate::output::print_json;

pub fn run(args: &RunArgs, json: bool) -> Result<()> {
    let model = coinfer_graph::load_model(&args.model)?;
    let engine = coinfer_engine::engine_for_name(args.engine.name())?;
    let runnable = engine.prepare(&model)?;
    let x = coinfer_engine::read_npy(&args.input)?;
    let outputs = runnable.run(&[x])?;
    let mut written = Vec::new();
    for (i, y) in outputs.iter().enumerate() {
        let path = if outputs.len() == 1 {
            args.output.clone()
        } else {
            let stem = args.output.with_extension("");
            stem.with_extension(format!("{i}.npy"))
        };
        coinfer_engine::write_npy(&path, y)?;
        written.push(serde_json::json!({ "path": path, "shape": y.shape() }));
    }
    if json {
        return print_json(&serde_json::json!({ "engine": engine.name(), "outputs": written }));
    }
    for w in written {
        println!("wrote {} {}", w["path"], w["shape"]);
    }
    Ok(())
}
