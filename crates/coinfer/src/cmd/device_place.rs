//! `coinfer device run --place`: the device places each version the edge publishes (seed
//! 002's slow time scale) and keeps serving while it downloads.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use coinfer_pipeline::placement_decision::{
    decide, download_s, layer_times, measured_cost, online_plan, version_problem,
};
use coinfer_policy::stopping_config::StoppingConfig;
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::device::{DeviceRunner, LocalModel, Record, ServedBy};
use coinfer_runtime::fetch::{fetch_head, FetchOptions, Fetched};
use coinfer_sim::{DevicePlan, SplitChoice};

use crate::args::DeviceRunArgs;
use crate::output::table;

/// One placement: a published version, the layers chosen, the download and what it served.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Placement {
    /// Version.
    pub version: String,
    /// Layers placed `K` of `N`.
    pub k: usize,
    /// Layers of the version.
    pub layers: usize,
    /// Predicted period cost `Ω(K) + Q·J(K)` at the chosen `K`, and at `K = 0` and `K = N`.
    pub period_cost: [f64; 3],
    /// Head bytes.
    pub bytes: u64,
    /// Download time predicted (bytes at the configured download rate) and measured, s.
    pub download_s: [f64; 2],
    /// Requests answered with this placement (edge, local, unanswered/fallback).
    pub served: [usize; 3],
    /// Mean end-to-end latency of those requests, ms.
    pub mean_e2e_ms: f64,
    /// Their mean measured cost `w_T·T + w_E·E`: end-to-end time, device compute time × its
    /// power, and (when the link's rate is observed) the request's wire bytes at that rate ×
    /// the transmit power.
    pub mean_cost: f64,
    /// `J(K*)`: the cost per inference the decision expected.
    pub expected_cost: f64,
}

/// The placement loop's state.
pub struct Placer {
    config: StoppingConfig,
    entry: DevicePlan,
    client: EdgeClient,
    dir: std::path::PathBuf,
    poll: Duration,
    emulate: bool,
    last_poll: Option<Instant>,
    /// The version placed or being placed.
    current: Option<String>,
    pending: Option<Pending>,
    rows: Vec<Placement>,
    /// Row of the placement serving now.
    serving: Option<usize>,
    e2e_sum: f64,
    cost_sum: f64,
    /// The configured device's power while computing, W.
    device_power_w: f64,
}

struct Pending {
    task: tokio::task::JoinHandle<Result<Fetched, coinfer_runtime::RuntimeError>>,
    plan: DevicePlan,
    complete: bool,
    layer_times: Vec<Duration>,
    row: usize,
}

impl Placer {
    /// Reads the configuration; the device's model directory receives the heads.
    pub fn new(
        config: &Path,
        entry: &DevicePlan,
        client: EdgeClient,
        args: &DeviceRunArgs,
    ) -> Result<Placer> {
        let text = std::fs::read_to_string(config)
            .with_context(|| format!("reading {}", config.display()))?;
        let config: StoppingConfig =
            toml::from_str(&text).with_context(|| format!("parsing {}", config.display()))?;
        config.layer_download_costs()?;
        let device_power_w = config.device.compute()?.power_w;
        Ok(Placer {
            config,
            entry: entry.clone(),
            client,
            dir: args.models.clone(),
            poll: Duration::from_millis(args.poll_ms),
            emulate: args.emulate_device,
            last_poll: None,
            current: None,
            pending: None,
            rows: vec![],
            serving: None,
            e2e_sum: 0.0,
            cost_sum: 0.0,
            device_power_w,
        })
    }

    /// Starts with nothing placed (inputs to the edge), then places the current version.
    pub async fn start(&mut self, device: &mut DeviceRunner) -> Result<()> {
        let mut plan =
            DevicePlan::new(&self.entry.device_id, &self.entry.model, SplitChoice::EdgeOnly);
        plan.deadline_ms = self.entry.deadline_ms;
        device.switch(plan, None).await?;
        self.step(device).await
    }

    /// Between requests: switches to a verified download, or asks for a new version.
    pub async fn step(&mut self, device: &mut DeviceRunner) -> Result<()> {
        if self.pending.as_ref().is_some_and(|p| p.task.is_finished()) {
            if let Some(p) = self.pending.take() {
                match p.task.await.context("download task")? {
                    Ok(got) => {
                        let local = LocalModel { id: got.local.clone(), complete: p.complete };
                        device.switch(p.plan, Some(local)).await?;
                        if self.emulate {
                            device.set_emulated_layers(p.layer_times);
                        }
                        self.rows[p.row].download_s[1] = got.seconds;
                        self.serve_with(p.row);
                        tracing::info!(
                            version = %self.rows[p.row].version,
                            k = got.layers,
                            seconds = got.seconds,
                            "head verified and in use"
                        );
                    }
                    // Refused or failed: keep serving with what the device has, and try again
                    // at the next poll.
                    Err(e) => {
                        tracing::warn!("download refused: {e}; keeping the current model");
                        self.current = None;
                    }
                }
            }
        }
        if self.pending.is_some() || self.last_poll.is_some_and(|t| t.elapsed() < self.poll) {
            return Ok(());
        }
        self.last_poll = Some(Instant::now());
        let versions = match self.client.versions(&self.entry.model).await {
            Ok(v) => v.versions,
            Err(s) => {
                tracing::warn!("asking the edge for versions: {}", s.message());
                return Ok(());
            }
        };
        let Some(v) = versions.last() else { return Ok(()) };
        if self.current.as_deref() == Some(v.version.as_str()) {
            return Ok(());
        }
        self.current = Some(v.version.clone());
        let p = version_problem(&self.config, v, &self.config.transport)?;
        let d = decide(&self.config, v, &p)?;
        let n = p.layers();
        let plan = online_plan(&self.entry, &v.version, d.k, &d.thresholds, &p);
        let bytes = if d.k > 0 { v.heads[d.k - 1].bytes } else { 0 };
        self.rows.push(Placement {
            version: v.version.clone(),
            k: d.k,
            layers: n,
            period_cost: [d.costs[d.k].total, d.costs[0].total, d.costs[n].total],
            bytes,
            download_s: [if d.k > 0 { download_s(&self.config, bytes) } else { 0.0 }, 0.0],
            served: [0; 3],
            mean_e2e_ms: 0.0,
            mean_cost: 0.0,
            expected_cost: d.costs[d.k].per_inference,
        });
        let row = self.rows.len() - 1;
        tracing::info!(version = %v.version, k = d.k, n, bytes, "placement decided");
        if d.k == 0 {
            device.switch(plan, None).await?;
            self.serve_with(row);
            return Ok(());
        }
        if device.local().is_none() {
            // Nothing placed yet: send inputs to the new version while its head downloads.
            let edge_only = online_plan(&self.entry, &v.version, 0, &[], &p);
            device.switch(edge_only, None).await?;
        }
        let (mut client, info, dir, k) = (self.client.clone(), v.clone(), self.dir.clone(), d.k);
        let model = self.entry.model.clone();
        let task = tokio::spawn(async move {
            fetch_head(&mut client, &model, &info, k, &dir, &FetchOptions::default()).await
        });
        let layer_times = layer_times(&self.config, v)?;
        self.pending = Some(Pending { task, plan, complete: d.k == n, layer_times, row });
        Ok(())
    }

    fn serve_with(&mut self, row: usize) {
        self.close_serving();
        self.serving = Some(row);
        self.e2e_sum = 0.0;
        self.cost_sum = 0.0;
    }

    fn close_serving(&mut self) {
        if let Some(r) = self.serving.and_then(|i| self.rows.get_mut(i)) {
            let n: usize = r.served.iter().sum();
            r.mean_e2e_ms = if n > 0 { self.e2e_sum / n as f64 } else { 0.0 };
            r.mean_cost = if n > 0 { self.cost_sum / n as f64 } else { 0.0 };
        }
    }

    /// Attributes a request to the placement that served it.
    pub fn count(&mut self, r: &Record) {
        if let Some(row) = self.serving.and_then(|i| self.rows.get_mut(i)) {
            let slot = match r.served_by {
                ServedBy::Edge => 0,
                ServedBy::Local => 1,
                ServedBy::Fallback | ServedBy::Unanswered => 2,
            };
            row.served[slot] += 1;
            self.e2e_sum += r.e2e_ms;
            self.cost_sum += self.measured_cost(r);
        }
    }

    /// A request's cost from its measured times (see [`Placement::mean_cost`]).
    fn measured_cost(&self, r: &Record) -> f64 {
        let c = &self.config;
        let powers = (self.device_power_w, c.radio.tx_power_w);
        measured_cost(r, &c.weights, powers, &c.transport.framing, r.observed_rate_bps)
    }

    /// Waits for a download still running (so its time is known) and returns the placements.
    pub async fn finish(mut self, device: &mut DeviceRunner) -> Result<Vec<Placement>> {
        while self.pending.is_some() {
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.last_poll = Some(Instant::now());
            self.step(device).await?;
        }
        self.close_serving();
        Ok(self.rows)
    }
}

/// The placements for humans.
pub fn placements_table(rows: &[Placement]) -> String {
    let f = |v: f64| format!("{v:.3}");
    table(
        &[
            "version",
            "K/N",
            "period cost K / 0 / N",
            "kB",
            "download s pred / meas",
            "edge/local/failed",
            "mean e2e ms",
            "cost expected / measured",
        ],
        rows.iter()
            .map(|p| {
                vec![
                    p.version.clone(),
                    format!("{}/{}", p.k, p.layers),
                    format!(
                        "{} / {} / {}",
                        f(p.period_cost[0]),
                        f(p.period_cost[1]),
                        f(p.period_cost[2])
                    ),
                    format!("{:.1}", p.bytes as f64 / 1e3),
                    format!("{} / {}", f(p.download_s[0]), f(p.download_s[1])),
                    format!("{}/{}/{}", p.served[0], p.served[1], p.served[2]),
                    format!("{:.2}", p.mean_e2e_ms),
                    format!("{:.3e} / {:.3e}", p.expected_cost, p.mean_cost),
                ]
            })
            .collect(),
    )
}
