//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use coinfer_data::{DatasetName, Split};
use coinfer_engine::Tensor;
use coinfer_runtime::models::ModelStore;
use coinfer_runtime::server::{EdgeConfig, EdgeHandle, EdgeState};
use coinfer_sim::{DevicePlan, SplitChoice};

pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

pub fn store() -> Arc<ModelStore> {
    let engine = coinfer_engine::engine_for_name("tract").expect("tract");
    Arc::new(ModelStore::new(models_dir(), engine))
}

pub fn any() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

/// An in-process edge on `addr`, with HTTP metrics on a free port when `http`.
pub async fn edge_at(addr: std::net::SocketAddr, config: EdgeConfig, http: bool) -> EdgeHandle {
    let engine = coinfer_engine::engine_for_name("tract").expect("tract");
    let state = EdgeState::new(models_dir(), engine, config).expect("edge state");
    EdgeHandle::start(state, addr, http.then(any)).await.expect("edge starts")
}

/// The first `n` Fashion-MNIST test images, one per tensor, with labels.
pub fn samples(n: usize) -> Arc<Vec<(Tensor, u32)>> {
    let data = coinfer_data::load(DatasetName::FashionMnist, Split::Test).expect("data").take(n);
    Arc::new(
        (0..data.len())
            .map(|i| {
                let (x, y) = data.slice(i, i + 1);
                (x, y[0] as u32)
            })
            .collect(),
    )
}

/// A device running the full model locally: the answers every split must reproduce.
pub fn reference_runner(store: Arc<ModelStore>) -> coinfer_runtime::device::DeviceRunner {
    use coinfer_runtime::device::{DeviceOptions, DeviceRunner};
    DeviceRunner::new(
        plan("ref", SplitChoice::DeviceOnly),
        store,
        None,
        DeviceOptions::default(),
        None,
    )
}

pub fn plan(device: &str, split: SplitChoice) -> DevicePlan {
    DevicePlan::new(device, "fmnist-resnet", split)
}

pub fn cut(i: usize) -> SplitChoice {
    SplitChoice::Cut { index: i, tensor: String::new() }
}
