//! Deploy and measure: each bandwidth's chosen split executed on the real runtime — an edge
//! server and a device over gRPC on loopback, through the link emulator at that rate — and
//! the measured end-to-end latency compared with the cost model's prediction.
//!
//! The prediction is the one cost model fed with what this host does: head and tail times
//! fitted to a profile timed in the periodic-request regime (caches cold between requests,
//! as they are here between requests spaced by the link), the runtime's framing bytes
//! ([`Framing::grpc`]), and the protocol stack's software time, calibrated once on the same
//! relay with the same delay but no rate limit.

use std::sync::Arc;

use coinfer_data::DatasetName;
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::device::{DeviceOptions, DeviceRunner, Percentiles, Summary};
use coinfer_runtime::link::LinkConfig;
use coinfer_runtime::models::ModelStore;
use coinfer_runtime::relay::LinkRelay;
use coinfer_runtime::server::{EdgeConfig, EdgeHandle, EdgeState};
use coinfer_sim::{
    predict, DevicePlan, Framing, LayerCost, LayerTable, LayerTimes, Link, Prediction, SplitChoice,
    SplitPoint, Transport, Work,
};

use crate::error::{PipelineError, Result};
use crate::progress::Progress;

/// One bandwidth's split, measured on the runtime and predicted by the cost model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuntimeCheck {
    /// Link rate (Mbit/s).
    pub mbps: f64,
    /// The split run.
    pub choice: SplitChoice,
    /// The cost model's prediction (head and tail from this host's periodic-regime profile,
    /// the frame's payload with the runtime's framing, the calibrated stack time).
    pub predicted: Prediction,
    /// The same model fed only the feature frame's bytes (no framing, no response, no stack
    /// time) — what a planner that ignores the protocol predicts.
    pub predicted_payload_only: Prediction,
    /// Bytes counted on the wire per request by the link emulator: uplink, downlink.
    pub wire_bytes: [f64; 2],
    /// Measured over the runtime.
    pub measured: Summary,
    /// (measured p50 − predicted) / predicted.
    pub relative_error: f64,
}

/// Every rate's check, with the calibration they share.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuntimeChecks {
    /// Protocol stack software time per request (s): the median round trip on the relay with
    /// the same delay and no rate limit, less the RTT.
    pub stack_s: f64,
    /// Requests the calibration ran.
    pub calibration_requests: usize,
    /// One check per rate.
    pub checks: Vec<RuntimeCheck>,
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
    /// Round-trip time of the emulated link (s), half each way.
    pub rtt_s: f64,
    /// Requests counted per rate (after two warm-up requests).
    pub images: usize,
    /// Whose test split the requests are drawn from.
    pub data: DatasetName,
    /// The device plan to run (its codec, codec name, pruning), split as each choice says;
    /// `None`: the model with raw float32 features.
    pub plan: Option<&'a DevicePlan>,
}

/// Runs each choice for `config.images` test images on the runtime; `host` holds this host's
/// per-layer times of `layers` the prediction uses. Progress: one stage per rate, in
/// requests.
pub fn check_on_runtime(
    config: &RuntimeCheckConfig<'_>,
    host: &LayerTimes,
    layers: &LayerTable,
    progress: &mut dyn Progress,
) -> Result<RuntimeChecks> {
    let RuntimeCheckConfig { model, engine: engine_name, choices, rtt_s, images, data, plan } =
        *config;
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
        let delay_ms = rtt_s * 1e3 / 2.0;
        let run = Deployment { edge: edge.addr, store: &store, model: &name, data: &data, plan };
        // Calibration: the stack's own time on this relay, at the same delay, no rate limit.
        let calibration_requests = images.clamp(10, 40);
        let stack_s = match choices.first() {
            Some((_, choice)) => {
                let unshaped = LinkConfig::fixed(0.0, delay_ms);
                let (records, _) = run
                    .measure("calibration", choice, unshaped, calibration_requests, progress)
                    .await?;
                let rtt = Percentiles::of(records.iter().map(|r| r.transmit_ms / 1e3)).p50;
                (rtt - rtt_s).max(0.0)
            }
            None => 0.0,
        };
        let mut checks = vec![];
        for (mbps, choice) in choices {
            let link = LinkConfig::fixed(mbps * 1e6, delay_ms);
            let (records, wire) =
                run.measure(&format!("{mbps} Mbit/s"), choice, link, images, progress).await?;
            let measured = Summary::of(&records);
            let n = layers.layers.len();
            let p = SplitPoint::from(choice).partition(n.saturating_sub(1));
            // Device-only sends nothing: no transfer, round trip or framing to predict.
            let work = match choice {
                SplitChoice::DeviceOnly => Work::local(host.run_s(layers, 0..n), 0.0),
                _ => Work::split(
                    host.run_s(layers, 0..p),
                    0.0,
                    measured.mean_frame_bytes,
                    host.run_s(layers, p..n),
                ),
            };
            let transport =
                Transport { rtt_s, stack_s, framing: Framing::grpc(), ..Transport::ideal() };
            let predicted =
                predict(&work, &Link { up_bps: mbps * 1e6, tx_power_w: 0.0, transport });
            let payload_only = predict(&work, &Link::simple(mbps * 1e6, rtt_s));
            checks.push(RuntimeCheck {
                mbps: *mbps,
                choice: choice.clone(),
                relative_error: (measured.e2e_ms.p50 / 1e3 - predicted.total_s) / predicted.total_s,
                predicted,
                predicted_payload_only: payload_only,
                wire_bytes: wire,
                measured,
            });
        }
        edge.stop().await?;
        Ok(RuntimeChecks { stack_s, calibration_requests, checks })
    })
}

/// A running edge and what a device needs to send it requests.
struct Deployment<'a> {
    edge: std::net::SocketAddr,
    store: &'a Arc<ModelStore>,
    model: &'a str,
    data: &'a coinfer_data::Dataset,
    plan: Option<&'a DevicePlan>,
}

impl Deployment<'_> {
    /// `images` requests (after two uncounted warm-up requests) of `choice` through a relay
    /// emulating `link` both ways: the records and the wire bytes per request (up, down).
    async fn measure(
        &self,
        stage: &str,
        choice: &SplitChoice,
        link: LinkConfig,
        images: usize,
        progress: &mut dyn Progress,
    ) -> Result<(Vec<coinfer_runtime::device::Record>, [f64; 2])> {
        let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let relay = LinkRelay::start(any, self.edge, link.clone(), link)?;
        let client = EdgeClient::new(&format!("http://{}", relay.local_addr()), None)?;
        let mut plan =
            self.plan.cloned().unwrap_or_else(|| DevicePlan::new("", self.model, choice.clone()));
        (plan.device_id, plan.model, plan.split) =
            (format!("check-{stage}"), self.model.to_string(), choice.clone());
        let mut device = DeviceRunner::new(
            plan,
            self.store.clone(),
            Some(client),
            DeviceOptions::default(),
            None,
        );
        device.warm_up().await?;
        progress.start(stage, images as u64);
        let counted = |r: &LinkRelay| {
            use std::sync::atomic::Ordering::Relaxed;
            (r.stats.up_bytes.load(Relaxed), r.stats.down_bytes.load(Relaxed))
        };
        let mut records = vec![];
        let mut start = (0, 0);
        for i in 0..images + 2 {
            if i == 2 {
                start = counted(&relay);
            }
            let k = i % self.data.len();
            let (x, y) = self.data.slice(k, k + 1);
            let r = device.infer(x, Some(u32::from(y[0]))).await?;
            if i >= 2 {
                records.push(r);
                progress.set(records.len() as u64);
            }
        }
        let end = counted(&relay);
        progress.finish();
        let n = images.max(1) as f64;
        Ok((records, [(end.0 - start.0) as f64 / n, (end.1 - start.1) as f64 / n]))
    }
}
