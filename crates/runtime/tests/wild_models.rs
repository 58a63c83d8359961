//! The runtime's model loading on models from other toolchains: a model with symbolic input
//! dims is served at the shape the edge config or plan gives, and refused with a clear error
//! without one.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;

use coinfer_approx::{compare_arrays, Approximation};
use coinfer_engine::Tensor;
use coinfer_graph::InputShapes;
use coinfer_runtime::models::{ModelId, ModelStore, Part};
use coinfer_runtime::server::EdgeConfig;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/corpus")
}

fn id(model: &str) -> ModelId {
    ModelId { model: model.into(), version: String::new() }
}

#[test]
fn models_with_symbolic_dims_load_at_the_configured_shape() {
    let config: EdgeConfig =
        toml::from_str("[input_shapes.crnn-attn]\nimage = [1, 3, 48, 192]\n").unwrap();
    let engine = coinfer_engine::engine_for_name("tract").unwrap();
    let store = ModelStore::new(corpus(), engine.clone()).with_input_shapes(config.input_shapes);
    let crnn = id("crnn-attn");
    let cuts = store.model(&crnn).unwrap().cuts.len();
    assert!(cuts > 10, "{cuts} cuts");
    let x = Tensor::from_shape_fn(vec![2, 3, 48, 192], |i| {
        ((i[1] * 7 + i[2] * 3 + i[3]) % 11) as f32 / 11.0
    });
    let full =
        store.part(&crnn, Part::Full).unwrap().runnable.run(std::slice::from_ref(&x)).unwrap();
    for cut in [0, cuts / 2, cuts - 1] {
        let head = store.part(&crnn, Part::Head(cut)).unwrap();
        let tail = store.part(&crnn, Part::Tail(cut)).unwrap();
        let feature = head.runnable.run(std::slice::from_ref(&x)).unwrap();
        assert_eq!(feature[0].shape()[1..], tail.sample_shape[..], "cut {cut}");
        let y = tail.runnable.run(&feature).unwrap();
        if let Err(m) = compare_arrays(&full, &y, Approximation::Close) {
            panic!("cut {cut}: {m}");
        }
    }

    // No shape for a model that needs one: a clear error, and the store keeps serving.
    let bare = ModelStore::new(corpus(), engine.clone());
    let err = bare.model(&id("mbv3-dynhw")).err().unwrap().to_string();
    assert!(err.contains("`image`") && err.contains("--input-shape"), "{err}");
    assert!(bare.model(&id("lenet-ir3-op9")).is_ok());
    let wrong = ModelStore::new(corpus(), engine)
        .with_input_shapes([("crnn-attn".to_string(), shape("image:1,3,48"))]);
    let err = wrong.model(&crnn).err().unwrap().to_string();
    assert!(err.contains("rank 4"), "{err}");
    assert!(toml::from_str::<EdgeConfig>("[input_shape.crnn-attn]\nimage = [1]").is_err());
}

fn shape(spec: &str) -> InputShapes {
    InputShapes::from_specs(&[spec.parse().unwrap()]).unwrap()
}
