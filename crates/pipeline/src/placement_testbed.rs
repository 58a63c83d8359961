//! The testbed of [`crate::placement_run`]: an edge over a copy of the versions, one link
//! relay replaying the channel's states one per slot, one device client, and the pacing that
//! starts one inference per slot.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::device::{DeviceOptions, DeviceRunner, LocalModel, Record};
use coinfer_runtime::fetch::Fetched;
use coinfer_runtime::link::{LinkConfig, RateSchedule};
use coinfer_runtime::models::{ModelId, ModelStore, Part};
use coinfer_runtime::relay::LinkRelay;
use coinfer_runtime::server::{EdgeConfig, EdgeHandle, EdgeState};
use coinfer_sim::{DevicePlan, MarkovChannel};

use crate::error::{PipelineError, Result};

/// Name the versions are served under (`<dir>/model/<version>.onnx`).
pub(crate) const MODEL: &str = "model";

fn invalid(m: impl Into<String>) -> PipelineError {
    PipelineError::Invalid(m.into())
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> PipelineError + '_ {
    move |source| PipelineError::Io { what: what.into(), source }
}

/// The link's states: `S` equiprobable Rayleigh states around `mean_gain`, persistent over
/// an inference (identity transitions).
pub(crate) fn link_chain(mean_gain: f64, states: usize) -> Result<MarkovChannel> {
    let iid = MarkovChannel::gauss_markov(0.0, mean_gain, states)
        .map_err(|e| invalid(format!("channel states: {e}")))?;
    let s = iid.states();
    let identity = (0..s).map(|i| (0..s).map(|j| f64::from(u8::from(i == j))).collect()).collect();
    MarkovChannel::new(iid.gains().to_vec(), identity, vec![1.0 / s as f64; s])
        .map_err(|e| invalid(format!("channel states: {e}")))
}

/// The state of every slot: shuffled rounds of all states.
pub(crate) fn state_order(states: usize, slots: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(slots + states);
    while out.len() < slots {
        let mut round: Vec<usize> = (0..states).collect();
        round.shuffle(&mut rng);
        out.extend(round);
    }
    out.truncate(slots);
    out
}

/// Time (s) of the edge's tail after each stage `n = 0..=N` on this host (median of 5 runs
/// after a first), each run after `idle` without work: the regime of the testbed, whose
/// requests come one per slot. After tens of milliseconds idle this host's caches are cold and
/// a tail takes several times its back-to-back time (the whole default model at half width:
/// 1.3–2 ms one per 120 ms slot against 0.2 ms back to back on the 2-vCPU VM).
pub(crate) fn edge_times(
    store: &ModelStore,
    id: &ModelId,
    x: &coinfer_engine::Tensor,
    idle: Duration,
) -> Result<Vec<f64>> {
    let cuts = store.cut_count(id)?;
    let time = |p: Part, input: &coinfer_engine::Tensor| -> Result<f64> {
        let part = store.part(id, p)?;
        let mut t = Vec::with_capacity(6);
        for _ in 0..6 {
            std::thread::sleep(idle);
            let t0 = Instant::now();
            part.runnable.run(std::slice::from_ref(input))?;
            t.push(t0.elapsed().as_secs_f64());
        }
        t.remove(0);
        t.sort_by(f64::total_cmp);
        Ok(t[t.len() / 2])
    };
    let mut out = vec![time(Part::Full, x)?];
    for c in 0..cuts {
        let feature = store
            .part(id, Part::Head(c))?
            .runnable
            .run(std::slice::from_ref(x))?
            .into_iter()
            .next()
            .ok_or_else(|| invalid("a head with no output"))?;
        out.push(time(Part::Tail(c), &feature)?);
    }
    out.push(0.0);
    Ok(out)
}

/// The running testbed: an edge over a copy of the versions, one relay, one device client.
pub(crate) struct Testbed {
    pub(crate) edge: EdgeHandle,
    pub(crate) relay: LinkRelay,
    pub(crate) client: EdgeClient,
    /// Slot schedule: state per slot, slot length.
    order: Vec<usize>,
    slot: Duration,
    rates: Vec<f64>,
    /// Next slot to use.
    next_slot: usize,
    inputs: Vec<(coinfer_engine::Tensor, u32)>,
}

impl Testbed {
    /// Serves with the previous placement while `pending` downloads, switches when it is
    /// verified, then runs `n` inferences on the new placement from the start of a round of
    /// the state order (so each state is visited equally often when `n` is a multiple).
    pub(crate) async fn serve(
        &mut self,
        runner: &mut DeviceRunner,
        n: usize,
        mut pending: Option<Pending>,
    ) -> Result<(Vec<Served>, Option<Fetched>)> {
        let mut out = Vec::with_capacity(n);
        let mut fetched = None;
        while let Some(p) = pending.as_mut() {
            if p.task.is_finished() {
                let got = (&mut p.task).await.map_err(|e| invalid(format!("download: {e}")))??;
                let local = LocalModel { id: got.local.clone(), complete: p.complete };
                runner.switch(p.plan.clone(), Some(local)).await?;
                runner.set_emulated_layers(p.layers.clone());
                fetched = Some(got);
                pending = None;
            } else {
                out.push(self.one(runner, false).await?);
            }
        }
        let round = self.rates.len().max(1);
        self.next_slot = (self.next_slot.max(self.slot_now() + 1)).div_ceil(round) * round;
        for _ in 0..n {
            out.push(self.one(runner, true).await?);
        }
        Ok((out, fetched))
    }

    /// One uncounted inference, at once: the device's parts and the edge's tail run for the
    /// first time (an engine's first run allocates and plans: milliseconds), outside any
    /// measured slot.
    pub(crate) async fn warm_up(&self, runner: &mut DeviceRunner) -> Result<()> {
        if let Some((x, y)) = self.inputs.first() {
            runner.infer(x.clone(), Some(*y)).await?;
        }
        Ok(())
    }

    /// The slot under way now.
    fn slot_now(&self) -> usize {
        (self.relay.started().elapsed().as_secs_f64() / self.slot.as_secs_f64()) as usize
    }

    /// One inference in the next slot not yet begun (an overrun, e.g. an answer queued behind
    /// a download on the downlink, skips slots rather than running in one whose state the
    /// device did not observe).
    async fn one(&mut self, runner: &mut DeviceRunner, new: bool) -> Result<Served> {
        let j = self.next_slot.max(self.slot_now() + 1);
        self.next_slot = j + 1;
        let start = self.relay.started() + self.slot.mul_f64(j as f64) + SLOT_GUARD;
        coinfer_runtime::pace::sleep_until(start).await;
        let rate = self.rates[self.order[j % self.order.len()]];
        let (x, y) = self.inputs[j % self.inputs.len()].clone();
        let record = runner.infer(x, Some(y)).await?;
        if record.e2e_ms > self.slot.as_secs_f64() * 1e3 - 2.0 * SLOT_GUARD.as_secs_f64() * 1e3 {
            // While a head downloads, answers queue behind its chunks on the shared downlink
            // (one radio, FIFO): expected then, a sign of trouble otherwise.
            if new {
                tracing::warn!(e2e_ms = record.e2e_ms, "an inference overran its slot");
            } else {
                tracing::debug!(e2e_ms = record.e2e_ms, "an inference overran its slot (download)");
            }
        }
        Ok(Served { record, rate, new, slot: j })
    }
}

/// One inference of the testbed.
pub(crate) struct Served {
    pub(crate) record: Record,
    /// Uplink rate of its slot, bit/s.
    pub(crate) rate: f64,
    /// Whether it ran on the new placement.
    pub(crate) new: bool,
    /// Its slot.
    pub(crate) slot: usize,
}

/// Into a slot before using it, so the rate read at the start is the slot's.
pub(crate) const SLOT_GUARD: Duration = Duration::from_millis(2);

/// A download in flight and what to switch to when it lands.
pub(crate) struct Pending {
    pub(crate) task:
        tokio::task::JoinHandle<std::result::Result<Fetched, coinfer_runtime::RuntimeError>>,
    pub(crate) plan: DevicePlan,
    pub(crate) complete: bool,
    /// The new version's emulated layer times.
    pub(crate) layers: Vec<Duration>,
}

pub(crate) fn local_any() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A folder serving the versions as `model/<stem>.onnx`.
pub(crate) fn serve_dir(versions: &[PathBuf]) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir().map_err(io("creating the model folder"))?;
    let into = dir.path().join(MODEL);
    std::fs::create_dir_all(&into).map_err(io("creating the model folder"))?;
    for v in versions {
        let stem = v
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| invalid(format!("{}: a version file needs a name", v.display())))?;
        std::fs::copy(v, into.join(format!("{stem}.onnx")))
            .map_err(|e| invalid(format!("copying {}: {e}", v.display())))?;
    }
    Ok(dir)
}

/// Starts the edge, the relay replaying `order` and a client through it.
pub(crate) async fn testbed(
    (dir, engine): (&Path, Arc<dyn coinfer_engine::Engine>),
    (order, rates, inputs): (&[usize], &[f64], &[(coinfer_engine::Tensor, u32)]),
    slot_ms: f64,
    (rtt_s, download_bps): (f64, f64),
) -> Result<Testbed> {
    let state = EdgeState::new(dir, engine, EdgeConfig { max_batch: 1, ..EdgeConfig::default() })?;
    let edge = EdgeHandle::start(state, local_any(), None).await?;
    let schedule =
        RateSchedule { step_ms: slot_ms, rates_bps: order.iter().map(|&s| rates[s]).collect() };
    let up = LinkConfig {
        schedule: Some(schedule),
        delay_ms: rtt_s * 1e3 / 2.0,
        ..LinkConfig::default()
    };
    let down = LinkConfig::fixed(download_bps, rtt_s * 1e3 / 2.0);
    let relay = LinkRelay::start(local_any(), edge.addr, up, down)?;
    let client = EdgeClient::new(&format!("http://{}", relay.local_addr()), None)?;
    Ok(Testbed {
        edge,
        relay,
        client,
        order: order.to_vec(),
        slot: Duration::from_secs_f64(slot_ms / 1e3),
        rates: rates.to_vec(),
        next_slot: 1,
        inputs: inputs.to_vec(),
    })
}

/// A runner whose rate probe reads the relay's uplink rate.
pub(crate) fn runner(
    bed: &Testbed,
    store: Arc<ModelStore>,
    plan: DevicePlan,
    layers: Vec<Duration>,
) -> DeviceRunner {
    let relay_rate = bed.relay.rate_probe();
    let options = DeviceOptions { emulated_layers: layers, ..DeviceOptions::default() };
    DeviceRunner::new(plan, store, Some(bed.client.clone()), options, Some(relay_rate))
}
