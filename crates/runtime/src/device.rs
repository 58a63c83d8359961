//! The device side: run the head, encode, ask the edge, fall back to the local model when
//! the edge fails, and time every stage of every request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use coinfer_compress::Feature;
use coinfer_engine::Tensor;
use coinfer_sim::{DevicePlan, SplitChoice, SplitPoint};

use crate::client::EdgeClient;
use crate::error::{Result, RuntimeError};
use crate::models::{Loaded, ModelId, ModelStore, Part};
use crate::proto::InferRequest;

/// Who produced a request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServedBy {
    /// The edge ran the tail.
    Edge,
    /// The edge failed or was skipped; the device finished locally.
    Fallback,
    /// The plan (or the online rule) kept it on the device.
    Local,
    /// The edge failed and the device holds only a head: no answer (`predicted` is 0).
    Unanswered,
}

/// One request, timed. Times in ms.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// Request number.
    pub request_id: u64,
    /// When the request started: wall-clock milliseconds since the Unix epoch.
    #[serde(default)]
    pub unix_ms: f64,
    /// Device.
    pub device_id: String,
    /// Ground truth, if known.
    pub label: Option<u32>,
    /// Predicted class.
    pub predicted: u32,
    /// `predicted == label`.
    pub correct: Option<bool>,
    /// Who answered.
    pub served_by: ServedBy,
    /// Cut the feature was sent from (-1 = the input; `None` = not sent).
    pub cut: Option<i32>,
    /// Frame bytes sent (0 if none).
    pub frame_bytes: usize,
    /// Uplink rate observed when deciding (online splitting), bit/s.
    pub observed_rate_bps: Option<f64>,
    /// Head compute on the device.
    pub head_ms: f64,
    /// Feature encoding.
    pub encode_ms: f64,
    /// Network: round trip minus the edge's own time (transfer both ways, gRPC, TCP).
    pub transmit_ms: f64,
    /// Edge: held by the bandwidth share.
    pub edge_shaping_ms: f64,
    /// Edge: frame decoding.
    pub edge_decode_ms: f64,
    /// Edge: queueing for a worker and the batch.
    pub edge_queue_ms: f64,
    /// Edge: tail compute (whole batch).
    pub edge_tail_ms: f64,
    /// Batch the tail ran in.
    pub batch_size: u32,
    /// Local compute after the split (fallback, or finishing locally).
    pub local_ms: f64,
    /// End to end: input to answer.
    pub e2e_ms: f64,
    /// Why the edge did not answer (fallback only).
    pub error: Option<String>,
    /// Which of the device's edges answered (0 = the first listed).
    #[serde(default)]
    pub edge_index: Option<u32>,
    /// With [`DeviceOptions::emulated_compute`]: how much longer than the emulated time the
    /// real compute took (ms; 0 = the emulation held) — this host too slow to emulate.
    #[serde(default)]
    pub compute_overrun_ms: f64,
}

/// How the device talks to the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceOptions {
    /// After an edge failure, finish locally without asking the edge for this long.
    pub retry_after: Duration,
    /// Give up on the edge after this long when the plan has no deadline.
    pub default_timeout: Duration,
    /// Testbed knob: emulate a slower device by holding its own compute of the plan (the
    /// head, or the whole model when it keeps everything) until this long after the request
    /// started; a real run that takes longer is not cut short, and finishing locally after an
    /// edge failure is not held. `None` = this host's speed.
    pub emulated_compute: Option<Duration>,
    /// Testbed knob for online splitting: the emulated device time of each layer (layer `k`
    /// at index `k − 1`, layers as in [`crate::distribution`]). A feature leaves (and a local
    /// answer is given) when the layers run so far would have finished; stages in between are
    /// not held, so this host's per-stage overhead is absorbed, and the rate a stage observes
    /// is read when its real compute ends. Empty = this host's speed.
    pub emulated_layers: Vec<Duration>,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            retry_after: Duration::from_millis(500),
            default_timeout: Duration::from_secs(5),
            emulated_compute: None,
            emulated_layers: Vec::new(),
        }
    }
}

/// Observes the current uplink rate (bit/s), for online splitting.
pub type RateProbe = Arc<dyn Fn() -> Option<f64> + Send + Sync>;

/// The model a device runs its part from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalModel {
    /// In the device's model store (a version, or a downloaded head `<version>.k<K>`).
    pub id: ModelId,
    /// Whether it is the whole network (else a head: the device cannot answer alone).
    pub complete: bool,
}

/// A device executing its plan entry.
pub struct DeviceRunner {
    plan: DevicePlan,
    /// `None`: nothing placed on the device (every request goes to the edge).
    local: Option<LocalModel>,
    store: Arc<ModelStore>,
    /// Edges in order of preference: each request goes to the first one not marked down and
    /// fails over to the next; a failed edge is skipped for `retry_after`, then preferred again.
    edges: Vec<EdgeSlot>,
    options: DeviceOptions,
    probe: Option<RateProbe>,
    next_id: u64,
}

/// One edge a device may ask.
struct EdgeSlot {
    client: EdgeClient,
    /// Skipped until then, after a failure.
    down_until: Option<Instant>,
    /// When a request to it last failed.
    failed_at: Option<Instant>,
    /// What the active health check saw last (see [`DeviceRunner::check_health`]).
    health: Option<Arc<HealthState>>,
}

impl EdgeSlot {
    fn new(client: EdgeClient) -> EdgeSlot {
        EdgeSlot { client, down_until: None, failed_at: None, health: None }
    }
}

/// An edge's last health check: whether it answered, and when it last did.
#[derive(Default)]
struct HealthState {
    /// The last check failed.
    down: std::sync::atomic::AtomicBool,
    /// When a check last succeeded.
    last_ok: std::sync::Mutex<Option<Instant>>,
}

impl HealthState {
    fn last_ok(&self) -> Option<Instant> {
        self.last_ok.lock().ok().and_then(|t| *t)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Online splitting's stages: at each, offload if the observed rate meets the stage's minimum,
/// else run the next segment. Returns the cut (`None` = finish locally), the feature, the rate
/// observed last and the emulated device time of the layers run. Each segment runs like a part
/// ([`run_part`]): short ones on this thread, so a request that offloads its input or runs a
/// few small segments hands nothing to another thread.
async fn online_stages(
    o: &coinfer_sim::OnlineSplit,
    store: &Arc<ModelStore>,
    id: &ModelId,
    probe: Option<&RateProbe>,
    emulated_layers: &[Duration],
    input: Tensor,
) -> Result<(Option<i32>, Tensor, Option<f64>, Duration)> {
    let observe = || probe.and_then(|p| p());
    let mut layers_done = Duration::ZERO;
    let mut x = input;
    let mut from = None;
    for (stage, &min_rate) in o.min_rate_bps.iter().enumerate() {
        let rate = observe();
        // Without a probe the rule sees an unlimited link.
        if rate.unwrap_or(f64::INFINITY) >= min_rate {
            let at = from.map_or(SplitPoint::EdgeOnly, SplitPoint::AfterCut);
            return Ok((at.to_wire(), x, rate, layers_done));
        }
        let Some(&to) = o.cuts.get(stage) else {
            return Ok((None, x, rate, layers_done));
        };
        x = run_part(part(store, id, Part::Segment { from, to }).await?, x).await?;
        layers_done += emulated_layers.get(stage).copied().unwrap_or_default();
        from = Some(to);
    }
    Ok((None, x, observe(), layers_done))
}

/// Parts whose last run took less than this run on the async thread itself: a hand-off to the
/// blocking pool and back costs two thread wake-ups (60–200 µs each after an idle gap on a
/// 2-vCPU VM), more than such a part takes; longer parts run on a blocking thread.
const INLINE_BELOW: Duration = Duration::from_micros(500);

/// Runs a prepared part: inline when it is known to be short, else off the async threads.
async fn run_part(part: Arc<Loaded>, x: Tensor) -> Result<Tensor> {
    let first = |part: &Loaded, mut out: Vec<Tensor>| {
        if out.is_empty() {
            return Err(RuntimeError::Invalid(format!("{} has no outputs", part.label)));
        }
        Ok(out.swap_remove(0))
    };
    if part.last_run().is_some_and(|t| t < INLINE_BELOW) {
        let out = part.run_timed(&[x])?;
        return first(&part, out);
    }
    tokio::task::spawn_blocking(move || {
        let out = part.run_timed(&[x])?;
        first(&part, out)
    })
    .await
    .map_err(|e| RuntimeError::Invalid(format!("device compute: {e}")))?
}

/// A part of the model, looked up at once when prepared already, else prepared on a blocking
/// thread.
async fn part(store: &Arc<ModelStore>, id: &ModelId, p: Part) -> Result<Arc<Loaded>> {
    if let Some(ready) = store.prepared(id, p) {
        return Ok(ready);
    }
    let (store, id) = (store.clone(), id.clone());
    tokio::task::spawn_blocking(move || store.part(&id, p))
        .await
        .map_err(|e| RuntimeError::Invalid(format!("loading a model part: {e}")))?
}

impl DeviceRunner {
    /// A device running `plan` with models from `store`, talking to `client` (none = no
    /// edge: everything runs locally). `probe` observes the uplink rate for online splitting.
    pub fn new(
        plan: DevicePlan,
        store: Arc<ModelStore>,
        client: Option<EdgeClient>,
        options: DeviceOptions,
        probe: Option<RateProbe>,
    ) -> DeviceRunner {
        let id = ModelId { model: plan.model.clone(), version: plan.version.clone() };
        let local = Some(LocalModel { id, complete: true });
        DeviceRunner {
            plan,
            local,
            store,
            edges: client.into_iter().map(EdgeSlot::new).collect(),
            options,
            probe,
            next_id: 0,
        }
    }

    /// Adds an edge to fail over to, after those already known.
    pub fn add_edge(&mut self, client: EdgeClient) {
        self.edges.push(EdgeSlot::new(client));
    }

    /// Health-checks every edge every `interval` in the background (the `Health` rpc, which
    /// needs no credential, given `interval` to answer, at most 1 s): an edge that fails its
    /// check is skipped before a request runs into it, and one marked down after a failed
    /// request is used again as soon as a check after the failure succeeds, instead of after
    /// `retry_after`. The checks stop when the runner is dropped. Call on a tokio runtime.
    pub fn check_health(&mut self, interval: Duration) {
        let timeout = interval.min(Duration::from_secs(1));
        for (i, slot) in self.edges.iter_mut().enumerate() {
            let state = Arc::new(HealthState::default());
            let weak = Arc::downgrade(&state);
            slot.health = Some(state);
            let mut client = slot.client.clone();
            let device = self.plan.device_id.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let ok = matches!(
                        tokio::time::timeout(timeout, client.health()).await,
                        Ok(Ok(h)) if h.status == "SERVING"
                    );
                    let Some(state) = weak.upgrade() else { return };
                    let was_down = state.down.swap(!ok, std::sync::atomic::Ordering::Relaxed);
                    if ok {
                        if let Ok(mut t) = state.last_ok.lock() {
                            *t = Some(Instant::now());
                        }
                    }
                    if was_down == ok {
                        let what = if ok {
                            "passes its health check again"
                        } else {
                            "fails its health check"
                        };
                        tracing::info!(%device, edge = i, "edge {what}");
                    }
                }
            });
        }
    }

    /// Loads every part the plan can use, so the first request is not slowed by it.
    pub async fn warm_up(&self) -> Result<()> {
        Self::prepare(&self.store, &self.plan, self.local.as_ref()).await
    }

    /// Loads every part `plan` uses from `local` into `store` (before [`DeviceRunner::switch`],
    /// while the device keeps serving).
    pub async fn prepare(
        store: &Arc<ModelStore>,
        plan: &DevicePlan,
        local: Option<&LocalModel>,
    ) -> Result<()> {
        let Some(local) = local else { return Ok(()) };
        for p in parts_used(plan, local.complete) {
            part(store, &local.id, p).await?;
        }
        Ok(())
    }

    /// Switches to `plan` (the wire: its model, version, codec, rule) run from `local` (none
    /// = nothing on the device: the plan must send the input). Takes effect from the next
    /// request; call [`DeviceRunner::prepare`] first so the switch itself waits for nothing.
    pub async fn switch(&mut self, plan: DevicePlan, local: Option<LocalModel>) -> Result<()> {
        if local.is_none() && !matches!(plan.split, SplitChoice::EdgeOnly) {
            return Err(RuntimeError::Invalid(format!(
                "device `{}`: with nothing placed the plan must be edge-only, not {}",
                plan.device_id, plan.split
            )));
        }
        Self::prepare(&self.store, &plan, local.as_ref()).await?;
        self.plan = plan;
        self.local = local;
        Ok(())
    }

    /// Sets the emulated device time of each layer (see [`DeviceOptions::emulated_layers`]),
    /// e.g. with a switch to another version.
    pub fn set_emulated_layers(&mut self, layers: Vec<Duration>) {
        self.options.emulated_layers = layers;
    }

    /// The plan being run.
    pub fn plan(&self) -> &DevicePlan {
        &self.plan
    }

    /// The model the device runs from (`None`: nothing placed).
    pub fn local(&self) -> Option<&LocalModel> {
        self.local.as_ref()
    }

    /// The local model, or an error saying there is none.
    fn local_id(&self) -> Result<&ModelId> {
        self.local.as_ref().map(|l| &l.id).ok_or_else(|| {
            RuntimeError::Invalid(format!(
                "device `{}` holds no model: only edge-only plans run",
                self.plan.device_id
            ))
        })
    }
}

/// The parts of the local model `plan` uses (`complete`: the local model is the whole network,
/// so it can finish requests the edge fails).
fn parts_used(plan: &DevicePlan, complete: bool) -> Vec<Part> {
    {
        let mut v = if complete { vec![Part::Full] } else { vec![] };
        if let Some(o) = &plan.online {
            let mut from = None;
            for &c in &o.cuts {
                v.push(Part::Segment { from, to: c });
                v.push(Part::Tail(c));
                from = Some(c);
            }
        } else if let SplitChoice::Cut { index, .. } = plan.split {
            v.push(Part::Head(index));
            if complete {
                v.push(Part::Tail(index));
            }
        }
        if !complete {
            // A head finishes nothing: the last stage's tail is the edge's.
            v.retain(|p| !matches!(p, Part::Tail(_)));
        }
        v
    }
}

impl DeviceRunner {
    /// Where to split this request: runs head stages and returns the cut (`None` = stay
    /// local, `Some(-1)` = the input) with the feature there and the rate observed.
    async fn head(&self, input: Tensor, t0: Instant) -> Result<(Option<i32>, Tensor, Option<f64>)> {
        if let Some(o) = self.plan.online.clone() {
            let (id, layers) = (self.local_id()?, &self.options.emulated_layers);
            let (cut, x, rate, layers_done) =
                online_stages(&o, &self.store, id, self.probe.as_ref(), layers, input).await?;
            if cut.is_some() {
                // The feature leaves when the emulated device would have computed it.
                crate::pace::sleep_until(t0 + layers_done).await;
            }
            return Ok((cut, x, rate));
        }
        match &self.plan.split {
            SplitChoice::DeviceOnly => Ok((None, input, None)),
            SplitChoice::EdgeOnly => Ok((SplitPoint::EdgeOnly.to_wire(), input, None)),
            SplitChoice::Cut { index, .. } => {
                let head = part(&self.store, self.local_id()?, Part::Head(*index)).await?;
                Ok((SplitPoint::AfterCut(*index).to_wire(), run_part(head, input).await?, None))
            }
        }
    }

    /// Finishes locally from `cut` (`None`: kept on the device — the input for a device-only
    /// plan, the online rule's last stage otherwise; `-1`: the input).
    async fn finish_locally(&self, cut: Option<i32>, x: Tensor, t0: Instant) -> Result<Tensor> {
        let p = match cut {
            Some(c) if c >= 0 => Part::Tail(c as usize),
            Some(_) => Part::Full,
            None => match self.plan.online.as_ref().and_then(|o| o.cuts.last()) {
                Some(&last) => Part::Tail(last),
                None => Part::Full,
            },
        };
        let out = run_part(part(&self.store, self.local_id()?, p).await?, x).await?;
        if !self.options.emulated_layers.is_empty() && cut.is_none() {
            // Finished on the device: every layer ran here.
            let all: Duration = self.options.emulated_layers.iter().sum();
            crate::pace::sleep_until(t0 + all).await;
        }
        Ok(out)
    }

    /// Runs one sample (`input` with batch dimension 1). Always answers: when the edge
    /// fails, the device finishes itself and records why.
    pub async fn infer(&mut self, input: Tensor, label: Option<u32>) -> Result<Record> {
        let t0 = Instant::now();
        let request_id = self.next_id;
        self.next_id += 1;
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3);
        let mut rec = Record {
            request_id,
            unix_ms,
            device_id: self.plan.device_id.clone(),
            label,
            predicted: 0,
            correct: None,
            served_by: ServedBy::Local,
            cut: None,
            frame_bytes: 0,
            observed_rate_bps: None,
            head_ms: 0.0,
            encode_ms: 0.0,
            transmit_ms: 0.0,
            edge_shaping_ms: 0.0,
            edge_decode_ms: 0.0,
            edge_queue_ms: 0.0,
            edge_tail_ms: 0.0,
            batch_size: 0,
            local_ms: 0.0,
            e2e_ms: 0.0,
            error: None,
            edge_index: None,
            compute_overrun_ms: 0.0,
        };
        let (cut, feature, rate) = self.head(input, t0).await?;
        if cut.is_some() {
            rec.compute_overrun_ms = self.hold_emulated_compute(t0).await;
        }
        rec.head_ms = ms(t0.elapsed());
        rec.observed_rate_bps = rate;

        let mut answer = None;
        if let Some(c) = cut {
            rec.cut = Some(c);
            let t = Instant::now();
            let f = Feature::new(feature.shape().to_vec(), feature.iter().copied().collect())
                .ok_or_else(|| RuntimeError::Invalid("feature shape/value mismatch".into()))?;
            let frame = self.plan.codec.encode(&f);
            rec.encode_ms = ms(t.elapsed());
            rec.frame_bytes = frame.len();
            match self.ask_edge(c, frame, request_id).await {
                Ok((response, rtt, edge)) => {
                    rec.edge_index = Some(edge as u32);
                    let edge_ms = rec_edge_times(&mut rec, &response);
                    rec.transmit_ms = (ms(rtt) - edge_ms).max(0.0);
                    rec.served_by = ServedBy::Edge;
                    answer = Some(response);
                }
                Err(e) => {
                    rec.served_by = ServedBy::Fallback;
                    rec.error = Some(e);
                }
            }
        }
        let complete = self.local.as_ref().is_some_and(|l| l.complete);
        let predicted = match answer {
            Some(r) => r.top1.first().copied().unwrap_or(0),
            // Only a head on the device: nothing to finish with.
            None if !complete => {
                rec.served_by = ServedBy::Unanswered;
                rec.e2e_ms = ms(t0.elapsed());
                return Ok(rec);
            }
            None => {
                let t = Instant::now();
                let out = self.finish_locally(cut, feature, t0).await?;
                if cut.is_none() {
                    rec.compute_overrun_ms = self.hold_emulated_compute(t0).await;
                }
                rec.local_ms = ms(t.elapsed());
                coinfer_data::argmax(&out).first().map_or(0, |&i| i as u32)
            }
        };
        rec.predicted = predicted;
        rec.correct = label.map(|l| l == predicted);
        rec.e2e_ms = ms(t0.elapsed());
        Ok(rec)
    }

    /// Waits until the emulated device compute that started at `t0` is over; returns by how
    /// much the real compute overran it (ms).
    async fn hold_emulated_compute(&self, t0: Instant) -> f64 {
        let Some(target) = self.options.emulated_compute else { return 0.0 };
        let overrun = ms(t0.elapsed().saturating_sub(target));
        crate::pace::sleep_until(t0 + target).await;
        overrun
    }

    /// Sends the frame to the first edge not marked down, failing over to the next on any
    /// failure (each marked down for `retry_after`); returns the answer, its round trip and
    /// the edge's index, or why no edge answered.
    async fn ask_edge(
        &mut self,
        cut: i32,
        frame: Vec<u8>,
        request_id: u64,
    ) -> std::result::Result<(crate::proto::InferResponse, Duration, usize), String> {
        if self.edges.is_empty() {
            return Err("no edge configured".into());
        }
        let timeout = match self.plan.deadline_ms {
            0 => self.options.default_timeout,
            d => Duration::from_millis(d.into()),
        };
        let mut why_not = Vec::new();
        let last = self.edges.len() - 1;
        for i in 0..self.edges.len() {
            let now = Instant::now();
            let slot = &mut self.edges[i];
            if let Some(h) = slot.health.clone() {
                if h.down.load(std::sync::atomic::Ordering::Relaxed) {
                    why_not.push(format!("edge {i} failed its last health check"));
                    continue;
                }
                // A check passed since the last failure: fail back now.
                if slot.failed_at.is_some_and(|f| h.last_ok().is_some_and(|ok| ok > f)) {
                    slot.down_until = None;
                }
            }
            if let Some(until) = self.edges[i].down_until.filter(|&u| now < u) {
                why_not
                    .push(format!("edge {i} marked down; retrying in {:.0} ms", ms(until - now)));
                continue;
            }
            let req = InferRequest {
                device_id: self.plan.device_id.clone(),
                model: self.plan.model.clone(),
                version: self.plan.version.clone(),
                cut,
                frame: frame.clone(),
                deadline_ms: self.plan.deadline_ms,
                request_id,
                codec: self.plan.codec_name.clone().unwrap_or_default(),
            };
            let sent = Instant::now();
            let result = self.edges[i].client.infer(req, Some(timeout)).await;
            let rtt = sent.elapsed();
            let retry = Some(Instant::now() + self.options.retry_after);
            let slot = &mut self.edges[i];
            let why = match result {
                Ok(r) if r.request_id == request_id && !r.top1.is_empty() => {
                    slot.down_until = None;
                    return Ok((r, rtt, i));
                }
                Ok(r) => format!("edge answered request {} with no result", r.request_id),
                Err(status) => format!("{:?}: {}", status.code(), status.message()),
            };
            let was_up = slot.down_until.is_none();
            slot.down_until = retry;
            slot.failed_at = Some(Instant::now());
            if was_up {
                let next =
                    if i < last { "asking the next edge" } else { "answering on the device" };
                tracing::warn!(
                    device = %self.plan.device_id,
                    edge = i,
                    "edge unavailable ({why}); {next}, retrying in {} ms",
                    self.options.retry_after.as_millis()
                );
            }
            why_not.push(if last == 0 { why } else { format!("edge {i}: {why}") });
        }
        Err(why_not.join("; "))
    }
}

/// Copies the edge's timings into the record; returns the edge's total time (ms).
fn rec_edge_times(rec: &mut Record, r: &crate::proto::InferResponse) -> f64 {
    let Some(t) = &r.timing else { return 0.0 };
    let us = |v: u64| v as f64 / 1e3;
    rec.edge_shaping_ms = us(t.shaping_us);
    rec.edge_decode_ms = us(t.decode_us);
    rec.edge_queue_ms = us(t.queue_us);
    rec.edge_tail_ms = us(t.tail_us);
    rec.batch_size = t.batch_size;
    us(t.total_us)
}

/// Latency percentiles (ms).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Percentiles {
    /// Of `values` (empty → zeros).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Percentiles {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        Percentiles {
            mean: v.iter().sum::<f64>() / v.len() as f64,
            p50: q(0.5),
            p95: q(0.95),
            p99: q(0.99),
        }
    }
}

/// What a run of requests came to.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Requests.
    pub requests: usize,
    /// Answered by the edge.
    pub edge: usize,
    /// Finished on the device after an edge failure.
    pub fallback: usize,
    /// Kept on the device by the plan.
    pub local: usize,
    /// Not answered: the edge failed and the device holds only a head.
    #[serde(default)]
    pub unanswered: usize,
    /// Requests that carried a label (0 for unlabelled inputs: then `accuracy` means nothing).
    #[serde(default)]
    pub labelled: usize,
    /// Accuracy over requests with a label (0 when none had one).
    pub accuracy: f64,
    /// Mean frame bytes of requests sent.
    pub mean_frame_bytes: f64,
    /// End-to-end latency.
    pub e2e_ms: Percentiles,
    /// Mean per-stage times (ms) over edge-served requests (they add up to those requests'
    /// mean end-to-end time).
    pub stage_means_ms: StageMeans,
}

/// Mean time per stage (ms).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct StageMeans {
    /// Head compute.
    pub head: f64,
    /// Encoding.
    pub encode: f64,
    /// Network.
    pub transmit: f64,
    /// Edge shaping.
    pub edge_shaping: f64,
    /// Edge decoding.
    pub edge_decode: f64,
    /// Edge queue.
    pub edge_queue: f64,
    /// Edge tail.
    pub edge_tail: f64,
    /// End to end, over the same requests: the stages above plus `other` add up to it.
    #[serde(default)]
    pub e2e: f64,
    /// What no stage above accounts for: the response's handling on both sides.
    #[serde(default)]
    pub other: f64,
}

impl StageMeans {
    /// The stages' sum, `other` excluded.
    pub fn stages(&self) -> f64 {
        self.head
            + self.encode
            + self.transmit
            + self.edge_shaping
            + self.edge_decode
            + self.edge_queue
            + self.edge_tail
    }
}

impl Summary {
    /// Summarises records.
    pub fn of(records: &[Record]) -> Summary {
        let count = |s: ServedBy| records.iter().filter(|r| r.served_by == s).count();
        let labelled: Vec<bool> = records.iter().filter_map(|r| r.correct).collect();
        let sent: Vec<&Record> = records.iter().filter(|r| r.frame_bytes > 0).collect();
        let edge: Vec<&Record> = records.iter().filter(|r| r.served_by == ServedBy::Edge).collect();
        let mean = |f: &dyn Fn(&Record) -> f64| {
            if edge.is_empty() {
                0.0
            } else {
                edge.iter().map(|r| f(r)).sum::<f64>() / edge.len() as f64
            }
        };
        Summary {
            requests: records.len(),
            edge: edge.len(),
            fallback: count(ServedBy::Fallback),
            local: count(ServedBy::Local),
            unanswered: count(ServedBy::Unanswered),
            labelled: labelled.len(),
            accuracy: labelled.iter().filter(|&&c| c).count() as f64 / labelled.len().max(1) as f64,
            mean_frame_bytes: sent.iter().map(|r| r.frame_bytes as f64).sum::<f64>()
                / sent.len().max(1) as f64,
            e2e_ms: Percentiles::of(records.iter().map(|r| r.e2e_ms)),
            stage_means_ms: {
                let mut m = StageMeans {
                    head: mean(&|r| r.head_ms),
                    encode: mean(&|r| r.encode_ms),
                    transmit: mean(&|r| r.transmit_ms),
                    edge_shaping: mean(&|r| r.edge_shaping_ms),
                    edge_decode: mean(&|r| r.edge_decode_ms),
                    edge_queue: mean(&|r| r.edge_queue_ms),
                    edge_tail: mean(&|r| r.edge_tail_ms),
                    e2e: mean(&|r| r.e2e_ms),
                    other: 0.0,
                };
                m.other = m.e2e - m.stages();
                m
            },
        }
    }
}
