//! Deploy and measure: each bandwidth's chosen split executed on the real runtime — an edge
//! server and a device over gRPC on loopback, through the link emulator at that rate — and
//! the measured end-to-end latency compared with the cost model's prediction.

use std::sync::Arc;

use coinfer_data::DatasetName;
use coinfer_engine::profile::ModelProfile;
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::device::{DeviceOptions, DeviceRunner, Summary};
use coinfer_runtime::link::LinkConfig;
use coinfer_runtime::models::ModelStore;
use coinfer_runtime::relay::LinkRelay;
use coinfer_runtime::server::{EdgeConfig, EdgeHandle, EdgeState};
use coinfer_sim::{DevicePlan, Link, SplitChoice, SplitOption};

use crate::error::{PipelineError, Result};
use crate::progress::Progress;

/// One bandwidth's split, measured on the runtime and predicted by the cost model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuntimeCheck {
    /// Link rate (Mbit/s).
    pub mbps: f64,
    /// The split run.
    pub choice: SplitChoice,
    /// The cost model's end-to-end latency with this host's measured head/tail times and the
    /// bytes that crossed the emulated link per request, both ways, framing included (ms).
    pub predicted_ms: f64,
    /// Its parts: device compute, link, edge compute (ms).
    pub predicted_parts_ms: [f64; 3],
    /// The same model fed only the feature frame's bytes (no gRPC/HTTP/2 framing, no
    /// response) — what a planner that ignores the protocol predicts (ms).
    pub predicted_payload_only_ms: f64,
    /// Bytes on the wire per request: uplink, downlink.
    pub wire_bytes: [f64; 2],
    /// Measured over the runtime.
    pub measured: Summary,
    /// (measured p50 − predicted) / predicted.
    pub relative_error: f64,
}

/// What to run on the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeCheckConfig<'a> {
    /// The model file; the edge serves the folder it is in, under the file's stem.
    pub model: &'a std::path::Path,
    /// Engine name (`tract`, `ort`).
    pub engine: &'a str,
    /// The split to run at each link rate (Mbit/s).
    pub choices: &'a [(f64, SplitChoice)],
    /// Round-trip time of the emulated link (ms), half each way.
    pub rtt_ms: f64,
    /// Requests counted per rate (after two warm-up requests).
    pub images: usize,
    /// Whose test split the requests are drawn from.
    pub data: DatasetName,
}

/// Runs each choice for `config.images` test images on the runtime; `profile` holds this
/// host's head/tail times the prediction uses. Progress: one stage per rate, in requests.
pub fn check_on_runtime(
    config: &RuntimeCheckConfig<'_>,
    profile: &ModelProfile,
    progress: &mut dyn Progress,
) -> Result<Vec<RuntimeCheck>> {
    let RuntimeCheckConfig { model, engine: engine_name, choices, rtt_ms, images, data } = *config;
    let invalid = |m: &str| PipelineError::Invalid(format!("{}: {m}", model.display()));
    let dir = model.parent().ok_or_else(|| invalid("the model path has no directory"))?;
    let name = model
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| invalid("no usable file name"))?
        .to_string();
    let engine = coinfer_engine::engine_for_name(engine_name)?;
    let data = coinfer_data::load(data, coinfer_data::Split::Test)?;
    let store = Arc::new(ModelStore::new(dir, engine.clone()));
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|source| {
            PipelineError::Io { what: "starting the async runtime".into(), source }
        })?;
    rt.block_on(async {
        let state = EdgeState::new(dir, engine, EdgeConfig::default())?;
        let edge =
            EdgeHandle::start(state, std::net::SocketAddr::from(([127, 0, 0, 1], 0)), None).await?;
        let mut checks = vec![];
        for (mbps, choice) in choices {
            let link = LinkConfig::fixed(mbps * 1e6, rtt_ms / 2.0);
            let relay = LinkRelay::start(
                std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                edge.addr,
                link.clone(),
                link,
            )?;
            let client = EdgeClient::new(&format!("http://{}", relay.local_addr()), None)?;
            let plan = DevicePlan::new(format!("demo-{mbps}"), name.clone(), choice.clone());
            let mut device = DeviceRunner::new(
                plan,
                store.clone(),
                Some(client),
                DeviceOptions::default(),
                None,
            );
            device.warm_up().await?;
            progress.start(&format!("{mbps} Mbit/s"), images as u64);
            // Two warm-up requests open the connection; they are not counted.
            let mut records = vec![];
            let counted = |r: &LinkRelay| {
                use std::sync::atomic::Ordering::Relaxed;
                (r.stats.up_bytes.load(Relaxed), r.stats.down_bytes.load(Relaxed))
            };
            let mut start = (0, 0);
            for i in 0..images + 2 {
                if i == 2 {
                    start = counted(&relay);
                }
                let k = i % data.len();
                let (x, y) = data.slice(k, k + 1);
                let r = device.infer(x, Some(u32::from(y[0]))).await?;
                if i >= 2 {
                    records.push(r);
                    progress.set(records.len() as u64);
                }
            }
            let end = counted(&relay);
            let n = images.max(1) as f64;
            let wire = [(end.0 - start.0) as f64 / n, (end.1 - start.1) as f64 / n];
            progress.finish();
            let measured = Summary::of(&records);
            let (device_ms, edge_ms) = match choice {
                SplitChoice::Cut { index, .. } => {
                    let c = profile.cuts.get(*index).ok_or_else(|| {
                        PipelineError::Invalid(format!("cut {index} not profiled"))
                    })?;
                    (c.head.median_ms, c.tail.median_ms)
                }
                SplitChoice::EdgeOnly => (0.0, profile.full.median_ms),
                SplitChoice::DeviceOnly => (profile.full.median_ms, 0.0),
            };
            let option = SplitOption {
                choice: choice.clone(),
                device_ms,
                uplink_bytes: measured.mean_frame_bytes.round() as u64,
                edge_ms,
            };
            let link = Link { rate_bps: mbps * 1e6, rtt_ms };
            let payload_only = option.latency(&link).total_ms;
            let transfer = link.exchange_ms(wire[0].round() as u64, wire[1].round() as u64);
            let predicted = device_ms + transfer + edge_ms;
            checks.push(RuntimeCheck {
                mbps: *mbps,
                choice: choice.clone(),
                predicted_ms: predicted,
                predicted_parts_ms: [device_ms, transfer, edge_ms],
                predicted_payload_only_ms: payload_only,
                wire_bytes: wire,
                relative_error: (measured.e2e_ms.p50 - predicted) / predicted,
                measured,
            });
        }
        edge.stop().await?;
        Ok(checks)
    })
}
