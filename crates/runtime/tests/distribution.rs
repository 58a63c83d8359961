//! Model distribution end to end on loopback: the edge publishes versions, a device downloads
//! heads through an emulated link (resuming after the link drops), verifies them and runs
//! from them; corrupted, truncated and mismatched downloads are refused and change nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod common;

use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::device::{DeviceOptions, DeviceRunner, LocalModel, ServedBy};
use coinfer_runtime::distribution::{sha256_hex, verify_head};
use coinfer_runtime::fetch::{fetch_head, FetchOptions};
use coinfer_runtime::link::LinkConfig;
use coinfer_runtime::models::{ModelId, ModelStore};
use coinfer_runtime::relay::LinkRelay;
use coinfer_runtime::server::{EdgeConfig, EdgeHandle, EdgeState};
use coinfer_sim::{DevicePlan, OnlineSplit, SplitChoice};
use common::{any, models_dir, samples};

const MODEL: &str = "resnet";

/// An edge folder with two versions of the bundled model as `resnet/<w>.onnx`.
fn edge_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(MODEL)).expect("mkdir");
    for w in ["w025", "w050"] {
        let from = models_dir().join(format!("versions/fmnist-resnet-{w}.onnx"));
        std::fs::copy(from, dir.path().join(MODEL).join(format!("{w}.onnx"))).expect("copy");
    }
    dir
}

async fn edge(dir: &Path) -> EdgeHandle {
    let engine = coinfer_engine::engine_for_name("tract").expect("tract");
    let state = EdgeState::new(dir, engine, EdgeConfig::default()).expect("edge");
    EdgeHandle::start(state, any(), None).await.expect("edge starts")
}

fn device_store(dir: &Path) -> Arc<ModelStore> {
    let engine = coinfer_engine::engine_for_name("tract").expect("tract");
    Arc::new(ModelStore::new(dir, engine))
}

/// Splits online at every stage up to the head's output: offload only at the horizon.
fn head_plan(version: &str, layers: usize) -> DevicePlan {
    let mut p = DevicePlan::new("cam", MODEL, SplitChoice::EdgeOnly);
    p.version = version.into();
    let mut min_rate = vec![f64::MAX; layers];
    min_rate.push(0.0);
    p.online = Some(OnlineSplit { cuts: (0..layers).collect(), min_rate_bps: min_rate });
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_places_heads_of_published_versions_and_runs_from_them() {
    let served = edge_dir();
    let edge = edge(served.path()).await;
    let mut client = EdgeClient::new(&edge.url(), None).expect("client");

    // Nothing published yet: every version on disk, by name.
    let all = client.versions(MODEL).await.expect("versions");
    let names: Vec<&str> = all.versions.iter().map(|v| v.version.as_str()).collect();
    assert_eq!(names, ["w025", "w050"]);
    edge.state.publish(MODEL, "w050").expect("publish");
    let published = client.versions(MODEL).await.expect("versions");
    assert_eq!(published.versions.len(), 1);
    let v = published.versions[0].clone();
    assert_eq!((v.version.as_str(), v.layers, v.heads.len()), ("w050", 20, 20));
    // Heads grow with K and the whole model is the file itself.
    assert!(v.heads.windows(2).all(|w| w[0].bytes <= w[1].bytes));
    let file = std::fs::read(served.path().join("resnet/w050.onnx")).expect("read");
    assert_eq!(v.heads[19].sha256, sha256_hex(&file));
    assert!(edge.state.publish(MODEL, "w999").is_err(), "no such file: refused");

    // Reference answers: the whole version on the device.
    let device_dir = tempfile::tempdir().expect("tempdir");
    let store = device_store(device_dir.path());
    let whole = fetch_head(&mut client, MODEL, &v, 20, device_dir.path(), &FetchOptions::default())
        .await
        .expect("whole model");
    assert_eq!(std::fs::read(&whole.path).expect("read"), file);
    let data = samples(12);
    let mut full = DeviceRunner::new(
        DevicePlan { version: whole.local.version.clone(), ..head_plan("", 0) },
        store.clone(),
        None,
        DeviceOptions::default(),
        None,
    );
    full.switch(
        DevicePlan {
            version: whole.local.version.clone(),
            ..DevicePlan::new("cam", MODEL, SplitChoice::DeviceOnly)
        },
        Some(LocalModel { id: whole.local.clone(), complete: true }),
    )
    .await
    .expect("switch");
    let mut want = vec![];
    for (x, _) in data.iter() {
        want.push(full.infer(x.clone(), None).await.expect("local").predicted);
    }

    // Heads of 1, 6 and 19 layers: run every layer on the device, the rest on the edge.
    for k in [1usize, 6, 19] {
        let got =
            fetch_head(&mut client, MODEL, &v, k, device_dir.path(), &FetchOptions::default())
                .await
                .expect("head");
        assert_eq!(got.bytes, v.heads[k - 1].bytes);
        assert_eq!(store.cut_count(&got.local).expect("head loads"), k - 1);
        // A slow link seen by the rule: it stops only at the horizon.
        let slow: coinfer_runtime::device::RateProbe = Arc::new(|| Some(1.0));
        let mut dev = DeviceRunner::new(
            head_plan("w050", k),
            store.clone(),
            Some(EdgeClient::new(&edge.url(), None).expect("client")),
            DeviceOptions::default(),
            Some(slow),
        );
        dev.switch(head_plan("w050", k), Some(LocalModel { id: got.local, complete: false }))
            .await
            .expect("switch");
        for ((x, _), want) in data.iter().zip(&want) {
            let r = dev.infer(x.clone(), None).await.expect("infer");
            assert_eq!(r.served_by, ServedBy::Edge, "K = {k}: {r:?}");
            assert_eq!(r.cut, Some(k as i32 - 1), "K = {k}: sent from the head's output");
            assert_eq!(r.predicted, *want, "K = {k}: same answer as the whole model");
        }
    }
    edge.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_resumes_after_the_link_drops() {
    let served = edge_dir();
    let edge = edge(served.path()).await;
    let v = EdgeClient::new(&edge.url(), None)
        .expect("client")
        .versions(MODEL)
        .await
        .expect("versions")
        .versions
        .into_iter()
        .find(|v| v.version == "w050")
        .expect("w050");
    // 97 kB at 2 Mbit/s: ~0.4 s; the link drops after 0.15 s and comes back 0.1 s later.
    let link = LinkConfig::fixed(2e6, 1.0);
    let relay = LinkRelay::start(any(), edge.addr, link.clone(), link.clone()).expect("relay");
    let addr = relay.local_addr();
    let mut client = EdgeClient::new(&format!("http://{addr}"), None).expect("client");
    let dir = tempfile::tempdir().expect("tempdir");
    let options = FetchOptions { chunk_bytes: 8 << 10, ..FetchOptions::default() };
    let (vv, path) = (v.clone(), dir.path().to_path_buf());
    let download =
        tokio::spawn(async move { fetch_head(&mut client, MODEL, &vv, 20, &path, &options).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    drop(relay);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _back = LinkRelay::start(addr, edge.addr, link.clone(), link).expect("relay again");
    let got = download.await.expect("task").expect("download completes");
    assert!(got.resumes >= 1, "the drop must have been resumed from: {got:?}");
    let file = std::fs::read(served.path().join("resnet/w050.onnx")).expect("read");
    assert_eq!(std::fs::read(&got.path).expect("read"), file, "byte for byte");
    edge.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_truncated_and_mismatched_heads_are_refused_and_the_device_keeps_serving() {
    let served = edge_dir();
    let edge = edge(served.path()).await;
    let mut client = EdgeClient::new(&edge.url(), None).expect("client");
    let versions = client.versions(MODEL).await.expect("versions").versions;
    let v = versions.iter().find(|v| v.version == "w050").expect("w050").clone();
    let w025 = versions.iter().find(|v| v.version == "w025").expect("w025").clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = device_store(dir.path());

    // The device runs 6 layers of w050.
    let old = fetch_head(&mut client, MODEL, &v, 6, dir.path(), &FetchOptions::default())
        .await
        .expect("head");
    let mut dev = DeviceRunner::new(
        head_plan("w050", 6),
        store.clone(),
        Some(EdgeClient::new(&edge.url(), None).expect("client")),
        DeviceOptions::default(),
        None,
    );
    dev.switch(head_plan("w050", 6), Some(LocalModel { id: old.local.clone(), complete: false }))
        .await
        .expect("switch");
    let x = samples(1)[0].0.clone();
    let before = dev.infer(x.clone(), None).await.expect("infer");

    // A corrupted transfer: the bytes differ from the advertised checksum.
    let mut corrupt = v.clone();
    corrupt.heads[7].sha256 = sha256_hex(b"something else");
    let e = fetch_head(&mut client, MODEL, &corrupt, 8, dir.path(), &FetchOptions::default())
        .await
        .expect_err("corrupt");
    assert!(e.to_string().contains("SHA-256"), "{e}");
    assert!(!dir.path().join("resnet/w050.k8.onnx").exists(), "nothing written");
    assert!(!dir.path().join("resnet/w050.k8.onnx.part").exists(), "nothing left behind");

    // Truncated, flipped and padded bytes, checked directly.
    let head = std::fs::read(&old.path).expect("read");
    let info = &v.heads[5];
    let e = verify_head(&head[..head.len() - 10], info, &v).expect_err("truncated");
    assert!(e.to_string().contains("truncated"), "{e}");
    let mut flipped = head.clone();
    flipped[head.len() / 2] ^= 0x40;
    let e = verify_head(&flipped, info, &v).expect_err("flipped");
    assert!(e.to_string().contains("SHA-256"), "{e}");

    // A head whose output is not what the edge's tail takes (w025's head of 6 layers,
    // advertised as w050's): refused even with a matching checksum.
    let other = fetch_head(&mut client, MODEL, &w025, 6, dir.path(), &FetchOptions::default())
        .await
        .expect("w025 head");
    let bytes = std::fs::read(&other.path).expect("read");
    let mut claimed = v.heads[5].clone();
    claimed.bytes = bytes.len() as u64;
    claimed.sha256 = sha256_hex(&bytes);
    let e = verify_head(&bytes, &claimed, &v).expect_err("mismatch");
    assert!(e.to_string().contains("does not match the edge's tail"), "{e}");

    // More layers than the version has, and a version the edge does not have.
    assert!(fetch_head(&mut client, MODEL, &v, 21, dir.path(), &FetchOptions::default())
        .await
        .is_err());
    let mut ghost = v.clone();
    ghost.version = "w999".into();
    let e = fetch_head(&mut client, MODEL, &ghost, 6, dir.path(), &FetchOptions::default())
        .await
        .expect_err("no such version");
    assert!(e.to_string().contains("refused"), "{e}");

    // Through all of it the device kept its head and kept answering.
    assert_eq!(dev.local().map(|l| &l.id), Some(&old.local));
    let after = dev.infer(x, None).await.expect("infer");
    assert_eq!((after.served_by, after.predicted), (before.served_by, before.predicted));
    let _ = ModelId { model: MODEL.into(), version: String::new() };
    edge.stop().await.expect("stops");
}
