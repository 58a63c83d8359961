//! Malformed models get clear errors, never panics.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::Write;

use coinfer_graph::builder::ModelBuilder;
use coinfer_graph::{decode_model, Graph, GraphError};

fn model_path() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/test/resnet18-cifar.onnx")
}

#[test]
fn garbage_and_truncated_files_are_decode_errors() {
    let bytes = std::fs::read(model_path()).unwrap();
    for (what, data) in [
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("garbage", (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<u8>>()),
        ("text", b"this is not an onnx model".to_vec()),
    ] {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&data).unwrap();
        let err = Graph::load(f.path()).unwrap_err();
        assert!(matches!(err, GraphError::Decode { .. } | GraphError::Invalid(_)), "{what}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&f.path().display().to_string()) || msg.contains("graph"),
            "{what}: {msg}"
        );
    }
    assert!(matches!(decode_model(&[]), Err(GraphError::Decode { .. })));
}

#[test]
fn missing_file_names_the_path() {
    let err = Graph::load("does/not/exist.onnx".as_ref()).unwrap_err();
    assert!(matches!(err, GraphError::Io { .. }));
    assert!(err.to_string().contains("does/not/exist.onnx"));
}

#[test]
fn unsupported_op_names_op_and_node() {
    let mut b = ModelBuilder::new("bad_op");
    let x = b.input("x", &[None, Some(4)]);
    let y = b.named_node("my_weird_node", "FrobnicateTensor", &[&x], vec![]);
    b.output(&y, &[None, Some(4)]);
    let err = Graph::analyse(b.build()).unwrap_err();
    match &err {
        GraphError::UnsupportedOp { op, node, .. } => {
            assert_eq!(op, "FrobnicateTensor");
            assert_eq!(node, "my_weird_node");
        }
        other => panic!("expected UnsupportedOp, got {other:?}"),
    }
}

#[test]
fn dangling_inputs_and_cycles_are_invalid() {
    let mut b = ModelBuilder::new("dangling");
    let x = b.input("x", &[None, Some(4)]);
    let y = b.named_node("y", "Add", &[&x, "nowhere"], vec![]);
    b.output(&y, &[None, Some(4)]);
    let err = Graph::analyse(b.build()).unwrap_err().to_string();
    assert!(err.contains("nowhere"), "{err}");

    let mut b = ModelBuilder::new("cycle");
    let x = b.input("x", &[None, Some(4)]);
    b.named_node("a", "Add", &[&x, "b"], vec![]);
    let out = b.named_node("b", "Relu", &["a"], vec![]);
    b.output(&out, &[None, Some(4)]);
    let err = Graph::analyse(b.build()).unwrap_err().to_string();
    assert!(err.contains("cycle"), "{err}");
}

#[test]
fn bad_cut_designations() {
    let g = Graph::load(&model_path()).unwrap();
    let n = g.cut_points().len();
    assert!(matches!(
        g.find_cut(&n.to_string()),
        Err(GraphError::CutIndexOutOfRange { index, count }) if index == n && count == n
    ));
    let err = g.find_cut("no_such_tensor").unwrap_err().to_string();
    assert!(err.contains("no tensor has this name"), "{err}");
    let err = g.find_cut("input").unwrap_err().to_string();
    assert!(err.contains("graph input"), "{err}");
    let err = g.find_cut("logits").unwrap_err().to_string();
    assert!(err.contains("graph output"), "{err}");
}

/// Found by the `onnx_import` fuzz target: a BatchNormalization fed a rank-1 tensor was
/// undefined behaviour inside tract (an unchecked index); it is refused before tract runs.
#[test]
fn a_layout_op_on_a_too_low_rank_tensor_is_refused_by_name() {
    let mut b = ModelBuilder::new("bn_rank1");
    let x = b.input("x", &[None, Some(2), Some(4), Some(4)]);
    let v = b.weight("v", &[2], &[1.0, 2.0]);
    let (s, m, var) = (
        b.weight("s", &[2], &[1.0; 2]),
        b.weight("m", &[2], &[0.0; 2]),
        b.weight("var", &[2], &[1.0; 2]),
    );
    let y = b.named_node("bn_on_a_vector", "BatchNormalization", &[&v, &s, &v, &m, &var], vec![]);
    let z = b.node("Add", &[&x, &y], vec![]);
    b.output(&z, &[None, Some(2), Some(4), Some(4)]);
    let err = Graph::analyse(b.build()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, GraphError::Invalid(_)), "{err:?}");
    assert!(msg.contains("bn_on_a_vector") && msg.contains("rank 1"), "{msg}");
}

/// Found by the fuzz target: dims near i64::MAX overflowed the MAC and byte counts (a panic
/// in debug builds, silently wrong numbers in release). Refused with the tensor's name.
#[test]
fn a_tensor_too_large_for_any_device_is_refused() {
    let mut b = ModelBuilder::new("huge");
    let x = b.input("x", &[Some(1), Some(1 << 31), Some(1 << 31)]);
    let y = b.node("Relu", &[&x], vec![]);
    b.output(&y, &[Some(1), Some(1 << 31), Some(1 << 31)]);
    let err = Graph::analyse(b.build()).unwrap_err();
    assert!(err.to_string().contains("bytes per sample"), "{err}");
}

/// A panic inside tract's shape inference (here: Flatten's axis past the rank) is caught and
/// reported as a shape-inference error, not passed on to the caller.
#[test]
fn a_panic_inside_tract_becomes_an_error() {
    let mut b = ModelBuilder::new("flatten_axis");
    let x = b.input("x", &[Some(1), Some(2), Some(3), Some(4)]);
    let y = b.node("Flatten", &[&x], vec![coinfer_graph::builder::attr_int("axis", 7)]);
    b.output(&y, &[Some(1), Some(24)]);
    match Graph::analyse(b.build()) {
        Err(GraphError::ShapeInference(m)) => assert!(m.contains("tract"), "{m}"),
        other => panic!("expected a shape-inference error, got {other:?}"),
    }
}
