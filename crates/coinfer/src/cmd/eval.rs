//! `coinfer eval MODEL --data NAME`.

use anyhow::Result;
use coinfer_engine::eval::{first_output, predict};

use crate::args::EvalArgs;
use crate::output::print_json;

pub fn run(args: &EvalArgs, json: bool) -> Result<()> {
    let name: coinfer_data::DatasetName = args.data.parse()?;
    let split: coinfer_data::Split = args.split.parse()?;
    let mut data = coinfer_data::load(name, split)?;
    if let Some(n) = args.limit {
        data = data.take(n);
    }
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    super::check_data_fits(&graph, &data)?;
    let engine = coinfer_engine::engine_for_name(args.engine.name())?;
    let runnable = engine.prepare(&graph.proto)?;
    let bar = super::progress_bar(data.len() as u64, "eval", json);
    let start = std::time::Instant::now();
    let preds = predict(
        &data,
        args.batch,
        |x| first_output(runnable.run(&[x])?),
        |done| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "model": args.model,
        "data": name.as_str(),
        "split": split.as_str(),
        "samples": preds.total,
        "correct": preds.correct,
        "accuracy": preds.accuracy(),
        "engine": engine.name(),
        "seconds": secs,
    });
    if json {
        return print_json(&report);
    }
    println!(
        "{} on {} {} ({} samples): top-1 accuracy {:.2} % ({} correct) [{}, {:.1} s]",
        args.model.display(),
        name,
        split.as_str(),
        preds.total,
        100.0 * preds.accuracy(),
        preds.correct,
        engine.name(),
        secs
    );
    Ok(())
}
