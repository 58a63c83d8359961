//! The codec seam on the default model and real test images: a lossless codec changes no
//! answer anywhere the split is made; the bytes counted are whole frames; bad inputs are
//! errors.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use coinfer_compress::Codec;
use coinfer_data::{load, DatasetName, Split};
use coinfer_engine::eval::first_output;
use coinfer_engine::profile::PreparedSplit;
use coinfer_graph::Graph;
use coinfer_pipeline::{evaluate, NoProgress, PipelineError, Stages};

fn model() -> Graph {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fmnist-resnet.onnx");
    Graph::load(&path).unwrap()
}

#[test]
fn a_lossless_codec_changes_no_answer_at_any_split() {
    let graph = model();
    let data = load(DatasetName::FashionMnist, Split::Test).unwrap().take(200);
    let engine = coinfer_engine::engine_for_name("tract").unwrap();
    let full = engine.prepare(&graph.proto).unwrap();
    let local = evaluate(
        Stages::DeviceOnly(full.as_ref()),
        &Codec::RawF32,
        &data,
        64,
        None,
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(local.images, 200);
    assert_eq!(local.bytes_per_sample, 0.0, "nothing crosses the link");
    let reference = local.predicted.clone();
    // The input through a raw frame: 784 floats + a 28-byte header and CRC (rank 4).
    let offload = evaluate(
        Stages::EdgeOnly(full.as_ref()),
        &Codec::RawF32,
        &data,
        64,
        Some(&reference),
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(offload.differing_from_reference, Some(0));
    assert_eq!(offload.correct, local.correct);
    let input_frame = Codec::RawF32
        .encode(&coinfer_compress::Feature { shape: vec![1, 1, 28, 28], values: vec![0.0; 784] });
    assert_eq!(offload.bytes_per_sample, input_frame.len() as f64);
    for cut in graph.cut_points().iter().step_by(4) {
        let split = PreparedSplit::new(&graph, cut, engine.as_ref()).unwrap();
        let stages = Stages::Split { head: split.head.as_ref(), tail: split.tail.as_ref() };
        let e =
            evaluate(stages, &Codec::RawF32, &data, 64, Some(&reference), &mut NoProgress).unwrap();
        assert_eq!(e.differing_from_reference, Some(0), "cut {}", cut.index);
        assert!(e.bytes_per_sample > cut.feature_bytes as f64, "cut {}: header counted", cut.index);
        assert!(e.bytes_per_sample < cut.feature_bytes as f64 + 64.0, "cut {}", cut.index);
        // Head outputs computed once give the same answers.
        let features: Vec<_> = data
            .batches(64)
            .map(|(x, _)| first_output(split.head.run(&[x]).unwrap()).unwrap())
            .collect();
        let cached = Stages::HeadOutputs { features: &features, tail: split.tail.as_ref() };
        let c = evaluate(cached, &Codec::RawF32, &data, 64, None, &mut NoProgress).unwrap();
        assert_eq!(c.predicted, e.predicted, "cut {}", cut.index);
        assert_eq!(c.bytes_per_sample, e.bytes_per_sample);
    }
}

#[test]
fn mismatched_references_and_precomputed_outputs_are_errors() {
    let graph = model();
    let data = load(DatasetName::FashionMnist, Split::Test).unwrap().take(10);
    let engine = coinfer_engine::engine_for_name("tract").unwrap();
    let full = engine.prepare(&graph.proto).unwrap();
    let stages = Stages::DeviceOnly(full.as_ref());
    let short = vec![0usize; 3];
    let err = evaluate(stages, &Codec::RawF32, &data, 4, Some(&short), &mut NoProgress);
    assert!(matches!(err, Err(PipelineError::Invalid(m)) if m.contains("3 reference classes")));
    let cut = graph.find_cut("0").unwrap();
    let split = PreparedSplit::new(&graph, &cut, engine.as_ref()).unwrap();
    let stages = Stages::HeadOutputs { features: &[], tail: split.tail.as_ref() };
    let err = evaluate(stages, &Codec::RawF32, &data, 4, None, &mut NoProgress);
    assert!(matches!(err, Err(PipelineError::Invalid(m)) if m.contains("precomputed")));
}
