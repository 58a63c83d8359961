//! Structured pruning on the default model (residual), MobileNetV3-Small (depthwise +
//! squeeze–excite + hard-swish), SqueezeNet (concat) and ResNet-18: the pruned models are
//! smaller, keep their output shape, and run in both backends; removing channels that carry
//! nothing leaves the outputs unchanged.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::path::PathBuf;

use coinfer_approx::{compare_arrays, Approximation};
use coinfer_engine::{engine_for_name, Tensor};
use coinfer_graph::initializer::{read_f32, write_f32};
use coinfer_graph::Graph;
use coinfer_prune::{prune, ChannelGroups, Criterion, PruneError, Ratios, Role};

fn model(name: &str) -> Graph {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models");
    Graph::load(&root.join(name)).unwrap()
}

fn input_for(g: &Graph, batch: usize) -> Tensor {
    let shape = g.tensor(&g.inputs[0]).unwrap().shape.clone().unwrap();
    let mut dims = shape.clone();
    dims[0] = batch;
    let n: usize = dims.iter().product();
    let values: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.3).collect();
    Tensor::from_shape_vec(dims, values).unwrap()
}

fn run(engine: &str, g: &Graph, x: &Tensor) -> Tensor {
    let runnable = engine_for_name(engine).unwrap().prepare(&g.proto).unwrap();
    runnable.run(std::slice::from_ref(x)).unwrap().remove(0)
}

/// Prunes uniformly and checks MACs, parameters and output shape on tract and ONNX Runtime.
fn check_uniform(name: &str, ratio: f64) -> (Graph, Graph) {
    let g = model(name);
    let pruned = prune(&g, &Ratios::Uniform { ratio, until: None }, Criterion::L1).unwrap();
    assert!(!pruned.outcome.is_empty(), "{name}: nothing was pruned");
    let p = pruned.graph;
    assert!(
        p.total_macs() < g.total_macs() * 9 / 10,
        "{name}: {} → {}",
        g.total_macs(),
        p.total_macs()
    );
    assert!(p.total_param_bytes() < g.total_param_bytes());
    let x = input_for(&g, 2);
    let reference = run("tract", &g, &x);
    for engine in ["tract", "ort"] {
        let y = run(engine, &p, &x);
        assert_eq!(y.shape(), reference.shape(), "{name} on {engine}");
        assert!(y.iter().all(|v| v.is_finite()));
    }
    // The pruned model is a model like any other: both engines compute the same function.
    let (t, o) = (run("tract", &p, &x), run("ort", &p, &x));
    if let Err(m) = compare_arrays(&[o], &[t], Approximation::Approximate) {
        panic!("{name}: pruned model, tract vs ONNX Runtime: {m}");
    }
    (g, p)
}

#[test]
fn residual_default_model_prunes_and_runs() {
    let (g, _) = check_uniform("fmnist-resnet.onnx", 0.5);
    let groups = ChannelGroups::analyse(&g).unwrap();
    // The stem and both convs closing a residual block of stage 0 share one group.
    let stem = groups.find("stem.conv").unwrap();
    assert!(stem.producers.contains(&"stage0.block0.b.conv".to_string()), "{:?}", stem.producers);
    assert!(stem.is_prunable());
    // The classifier's units are the graph output: unprunable.
    assert!(!groups.find("logits").unwrap().is_prunable());
}

#[test]
fn squeeze_excite_and_depthwise_model_prunes_and_runs() {
    let (g, _) = check_uniform("test/mobilenetv3-small.onnx", 0.3);
    let groups = ChannelGroups::analyse(&g).unwrap();
    assert!(groups.groups.iter().any(|gr| gr.slices.iter().any(|s| s.role == Role::Depthwise)));
    assert!(!groups.depthwise_nodes.is_empty());
    // A squeeze–excite Mul ties the expand conv to the conv whose channels it scales.
    assert!(groups.groups.iter().any(|gr| gr.is_prunable() && gr.producers.len() >= 2));
}

#[test]
fn concat_model_prunes_and_runs() {
    let (g, _) = check_uniform("test/squeezenet1_1.onnx", 0.25);
    let groups = ChannelGroups::analyse(&g).unwrap();
    // Expand convs feed a Concat whose consumer reads both halves at different offsets.
    assert!(groups
        .groups
        .iter()
        .any(|gr| gr.slices.iter().any(|s| s.role == Role::ConsumerWeight && s.offset > 0)));
}

#[test]
fn resnet18_prunes_and_runs() {
    check_uniform("test/resnet18-cifar.onnx", 0.5);
}

#[test]
fn zero_ratio_changes_nothing() {
    let g = model("fmnist-resnet.onnx");
    let p = prune(&g, &Ratios::Uniform { ratio: 0.0, until: None }, Criterion::L1).unwrap();
    assert!(p.outcome.is_empty());
    assert_eq!(p.graph.total_macs(), g.total_macs());
    // The very same model (outputs of two preparations may differ in the last bit: tract times
    // its batch mode per preparation).
    assert_eq!(p.graph.proto, g.proto);
}

/// Silences channels of a block's inner conv (BN γ = β = 0 ⇒ ReLU outputs 0), then prunes them
/// by BN scale: the pruned model computes the same function.
#[test]
fn removing_dead_channels_is_exact() {
    let mut g = model("fmnist-resnet.onnx");
    let dead = [1usize, 4, 5, 9];
    let proto = &mut g.proto;
    for t in proto.graph.as_mut().unwrap().initializer.iter_mut() {
        if t.name == "stage1.block0.a.bn.weight" || t.name == "stage1.block0.a.bn.bias" {
            let mut v = read_f32(t).unwrap();
            for &c in &dead {
                v[c] = 0.0;
            }
            let dims = vec![v.len()];
            write_f32(t, &dims, &v).unwrap();
        }
    }
    let g = Graph::analyse(g.proto).unwrap();
    let ratio = dead.len() as f64 / 32.0;
    let ratios = Ratios::PerGroup(BTreeMap::from([("stage1.block0.a.conv".to_string(), ratio)]));
    let p = prune(&g, &ratios, Criterion::BnScale).unwrap();
    assert_eq!(p.outcome[0].kept, 32 - dead.len());
    assert!(p.graph.total_macs() < g.total_macs());
    let x = input_for(&g, 4);
    let (a, b) = (run("tract", &g, &x), run("tract", &p.graph, &x));
    compare_arrays(&[a], &[b], Approximation::Close).unwrap();
}

#[test]
fn pruning_up_to_a_cut_leaves_the_tail_alone() {
    let g = model("fmnist-resnet.onnx");
    let cut = g.find_cut("stage1.relu").or_else(|_| g.find_cut("9")).unwrap();
    let producer = g.tensor(&cut.tensor).unwrap().producer.unwrap();
    let p =
        prune(&g, &Ratios::Uniform { ratio: 0.5, until: Some(producer) }, Criterion::L1).unwrap();
    let groups = ChannelGroups::analyse(&g).unwrap();
    // The head was pruned (a no-op would pass every check below) ...
    assert!(p.outcome.len() >= 2, "groups pruned: {:?}", p.outcome);
    assert!(p.outcome.iter().all(|o| o.kept < o.channels));
    assert!(find_cut_macs(&p.graph, &cut.tensor) < cut.head_macs);
    for o in &p.outcome {
        assert!(groups.find(&o.name).unwrap().last_producer <= producer);
    }
    // ... and the tail's own groups were not: the last stage keeps its 48 channels (tail layers
    // reading pruned head channels lose those input columns only).
    assert!(!p.outcome.iter().any(|o| o.channels == 48));
}

/// Head MACs of the cut at `tensor` in `g`.
fn find_cut_macs(g: &Graph, tensor: &str) -> u64 {
    g.find_cut(tensor).unwrap().head_macs
}

#[test]
fn bad_ratios_and_names_are_clear_errors() {
    let g = model("fmnist-resnet.onnx");
    for r in [1.0, -0.1, f64::NAN] {
        let e = prune(&g, &Ratios::Uniform { ratio: r, until: None }, Criterion::L1).unwrap_err();
        assert!(matches!(e, PruneError::BadRatio { .. }), "{e}");
    }
    let e = prune(&g, &Ratios::PerGroup(BTreeMap::from([("nope".into(), 0.5)])), Criterion::L1)
        .unwrap_err();
    assert!(matches!(e, PruneError::UnknownGroup { .. }) && e.to_string().contains("stem.conv"));
    let e = prune(&g, &Ratios::PerGroup(BTreeMap::from([("logits".into(), 0.5)])), Criterion::L1)
        .unwrap_err();
    assert!(matches!(e, PruneError::Unprunable { .. }), "{e}");
}
