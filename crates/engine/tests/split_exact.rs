//! At every valid cut, tail(head(x)) equals the full model, on every engine; engines agree with
//! PyTorch's own outputs; bad inputs get clear errors.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;

use coinfer_approx::{compare_arrays, Approximation};
use coinfer_engine::profile::{random_inputs, PreparedSplit};
use coinfer_engine::{engine_for_name, read_npy, EngineError, Tensor};
use coinfer_graph::Graph;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

const TEST_MODELS: [&str; 4] = [
    "models/test/resnet18-cifar.onnx",
    "models/test/mobilenetv3-small.onnx",
    "models/test/squeezenet1_1.onnx",
    "models/fmnist-resnet.onnx",
];

fn engines() -> Vec<&'static str> {
    coinfer_engine::available_engines()
}

#[test]
fn every_cut_splits_exactly_on_every_engine() {
    for model in TEST_MODELS {
        let graph = Graph::load(&repo(model)).unwrap();
        let inputs = random_inputs(&graph, 2, 11).unwrap();
        for name in engines() {
            let engine = engine_for_name(name).unwrap();
            let full = engine.prepare(&graph.proto).unwrap().run(&inputs).unwrap();
            for cut in graph.cut_points() {
                let split = PreparedSplit::new(&graph, &cut, engine.as_ref()).unwrap();
                let got = split.run(&inputs).unwrap();
                if let Err(m) = compare_arrays(&full, &got, Approximation::Close) {
                    panic!("{model} [{name}] cut {} `{}`: {m}", cut.index, cut.tensor);
                }
            }
        }
    }
}

#[test]
fn engines_match_pytorch() {
    for model in &TEST_MODELS[..3] {
        let path = repo(model);
        let x = read_npy(&path.with_extension("input.npy")).unwrap();
        let expected = read_npy(&path.with_extension("output.npy")).unwrap();
        let proto = coinfer_graph::load_model(&path).unwrap();
        for name in engines() {
            let y = engine_for_name(name)
                .unwrap()
                .prepare(&proto)
                .unwrap()
                .run(std::slice::from_ref(&x))
                .unwrap();
            if let Err(m) =
                compare_arrays(std::slice::from_ref(&expected), &y, Approximation::Approximate)
            {
                panic!("{model} [{name}] against PyTorch: {m}");
            }
        }
    }
}

#[test]
fn any_batch_size_runs() {
    let graph = Graph::load(&repo(TEST_MODELS[0])).unwrap();
    let engine = engine_for_name("tract").unwrap();
    let model = engine.prepare(&graph.proto).unwrap();
    let x5 = random_inputs(&graph, 5, 3).unwrap();
    let y5 = model.run(&x5).unwrap();
    assert_eq!(y5[0].shape(), &[5, 10]);
    // Row 0 of a batch of 5 equals the same image alone.
    let x1 = Tensor::from_shape_vec(
        vec![1, 3, 32, 32],
        x5[0].index_axis(ndarray::Axis(0), 0).iter().copied().collect(),
    )
    .unwrap();
    let y1 = model.run(&[x1]).unwrap();
    let row0 =
        y5[0].index_axis(ndarray::Axis(0), 0).to_owned().into_dyn().insert_axis(ndarray::Axis(0));
    compare_arrays(&[row0], &y1, Approximation::Close).unwrap();
}

/// tract runs batches either batched or as batch-1 calls (timed at the first batched call);
/// each way, forced, and the timed choice: every row equals its sample run alone, at the first
/// and at later batch sizes.
#[test]
fn every_batch_row_equals_its_sample_alone_whichever_way_batches_run() {
    use coinfer_engine::{BatchMode, Engine, TractEngine};
    let graph = Graph::load(&repo(TEST_MODELS[0])).unwrap();
    for batch_mode in [BatchMode::Batched, BatchMode::PerSample, BatchMode::Timed] {
        let model = TractEngine { batch_mode }.prepare(&graph.proto).unwrap();
        for (batch, seed) in [(4, 1), (3, 2), (7, 3)] {
            let x = random_inputs(&graph, batch, seed).unwrap();
            let y = model.run(&x).unwrap();
            assert_eq!(y[0].shape(), &[batch, 10]);
            for i in 0..batch {
                let xi = x[0].slice_axis(ndarray::Axis(0), (i..i + 1).into()).to_owned();
                let yi = model.run(&[xi]).unwrap();
                let row = y[0].slice_axis(ndarray::Axis(0), (i..i + 1).into()).to_owned();
                if let Err(m) = compare_arrays(&[row], &yi, Approximation::Close) {
                    panic!("{batch_mode:?} batch {batch} row {i}: {m}");
                }
            }
        }
    }
}

#[test]
fn wrong_shapes_and_counts_are_clear_errors() {
    let graph = Graph::load(&repo(TEST_MODELS[0])).unwrap();
    for name in engines() {
        let model = engine_for_name(name).unwrap().prepare(&graph.proto).unwrap();
        let wrong = Tensor::zeros(vec![1, 3, 28, 28]);
        match model.run(&[wrong]) {
            Err(EngineError::ShapeMismatch { input, expected, got }) => {
                assert_eq!(input, "input");
                assert_eq!(expected, "[?, 3, 32, 32]");
                assert_eq!(got, vec![1, 3, 28, 28]);
            }
            other => panic!("[{name}] expected ShapeMismatch, got {other:?}"),
        }
        let rank = Tensor::zeros(vec![3, 32, 32]);
        assert!(matches!(model.run(&[rank]), Err(EngineError::ShapeMismatch { .. })));
        assert!(matches!(model.run(&[]), Err(EngineError::InputCount { expected: 1, got: 0 })));
    }
}

#[test]
fn unknown_engine_is_an_error() {
    let err = engine_for_name("tensorrt").err().unwrap().to_string();
    assert!(err.contains("tensorrt") && err.contains("tract"), "{err}");
    if !cfg!(feature = "ort") {
        let err = engine_for_name("ort").err().unwrap().to_string();
        assert!(err.contains("--features ort"), "{err}");
    }
}

#[test]
fn npy_of_wrong_dtype_is_rejected_with_the_dtype() {
    use ndarray_npy::WriteNpyExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f64.npy");
    let a = ndarray::Array2::<f64>::zeros((2, 2));
    a.write_npy(std::fs::File::create(&path).unwrap()).unwrap();
    let err = read_npy(&path).unwrap_err().to_string();
    assert!(err.contains("float32") && err.contains("f8"), "{err}");
    let garbage = dir.path().join("garbage.npy");
    std::fs::write(&garbage, b"not numpy").unwrap();
    assert!(read_npy(&garbage).unwrap_err().to_string().contains("garbage.npy"));
}

#[cfg(feature = "ort")]
#[test]
fn tract_and_ort_agree() {
    let tract = engine_for_name("tract").unwrap();
    let ort = engine_for_name("ort").unwrap();
    for model in TEST_MODELS {
        let graph = Graph::load(&repo(model)).unwrap();
        let inputs = random_inputs(&graph, 3, 5).unwrap();
        let a = tract.prepare(&graph.proto).unwrap().run(&inputs).unwrap();
        let b = ort.prepare(&graph.proto).unwrap().run(&inputs).unwrap();
        if let Err(m) = compare_arrays(&b, &a, Approximation::Close) {
            panic!("{model}: tract vs ort: {m}");
        }
    }
}

/// `compose(head, tail)` is one model that computes what the unsplit model computes.
#[test]
fn composing_head_and_tail_gives_back_the_model() {
    for model in TEST_MODELS {
        let graph = Graph::load(&repo(model)).unwrap();
        let inputs = random_inputs(&graph, 2, 13).unwrap();
        let engine = engine_for_name("tract").unwrap();
        let full = engine.prepare(&graph.proto).unwrap().run(&inputs).unwrap();
        let cuts = graph.cut_points();
        for cut in [&cuts[0], &cuts[cuts.len() / 2], &cuts[cuts.len() - 1]] {
            let p = graph.split(cut).unwrap();
            let composed = coinfer_graph::compose(&p.head, &p.tail, "tail.").unwrap();
            let got = engine.prepare(&composed).unwrap().run(&inputs).unwrap();
            if let Err(m) = compare_arrays(&full, &got, Approximation::Close) {
                panic!("{model} composed at cut {}: {m}", cut.index);
            }
        }
    }
}
