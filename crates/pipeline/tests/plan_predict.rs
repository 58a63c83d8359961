//! A plan predicted for the models it names: the bytes come from each device's codec, the
//! edge is shared by compute shares, and a plan whose split is not one of its model's cuts,
//! or whose model is missing, is refused with the device named.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use coinfer_pipeline::layers::layer_table;
use coinfer_pipeline::plan_predict::{predict_plan, PlanSetting};
use coinfer_sim::{Hardware, LayerCost, Link, Plan, SplitChoice};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn plan() -> Plan {
    let text = std::fs::read_to_string(root().join("examples/plan-two-devices.json")).unwrap();
    Plan::from_json(&text).unwrap()
}

fn setting(models: &Path) -> PlanSetting<'_> {
    PlanSetting {
        models,
        device: Hardware::from_spec("rpi4").unwrap(),
        devices: BTreeMap::new(),
        edge: Hardware::from_spec("edge-gpu").unwrap(),
        link: Link { tx_power_w: 0.5, ..Link::simple(20e6, 0.002) },
    }
}

#[test]
fn the_example_plan_is_predicted_with_its_codecs_and_shares() {
    let models = root().join("models");
    let p = predict_plan(&plan(), &setting(&models)).unwrap();
    assert_eq!(p.len(), 3);
    let graph = coinfer_graph::Graph::load(&models.join("fmnist-resnet.onnx")).unwrap();
    let cut = graph.find_cut("stage1.block0.relu").unwrap();
    // cam-1: one byte per value (8-bit codec), not four.
    let values = (cut.feature_bytes / 4) as f64;
    assert!(p[0].payload_bytes > values && p[0].payload_bytes < values + 100.0, "{:?}", p[0]);
    // cam-2 sends its 784 float32 input values.
    assert!(p[1].payload_bytes >= 784.0 * 4.0 && p[1].payload_bytes < 784.0 * 4.0 + 100.0);
    // cam-1 holds 3 of the 5 compute-share units of the devices that offload.
    let table = layer_table(&graph);
    let edge = Hardware::from_spec("edge-gpu").unwrap();
    let tail_s = edge.run_s(&table, cut.index + 1..table.layers.len());
    assert!((p[0].prediction.edge_s - tail_s / 0.6).abs() < 1e-12 * tail_s.max(1.0));
    // cam-2's uplink is capped at its 40 % of 20 Mbit/s: slower than at the full rate.
    let full =
        predict_plan(&Plan { uplink_capacity_bps: 0.0, ..plan() }, &setting(&models)).unwrap();
    assert!(p[1].prediction.uplink_s > 2.0 * full[1].prediction.uplink_s);
    for d in &p {
        let q = &d.prediction;
        let parts = q.device_s
            + q.encode_s
            + q.stack_s
            + q.rtt_s
            + q.uplink_s
            + q.edge_queue_s
            + q.edge_s
            + q.downlink_s;
        assert!(q.total_s.is_finite() && (q.total_s - parts).abs() < 1e-12, "{q:?}");
        // Compute or radio energy (the link's 0.5 W while sending).
        assert!(q.device_j >= 0.5 * q.uplink_s && q.device_j > 0.0, "{q:?}");
    }
}

#[test]
fn a_split_that_is_not_a_cut_of_the_model_or_a_missing_model_is_refused() {
    let models = root().join("models");
    let mut bad = plan();
    bad.devices[0].split = SplitChoice::Cut { index: 9, tensor: "stage1.block0.rlu".into() };
    let e = predict_plan(&bad, &setting(&models)).unwrap_err().to_string();
    assert!(e.contains("cam-1") && e.contains("stage1.block0.relu"), "{e}");
    bad.devices[0].split = SplitChoice::Cut { index: 999, tensor: String::new() };
    let e = predict_plan(&bad, &setting(&models)).unwrap_err().to_string();
    assert!(e.contains("cut 999"), "{e}");
    let mut missing = plan();
    missing.devices[1].model = "no-such-model".into();
    let e = predict_plan(&missing, &setting(&models)).unwrap_err().to_string();
    assert!(e.contains("cam-2") && e.contains("no-such-model.onnx"), "{e}");
    let mut invalid = plan();
    invalid.devices[1].device_id = "cam-1".into();
    assert!(predict_plan(&invalid, &setting(&models)).is_err());
}
