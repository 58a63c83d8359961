//! Cut points on small hand-built DAGs (residual, concat, squeeze-excite, input reuse) and on
//! the PyTorch exports in `models/test`, checked against an independent brute-force definition.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

#[path = "support/brute_force.rs"]
mod brute_force;

use brute_force::separators;
use coinfer_graph::builder::{attr_int, ModelBuilder};
use coinfer_graph::{Graph, GraphError};

fn input4(b: &mut ModelBuilder) -> String {
    b.input("x", &[None, Some(2), Some(3), Some(3)])
}

fn cut_names(g: &Graph) -> Vec<String> {
    g.cut_points().into_iter().map(|c| c.tensor).collect()
}

#[test]
fn chain_every_intermediate_is_a_cut() {
    let mut b = ModelBuilder::new("chain");
    let x = input4(&mut b);
    let a = b.named_node("a", "Relu", &[&x], vec![]);
    let c = b.named_node("c", "Sigmoid", &[&a], vec![]);
    let d = b.named_node("d", "Neg", &[&c], vec![]);
    b.output(&d, &[None, Some(2), Some(3), Some(3)]);
    let g = Graph::analyse(b.build()).unwrap();
    assert_eq!(cut_names(&g), vec!["a", "c"]);
    let cut = &g.cut_points()[0];
    assert_eq!(cut.shape, vec![1, 2, 3, 3]);
    assert_eq!(cut.feature_bytes, 18 * 4);
}

#[test]
fn residual_skip_blocks_inner_cuts() {
    let mut b = ModelBuilder::new("residual");
    let x = input4(&mut b);
    let a = b.named_node("a", "Relu", &[&x], vec![]);
    let inner = b.named_node("inner", "Sigmoid", &[&a], vec![]);
    let add = b.named_node("add", "Add", &[&a, &inner], vec![]);
    let y = b.named_node("y", "Relu", &[&add], vec![]);
    let out = b.named_node("out", "Neg", &[&y], vec![]);
    b.output(&out, &[None, Some(2), Some(3), Some(3)]);
    let g = Graph::analyse(b.build()).unwrap();
    assert_eq!(cut_names(&g), vec!["a", "add", "y"]);
    match g.find_cut("inner") {
        Err(GraphError::NotACutPoint { reason, nearest, .. }) => {
            assert!(reason.contains("bypasses"), "{reason}");
            assert!(reason.contains("`a`"), "{reason}");
            assert_eq!(nearest.len(), 3);
            assert!(nearest[..2].contains(&"a".to_string()), "{nearest:?}");
        }
        other => panic!("expected NotACutPoint, got {other:?}"),
    }
}

#[test]
fn concat_branches_and_squeeze_excite() {
    let mut b = ModelBuilder::new("concat_se");
    let x = input4(&mut b);
    let a = b.named_node("a", "Relu", &[&x], vec![]);
    let l = b.named_node("left", "Sigmoid", &[&a], vec![]);
    let r = b.named_node("right", "Neg", &[&a], vec![]);
    let cat = b.named_node("cat", "Concat", &[&l, &r], vec![attr_int("axis", 1)]);
    // Squeeze-excite on the concatenation: gate = sigmoid(gap(cat)); out = cat * gate.
    let pool = b.named_node("pool", "GlobalAveragePool", &[&cat], vec![]);
    let gate = b.named_node("gate", "Sigmoid", &[&pool], vec![]);
    let se = b.named_node("se", "Mul", &[&cat, &gate], vec![]);
    let out = b.named_node("out", "Relu", &[&se], vec![]);
    b.output(&out, &[None, Some(4), Some(3), Some(3)]);
    let g = Graph::analyse(b.build()).unwrap();
    assert_eq!(cut_names(&g), vec!["a", "cat", "se"]);
    assert_eq!(g.tensor("cat").unwrap().shape.as_deref(), Some(&[1, 4, 3, 3][..]));
}

#[test]
fn reading_the_input_late_forbids_earlier_cuts() {
    let mut b = ModelBuilder::new("input_reuse");
    let x = input4(&mut b);
    let a = b.named_node("a", "Relu", &[&x], vec![]);
    let s = b.named_node("s", "Sigmoid", &[&a], vec![]);
    let add = b.named_node("add", "Add", &[&s, &x], vec![]);
    let out = b.named_node("out", "Neg", &[&add], vec![]);
    b.output(&out, &[None, Some(2), Some(3), Some(3)]);
    let g = Graph::analyse(b.build()).unwrap();
    assert_eq!(cut_names(&g), vec!["add"]);
    let err = g.find_cut("a").unwrap_err().to_string();
    assert!(err.contains("graph input"), "{err}");
}

#[test]
fn constants_go_to_both_sides_and_macs_are_counted() {
    let mut b = ModelBuilder::new("consts");
    let x = b.input("x", &[None, Some(4)]);
    let w = b.weight("w", &[3, 4], &[0.5; 12]);
    let h = b.named_node("h", "Gemm", &[&x, &w], vec![attr_int("transB", 1)]);
    let shape = b.weight_i64("shape", &[-1, 3, 1]);
    let r = b.named_node("r", "Reshape", &[&h, &shape], vec![]);
    let r2 = b.named_node("r2", "Reshape", &[&r, &shape], vec![]);
    let out = b.named_node("out", "Relu", &[&r2], vec![]);
    b.output(&out, &[None, Some(3), Some(1)]);
    let g = Graph::analyse(b.build()).unwrap();
    assert_eq!(cut_names(&g), vec!["h", "r", "r2"]);
    assert_eq!(g.total_macs(), 12);
    let c = g.find_cut("r").unwrap();
    assert_eq!((c.head_macs, c.tail_macs), (12, 0));
    // The shape constant is needed on both sides and is copied into both.
    let p = g.split(&c).unwrap();
    let has_shape = |m: &coinfer_graph::pb::ModelProto| {
        m.graph.as_ref().unwrap().initializer.iter().any(|t| t.name == "shape")
    };
    assert!(has_shape(&p.head) && has_shape(&p.tail));
}

fn test_model(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/test").join(name)
}

#[test]
fn pytorch_exports_cut_lists_match_brute_force() {
    // (model, expected number of cuts). ResNet-18: stem conv + ReLU, Add + ReLU of 8 blocks,
    // pool, flatten = 20. SqueezeNet 1.1: conv, ReLU, 3 max-pools, squeeze conv + ReLU + Concat
    // of 8 Fire modules, classifier conv + ReLU + pool = 32. MobileNetV3-Small: 36, from the
    // brute-force definition (expansion/SE internals are bypassed, residual Adds are cuts).
    for (file, expected) in
        [("resnet18-cifar.onnx", 20), ("mobilenetv3-small.onnx", 36), ("squeezenet1_1.onnx", 32)]
    {
        let g = Graph::load(&test_model(file)).unwrap();
        let cuts: HashSet<String> = cut_names(&g).into_iter().collect();
        assert_eq!(cuts, separators(&g), "{file}");
        assert_eq!(cuts.len(), expected, "{file}: {:?}", cut_names(&g));
        // Every cut's shape is known, so the tail input can be declared.
        for c in g.cut_points() {
            assert!(!c.shape.is_empty() && c.feature_bytes > 0, "{file}: {}", c.tensor);
            assert_eq!(c.head_macs + c.tail_macs, g.total_macs());
        }
    }
}

#[test]
fn resnet18_macs_match_the_architecture() {
    // CIFAR ResNet-18, width 16: every 3×3 conv is C_in·C_out·9·H·W MACs.
    let g = Graph::load(&test_model("resnet18-cifar.onnx")).unwrap();
    let conv = |cin: u64, cout: u64, k: u64, hw: u64| cin * cout * k * k * hw * hw;
    let mut expected = conv(3, 16, 3, 32); // stem
    expected += 4 * conv(16, 16, 3, 32); // layer1
    for (cin, c, hw) in [(16u64, 32u64, 16u64), (32, 64, 8), (64, 128, 4)] {
        expected += conv(cin, c, 3, hw) + 3 * conv(c, c, 3, hw) + conv(cin, c, 1, hw);
    }
    expected += 128 * 10; // fc
    assert_eq!(g.total_macs(), expected);
}

#[test]
fn node_names_are_unique_and_tensor_map_is_complete() {
    let g = Graph::load(&test_model("mobilenetv3-small.onnx")).unwrap();
    let mut seen = HashMap::new();
    for n in &g.nodes {
        assert!(seen.insert(n.name.clone(), n.index).is_none(), "duplicate {}", n.name);
        for t in n.inputs.iter().chain(&n.outputs) {
            assert!(g.tensor(t).is_some(), "{t}");
        }
    }
}

#[test]
fn a_misspelled_cut_is_answered_with_the_nearest_names() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fmnist-resnet.onnx");
    let g = Graph::load(&path).unwrap();
    match g.find_cut("stage1.block0.rlu") {
        Err(GraphError::NotACutPoint { nearest, .. }) => {
            assert_eq!(nearest[0], "stage1.block0.relu", "{nearest:?}");
            assert!(!nearest.contains(&"stem.conv".to_string()), "{nearest:?}");
        }
        other => panic!("expected NotACutPoint, got {other:?}"),
    }
}
