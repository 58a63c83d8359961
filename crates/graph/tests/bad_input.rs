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
