//! The third-party corpus (`models/corpus`) on every engine: split at every valid cut, head →
//! tail on a real-sized input equals the unsplit model; the files as written (symbolic dims,
//! `Constant` weights, IR 3) run; tract agrees with ONNX Runtime.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "../../graph/tests/support/corpus.rs"]
mod corpus;

use coinfer_approx::{compare_arrays, Approximation};
use coinfer_engine::profile::{random_inputs, PreparedSplit};
use coinfer_engine::{engine_for_name, Tensor};

/// Relative error of `got` against `expected`: max |difference| over the output scale;
/// NaN, count and shape mismatches fail the test.
fn relative_error(expected: &[Tensor], got: &[Tensor]) -> f32 {
    let loose = Approximation::OfScale(f32::MAX);
    let a = compare_arrays(expected, got, loose).unwrap_or_else(|m| panic!("{m}"));
    assert!(a.scale > 0.0, "degenerate reference output (all zeros)");
    a.relative()
}

#[test]
fn every_cut_of_every_corpus_model_splits_exactly_on_every_engine() {
    for m in corpus::corpus() {
        let graph = m.graph();
        // Two samples where the batch is free, else the fixed batch.
        let inputs = random_inputs(&graph, 2, 17).unwrap();
        let cuts = graph.cut_points();
        for name in coinfer_engine::available_engines() {
            let engine = engine_for_name(name).unwrap();
            let full = engine.prepare(&graph.proto).unwrap().run(&inputs).unwrap();
            assert_eq!(full.len(), graph.outputs.len(), "{}", m.file);
            let mut worst = 0.0f32;
            for cut in &cuts {
                let split = PreparedSplit::new(&graph, cut, engine.as_ref()).unwrap();
                let got = split.run(&inputs).unwrap();
                let err = relative_error(&full, &got);
                assert!(
                    err <= 1e-5,
                    "{} [{name}] cut {} `{}`: error {err:.2e} of output scale",
                    m.file,
                    cut.index,
                    cut.tensor
                );
                worst = worst.max(err);
            }
            println!("{} [{name}]: {} cuts, max split error {worst:.2e}", m.file, cuts.len());
        }
    }
}

#[test]
fn corpus_files_as_written_run_at_their_real_shape() {
    // The original file, not the analysed copy: symbolic dims, Constant nodes and IR-3 input
    // lists go to the engine untouched, and the engine plans for the shape it is given.
    for m in corpus::corpus().into_iter().filter(|m| m.tract_deviation.is_none()) {
        let graph = m.graph();
        let inputs = random_inputs(&graph, 1, 5).unwrap();
        let original = coinfer_graph::load_model(&m.path()).unwrap();
        for name in coinfer_engine::available_engines() {
            let engine = engine_for_name(name).unwrap();
            let as_written = engine.prepare(&original).unwrap().run(&inputs).unwrap();
            let analysed = engine.prepare(&graph.proto).unwrap().run(&inputs).unwrap();
            let err = relative_error(&as_written, &analysed);
            assert!(err <= 1e-6, "{} [{name}]: analysed copy differs by {err:.2e}", m.file);
        }
    }
}

#[cfg(feature = "ort")]
#[test]
fn tract_matches_onnx_runtime_on_the_corpus() {
    let (tract, ort) = (engine_for_name("tract").unwrap(), engine_for_name("ort").unwrap());
    for m in corpus::corpus() {
        let graph = m.graph();
        let inputs = random_inputs(&graph, 1, 23).unwrap();
        let t = tract.prepare(&graph.proto).unwrap().run(&inputs).unwrap();
        let o = ort.prepare(&graph.proto).unwrap().run(&inputs).unwrap();
        let err = relative_error(&o, &t);
        println!("{}: tract vs onnxruntime {err:.2e} of output scale", m.file);
        assert!(err <= 1e-4, "{}: tract differs from onnxruntime by {err:.2e}", m.file);
    }
}

/// tract 0.23.9 maps `align_corners` coordinates with `len_in · scale` where ONNX uses
/// `floor(len_in · scale)`. Pinned both ways: the file as written still deviates on tract (when
/// this fails, tract is fixed upstream and `coinfer_graph`'s `resize_fix` can go), and the
/// analysed copy, whose scales are made exact, matches ONNX Runtime.
#[cfg(feature = "ort")]
#[test]
fn tract_align_corners_deviation_is_pinned_and_worked_around() {
    let m = corpus::corpus().into_iter().find(|m| m.tract_deviation.is_some()).unwrap();
    let graph = m.graph();
    let inputs = random_inputs(&graph, 1, 29).unwrap();
    let original = coinfer_graph::load_model(&m.path()).unwrap();
    let run = |engine: &str, model| {
        engine_for_name(engine).unwrap().prepare(model).unwrap().run(&inputs).unwrap()
    };
    let reference = run("ort", &original);
    let raw = relative_error(&reference, &run("tract", &original));
    assert!(raw > 1e-2, "{}: tract now matches ONNX Runtime ({raw:.2e})", m.file);
    let fixed = relative_error(&reference, &run("tract", &graph.proto));
    assert!(fixed <= 1e-5, "{}: analysed copy differs by {fixed:.2e}", m.file);
    assert!(relative_error(&reference, &run("ort", &graph.proto)) <= 1e-6);
    println!("{}: tract on the file {raw:.2e}, on coinfer's copy {fixed:.2e}", m.file);
}
