//! `coinfer split MODEL --at CUT --out DIR`.

use anyhow::{Context, Result};
use coinfer_approx::{compare_arrays, Approximation};
use coinfer_engine::profile::{random_inputs, PreparedSplit};

use crate::args::SplitArgs;
use crate::output::{bytes, print_json, write_json};

pub fn run(args: &SplitArgs, json: bool) -> Result<()> {
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let cut = graph.find_cut(&args.at)?;
    let engine = coinfer_engine::engine_for_name(args.engine.name())?;
    let split = PreparedSplit::new(&graph, &cut, engine.as_ref())?;
    let full = engine.prepare(&graph.proto)?;
    let inputs = random_inputs(&graph, 2, 7)?;
    let batch = inputs.first().and_then(|x| x.shape().first().copied()).unwrap_or(1);
    let expected = full.run(&inputs)?;
    let got = split.run(&inputs)?;
    // Different kernels may run the halves (tract re-plans each): engine-level tolerance.
    let verification = compare_arrays(&expected, &got, Approximation::Approximate);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let head_path = args.out.join("head.onnx");
    let tail_path = args.out.join("tail.onnx");
    coinfer_graph::save_model(&split.partition.head, &head_path)?;
    coinfer_graph::save_model(&split.partition.tail, &tail_path)?;
    let report = serde_json::json!({
        "model": args.model,
        "cut": cut,
        "head": head_path,
        "tail": tail_path,
        "engine": engine.name(),
        // The shape the model was analysed, cut and verified at (a symbolic batch dim as 1);
        // head.onnx and tail.onnx declare it too, with the batch dim left symbolic.
        "input_shape": graph.input_shapes,
        "verification": match &verification {
            Ok(a) => serde_json::json!({
                "batch": batch, "max_abs_diff": a.max_abs_diff, "output_scale": a.scale,
            }),
            Err(m) => serde_json::json!({ "batch": batch, "mismatch": m.to_string() }),
        },
    });
    write_json(&args.out.join("split.json"), &report)?;
    // NaN, a missing output or a difference beyond 1e-4 of the output scale fails, after the
    // files are written for inspection.
    let agreement = verification.map_err(|m| {
        anyhow::anyhow!(
            "verification failed on {}: tail(head(x)) vs model(x): {m} (files kept in {} for \
             inspection)",
            engine.name(),
            args.out.display()
        )
    })?;
    let (diff, scale) = (agreement.max_abs_diff, agreement.scale);
    if json {
        return print_json(&report);
    }
    println!(
        "cut {} at `{}` ({:?}, {} per sample)\nwrote {} ({} head MACs) and {} ({} tail MACs)",
        cut.index,
        cut.tensor,
        cut.shape,
        bytes(cut.feature_bytes),
        head_path.display(),
        cut.head_macs,
        tail_path.display(),
        cut.tail_macs
    );
    println!(
        "verified with {} at input {} (batch {batch}): max |tail(head(x)) - model(x)| = \
         {diff:.3e} (output scale {scale:.3e})",
        engine.name(),
        graph.input_shapes
    );
    Ok(())
}

/// `coinfer compose FIRST SECOND --out FILE`.
pub fn compose(args: &crate::args::ComposeArgs, json: bool) -> Result<()> {
    let first = coinfer_graph::load_model(&args.first)?;
    let second = coinfer_graph::load_model(&args.second)?;
    let model = coinfer_graph::compose(&first, &second, "second.")?;
    let graph = coinfer_graph::Graph::analyse(model)
        .context("the composed model does not analyse (do the shapes match?)")?;
    coinfer_graph::save_model(&graph.proto, &args.out)?;
    let report = serde_json::json!({
        "out": args.out, "macs": graph.total_macs(), "param_bytes": graph.total_param_bytes(),
        "cuts": graph.cut_points().len(),
    });
    if json {
        return print_json(&report);
    }
    println!(
        "wrote {} ({} MACs, {} cut points)",
        args.out.display(),
        graph.total_macs(),
        graph.cut_points().len()
    );
    Ok(())
}
