//! Compares the trainable interpreter with tract on a model (debug aid):
//! `cargo run -p coinfer-train --example check_onnx_module -- MODEL.onnx`.
use candle_core::{Device, ModuleT, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: check_onnx_module MODEL")?;
    let g = coinfer_graph::Graph::load(path.as_ref())?;
    let mut dims = g.tensor(&g.inputs[0]).and_then(|t| t.shape.clone()).ok_or("no input shape")?;
    dims[0] = 4;
    let n: usize = dims.iter().product();
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let m = coinfer_train::OnnxModule::new(&g)?;
    let a = m.forward_t(&Tensor::from_vec(x.clone(), dims.clone(), &Device::Cpu)?, false)?;
    let a: Vec<f32> = a.flatten_all()?.to_vec1()?;
    let engine = coinfer_engine::engine_for_name("tract")?;
    let b = engine.prepare(&g.proto)?.run(&[coinfer_engine::Tensor::from_shape_vec(dims, x)?])?;
    let b: Vec<f32> = b[0].iter().copied().collect();
    println!("candle {:?}\ntract  {:?}", &a[..10], &b[..10]);
    Ok(())
}
