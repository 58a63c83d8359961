//! The trainable ONNX interpreter computes what tract computes, on the default model and on
//! PyTorch exports (residual, squeeze–excite + hard-swish + depthwise, concat + ceil-mode pools),
//! and training it moves the weights and exports a model that tract runs identically.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;

use candle_core::{Device, ModuleT, Tensor};
use coinfer_approx::{compare_slices, Approximation};
use coinfer_graph::Graph;
use coinfer_train::OnnxModule;

fn model(name: &str) -> Graph {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models");
    Graph::load(&root.join(name)).unwrap()
}

fn input(g: &Graph, batch: usize) -> (Vec<usize>, Vec<f32>) {
    let mut dims = g.tensor(&g.inputs[0]).unwrap().shape.clone().unwrap();
    dims[0] = batch;
    let n: usize = dims.iter().product();
    (dims, (0..n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 0.8).collect())
}

fn tract(g: &Graph, dims: &[usize], values: &[f32]) -> Vec<f32> {
    let engine = coinfer_engine::engine_for_name("tract").unwrap();
    let x = coinfer_engine::Tensor::from_shape_vec(dims.to_vec(), values.to_vec()).unwrap();
    engine.prepare(&g.proto).unwrap().run(&[x]).unwrap().remove(0).iter().copied().collect()
}

fn candle(m: &OnnxModule, dims: &[usize], values: &[f32]) -> Vec<f32> {
    let x = Tensor::from_vec(values.to_vec(), dims.to_vec(), &Device::Cpu).unwrap();
    m.forward_t(&x, false).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

/// candle's and tract's kernels differ: 2e-4 of the output scale.
fn assert_close(a: &[f32], b: &[f32], what: &str) {
    if let Err(m) = compare_slices(a, b, Approximation::OfScale(2e-4)) {
        panic!("{what}: {m}");
    }
}

#[test]
fn interpreter_matches_tract_on_four_architectures() {
    for name in [
        "fmnist-resnet.onnx",
        "test/resnet18-cifar.onnx",
        "test/mobilenetv3-small.onnx",
        "test/squeezenet1_1.onnx",
    ] {
        let g = model(name);
        let m = OnnxModule::new(&g).unwrap();
        let (dims, x) = input(&g, 2);
        assert_close(&tract(&g, &dims, &x), &candle(&m, &dims, &x), name);
    }
}

#[test]
fn training_steps_change_weights_and_export_runs_in_tract() {
    let g = model("fmnist-resnet.onnx");
    let m = OnnxModule::new(&g).unwrap();
    let vars = m.vars();
    assert!(vars.len() >= 20, "conv, BN and FC parameters are trainable: {}", vars.len());
    let (dims, x) = input(&g, 8);
    let before = candle(&m, &dims, &x);
    let xt = Tensor::from_vec(x.clone(), dims.clone(), &Device::Cpu).unwrap();
    let labels = Tensor::new(&[0u32, 1, 2, 3, 4, 5, 6, 7], &Device::Cpu).unwrap();
    let mut opt = candle_nn::AdamW::new_lr(vars, 1e-2).unwrap();
    use candle_nn::Optimizer;
    let mut losses = Vec::new();
    for _ in 0..5 {
        let loss =
            candle_nn::loss::cross_entropy(&m.forward_t(&xt, true).unwrap(), &labels).unwrap();
        losses.push(loss.to_scalar::<f32>().unwrap());
        opt.backward_step(&loss).unwrap();
    }
    assert!(losses[4] < losses[0], "loss did not fall: {losses:?}");
    let after = candle(&m, &dims, &x);
    assert!(before.iter().zip(&after).any(|(a, b)| (a - b).abs() > 1e-3));
    let exported = Graph::analyse(m.to_onnx().unwrap()).unwrap();
    assert_close(&tract(&exported, &dims, &x), &after, "exported model");
}

#[test]
fn unsupported_ops_are_named() {
    let mut b = coinfer_graph::builder::ModelBuilder::new("t");
    let x = b.input("x", &[None, Some(4)]);
    let y = b.node("Erf", &[&x], vec![]);
    b.output(&y, &[None, Some(4)]);
    let g = Graph::analyse(b.build()).unwrap();
    let err = OnnxModule::new(&g).err().unwrap().to_string();
    assert!(err.contains("Erf"), "{err}");
}

/// Adaptive BN: re-estimated on real training images the statistics stay right (the trained
/// model keeps its accuracy), and they are really replaced (estimated on noise, it collapses).
#[test]
fn batch_norm_recalibration_replaces_the_running_statistics() {
    use coinfer_data::{DatasetName, Split};
    let g = model("fmnist-resnet.onnx");
    let train = coinfer_data::load(DatasetName::FashionMnist, Split::Train).unwrap().take(1024);
    let test = coinfer_data::load(DatasetName::FashionMnist, Split::Test).unwrap().take(1000);
    let before = coinfer_train::evaluate(&OnnxModule::new(&g).unwrap(), &test, 250).unwrap();
    let m = OnnxModule::new(&g).unwrap();
    m.recalibrate_batch_norm(&train, 128).unwrap();
    let after = coinfer_train::evaluate(&m, &test, 250).unwrap();
    assert!((after - before).abs() < 0.015, "accuracy {before:.3} → {after:.3}");
    assert_ne!(m.to_onnx().unwrap(), g.proto, "statistics unchanged");
    // Four batches of 128 noise images, each batch at another scale.
    let images: Vec<f32> = (0..4)
        .flat_map(|k| input(&g, 128).1.into_iter().map(move |v| v * (k + 3) as f32))
        .collect();
    let noise = coinfer_data::Dataset { images, labels: vec![0; 512], ..train.clone().take(0) };
    let m = OnnxModule::new(&g).unwrap();
    m.recalibrate_batch_norm(&noise, 128).unwrap();
    let broken = coinfer_train::evaluate(&m, &test, 250).unwrap();
    assert!(broken < before - 0.2, "noise statistics still give {broken:.3}");
}
