//! A seed 001 (MCIA) scenario as a file (TOML or JSON, unknown keys rejected): the edge (its
//! compute and the uplink band it shares), task kinds (how each weighs accuracy against
//! latency, and its deadline), groups of devices (hardware profile, memory, radio, channel,
//! task kind, arrivals) and which model versions of a version table they may run.
//!
//! ```toml
//! versions = "../../models/versions/versions.json"   # relative to this file
//! feature_bits = 8          # bits per value sent: uint8 features, raw 8-bit pixels
//! slot_ms = 100
//! [edge]
//! compute = { profile = "rpi4" }
//! bandwidth_mhz = 1.0
//! [task_kinds.accuracy]
//! accuracy_weight = 0.9
//! latency_ref_ms = 20
//! deadline_ms = 100
//! [[devices]]
//! count = 4
//! compute = { profile = "mcu" }
//! task = "accuracy"
//! channel = { kind = "gauss-markov", mean_snr_db = 10, rho = 0.9 }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::channel::{Radio, TruncatedRayleigh};
use crate::channel_more::{ChannelProcess, GaussMarkov, Iid};
use crate::config::ComputeConfig;
use crate::cost_model::Transport;
use crate::layers::Compute;
use crate::multi_device::{DeviceSpec, ModelVersion, MultiDeviceEnv};

/// Why a scenario cannot be built; every message names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("scenario field `{field}`: {why}")]
pub struct ScenarioError {
    /// Path of the field (`devices[2].task`).
    pub field: String,
    /// What is wrong with it.
    pub why: String,
}

fn bad<T>(field: impl Into<String>, why: impl Into<String>) -> Result<T, ScenarioError> {
    Err(ScenarioError { field: field.into(), why: why.into() })
}

fn positive(field: &str, v: f64) -> Result<f64, ScenarioError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        bad(field, format!("{v} must be a finite number > 0"))
    }
}

fn non_negative(field: &str, v: f64) -> Result<f64, ScenarioError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        bad(field, format!("{v} must be a finite number ≥ 0"))
    }
}

/// The whole scenario.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Version table written by `coinfer versions` (`versions.json`), relative to the
    /// scenario file.
    pub versions: PathBuf,
    /// Names of the versions devices may run (empty: all of the table).
    #[serde(default)]
    pub use_versions: Vec<String>,
    /// Bits per value sent over the link (8: features quantised to uint8, raw 8-bit pixels).
    #[serde(default = "default_feature_bits")]
    pub feature_bits: f64,
    /// Slot length (ms): how often the decision is made; what a backlog drains by.
    #[serde(default = "default_slot_ms")]
    pub slot_ms: f64,
    /// Slots per episode.
    #[serde(default = "default_horizon")]
    pub horizon: usize,
    /// The edge server and the band its devices share.
    pub edge: EdgeConfig,
    /// Task kinds by name.
    pub task_kinds: BTreeMap<String, TaskKind>,
    /// Groups of identical devices.
    pub devices: Vec<DeviceGroup>,
}

fn default_feature_bits() -> f64 {
    8.0
}
fn default_slot_ms() -> f64 {
    100.0
}
fn default_horizon() -> usize {
    100
}
fn default_noise() -> f64 {
    -174.0
}
fn default_tx_dbm() -> f64 {
    20.0
}
fn one() -> usize {
    1
}

/// The edge server.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// Its compute, shared by the devices that offload (a profile or explicit figures).
    pub compute: ComputeConfig,
    /// The uplink band `W` the devices share (MHz).
    pub bandwidth_mhz: f64,
    /// Noise power spectral density (dBm/Hz; −174 is thermal noise at room temperature).
    #[serde(default = "default_noise")]
    pub noise_dbm_per_hz: f64,
}

/// A kind of task: how it weighs accuracy against latency.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskKind {
    /// `ω ∈ [0, 1)`: utility `ω·A − (1 − ω)·T/T_ref`.
    pub accuracy_weight: f64,
    /// `T_ref` (ms).
    pub latency_ref_ms: f64,
    /// Deadline (ms) that reports count misses against; none if absent.
    #[serde(default)]
    pub deadline_ms: Option<f64>,
}

/// A channel's fading, by its mean SNR over the whole band.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ChannelSpec {
    /// A constant gain.
    Static {
        /// SNR over the whole band (dB).
        snr_db: f64,
    },
    /// Rayleigh fading, independent from slot to slot.
    Rayleigh {
        /// Mean SNR over the whole band (dB).
        mean_snr_db: f64,
    },
    /// Rayleigh fading correlated from slot to slot (Gauss–Markov amplitude, correlation
    /// `rho ∈ [0, 1)`).
    GaussMarkov {
        /// Mean SNR over the whole band (dB).
        mean_snr_db: f64,
        /// Correlation between consecutive slots.
        rho: f64,
    },
}

/// `count` identical devices.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceGroup {
    /// How many.
    #[serde(default = "one")]
    pub count: usize,
    /// Their compute.
    pub compute: ComputeConfig,
    /// Memory for fp32 model parameters (kB); unlimited if absent.
    #[serde(default)]
    pub memory_kb: Option<f64>,
    /// Name of their task kind.
    pub task: String,
    /// Transmit power (dBm).
    #[serde(default = "default_tx_dbm")]
    pub tx_power_dbm: f64,
    /// Their channel.
    pub channel: ChannelSpec,
    /// Mean task arrivals per slot (Poisson); 0 (default) = one inference per slot, no queue.
    #[serde(default)]
    pub arrivals_per_slot: f64,
    /// Round-trip time of their link (ms).
    #[serde(default)]
    pub rtt_ms: f64,
}

/// Sets every value `path` reaches in `v` to `new` (a number or a string, replacing a number,
/// a string or nothing); how many it set.
fn set_value(
    v: &mut serde_json::Value,
    path: &[&str],
    new: &serde_json::Value,
) -> Result<usize, String> {
    use serde_json::Value;
    let Some((key, rest)) = path.split_first() else {
        return match v {
            Value::Number(_) | Value::String(_) | Value::Null => {
                *v = new.clone();
                Ok(1)
            }
            other => Err(format!("holds {other}, not a single value")),
        };
    };
    match v {
        Value::Array(items) if *key == "*" => {
            items.iter_mut().map(|item| set_value(item, rest, new)).sum()
        }
        Value::Array(items) => {
            let len = items.len();
            let i: usize =
                key.parse().map_err(|_| format!("`{key}`: an array needs an index or `*`"))?;
            let item = items.get_mut(i).ok_or_else(|| format!("index {i} of {len} elements"))?;
            set_value(item, rest, new)
        }
        Value::Object(map) => {
            // A key the file left out is added: the scenario then refuses it if unknown.
            let entry = map.entry(key.to_string()).or_insert(if rest.is_empty() {
                Value::Null
            } else {
                Value::Object(Default::default())
            });
            set_value(entry, rest, new)
        }
        other => Err(format!("`{key}`: {other} has no fields")),
    }
}

fn dbm_to_w(dbm: f64) -> f64 {
    10f64.powf(dbm / 10.0) * 1e-3
}

impl Scenario {
    /// Parses a scenario (TOML, or JSON if it starts with `{`), naming the field that is wrong.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let parsed = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            toml::from_str(text).map_err(|e| e.to_string())
        };
        parsed.or_else(|why| bad("(file)", why))
    }

    /// Reads a scenario file and its version table (relative paths are relative to the
    /// scenario file): the scenario and the versions it selects.
    pub fn load(path: &std::path::Path) -> Result<(Scenario, Vec<ModelVersion>), ScenarioError> {
        Scenario::load_with(path, &[])
    }

    /// [`Scenario::load`] with fields set first (see [`Scenario::with_field`]).
    pub fn load_with(
        path: &std::path::Path,
        set: &[(String, String)],
    ) -> Result<(Scenario, Vec<ModelVersion>), ScenarioError> {
        let text = std::fs::read_to_string(path)
            .or_else(|e| bad("(file)", format!("{}: {e}", path.display())))?;
        let mut scenario = Scenario::parse(&text)
            .map_err(|e| ScenarioError { why: format!("{}: {}", path.display(), e.why), ..e })?;
        if !set.is_empty() {
            scenario = scenario.with_fields(set)?;
        }
        let table_path =
            path.parent().unwrap_or(std::path::Path::new(".")).join(&scenario.versions);
        let table = std::fs::read_to_string(&table_path)
            .or_else(|e| bad("versions", format!("{}: {e}", table_path.display())))?;
        #[derive(serde::Deserialize)]
        struct Table {
            versions: Vec<ModelVersion>,
        }
        let table: Table = serde_json::from_str(&table)
            .or_else(|e| bad("versions", format!("{}: {e}", table_path.display())))?;
        let versions = scenario.select_versions(&table.versions)?;
        Ok((scenario, versions))
    }

    /// The same scenario with `field` set to `value` (a number if it reads as one, else a
    /// string): `field` is a dotted path through tables and arrays as the file spells it,
    /// array elements by index or `*` for all (`devices.*.channel.rho`,
    /// `devices.*.channel.kind` = `gauss-markov`, `devices.1.compute.macs_per_s`,
    /// `edge.bandwidth_mhz`). A field the scenario does not have is refused by name, as in a
    /// file.
    pub fn with_field(&self, field: &str, value: &str) -> Result<Scenario, ScenarioError> {
        self.with_fields(&[(field.to_string(), value.to_string())])
    }

    /// [`Scenario::with_field`] for several fields, set in order and checked together (so a
    /// channel's `kind` and the field only that kind has can change at once).
    pub fn with_fields(&self, set: &[(String, String)]) -> Result<Scenario, ScenarioError> {
        let mut v = serde_json::to_value(self).or_else(|e| bad("(scenario)", e.to_string()))?;
        for (field, value) in set {
            let path: Vec<&str> = field.split('.').collect();
            let new = match value.trim().parse::<f64>() {
                Ok(x) if x.fract() == 0.0 && x.abs() < 9e15 => serde_json::Value::from(x as i64),
                Ok(x) => match serde_json::Number::from_f64(x) {
                    Some(n) => serde_json::Value::Number(n),
                    None => return bad(field, format!("{value} is not a finite number")),
                },
                Err(_) => serde_json::Value::String(value.trim().to_string()),
            };
            match set_value(&mut v, &path, &new) {
                Ok(0) => return bad(field, "matches nothing (an empty array?)"),
                Ok(_) => {}
                Err(why) => return bad(field, why),
            }
        }
        let fields: Vec<&str> = set.iter().map(|(f, _)| f.as_str()).collect();
        serde_json::from_value(v).or_else(|e| bad(fields.join(", "), e.to_string()))
    }

    /// The same scenario with `n` devices, the groups' proportions kept (largest remainders
    /// get the extra devices; groups may end up empty).
    pub fn with_devices(&self, n: usize) -> Scenario {
        let total = self.num_devices().max(1);
        let mut counts: Vec<usize> = self.devices.iter().map(|g| g.count * n / total).collect();
        let mut order: Vec<usize> = (0..counts.len()).collect();
        order.sort_by_key(|&g| std::cmp::Reverse((self.devices[g].count * n) % total));
        let mut missing = n - counts.iter().sum::<usize>();
        for &g in order.iter().cycle().take(missing * counts.len().max(1)) {
            if missing == 0 {
                break;
            }
            counts[g] += 1;
            missing -= 1;
        }
        let mut scaled = self.clone();
        for (g, c) in scaled.devices.iter_mut().zip(counts) {
            g.count = c;
        }
        scaled
    }

    /// Total number of devices.
    pub fn num_devices(&self) -> usize {
        self.devices.iter().map(|g| g.count).sum()
    }

    /// The task kinds' names, in the order of their indices ([`DeviceSpec::task_kind`]).
    pub fn task_names(&self) -> Vec<String> {
        self.task_kinds.keys().cloned().collect()
    }

    /// The versions devices may run, from the whole table `table` (in the scenario's order,
    /// or the table's if `use_versions` is empty), each sending `feature_bits` per value.
    pub fn select_versions(
        &self,
        table: &[ModelVersion],
    ) -> Result<Vec<ModelVersion>, ScenarioError> {
        let bits = positive("feature_bits", self.feature_bits)?;
        let chosen: Vec<ModelVersion> = if self.use_versions.is_empty() {
            table.to_vec()
        } else {
            self.use_versions
                .iter()
                .map(|name| {
                    table.iter().find(|v| &v.name == name).cloned().ok_or_else(|| ScenarioError {
                        field: "use_versions".into(),
                        why: format!(
                            "version `{name}` is not in the table ({})",
                            table.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    })
                })
                .collect::<Result<_, _>>()?
        };
        if chosen.is_empty() {
            return bad("versions", "the version table is empty");
        }
        Ok(chosen
            .into_iter()
            .map(|mut v| {
                v.table.bits_per_value = bits;
                v
            })
            .collect())
    }

    /// The environment for this scenario with `versions` (see
    /// [`Scenario::select_versions`]), seeded by `seed`. Every field is checked.
    pub fn build(
        &self,
        versions: Vec<ModelVersion>,
        seed: u64,
    ) -> Result<MultiDeviceEnv, ScenarioError> {
        let slot_s = positive("slot_ms", self.slot_ms)? / 1e3;
        if self.horizon == 0 {
            return bad("horizon", "must be ≥ 1 slot");
        }
        let edge = self.edge.compute.compute().or_else(|e| bad("edge.compute", e.to_string()))?;
        let bandwidth_hz = positive("edge.bandwidth_mhz", self.edge.bandwidth_mhz)? * 1e6;
        if !self.edge.noise_dbm_per_hz.is_finite() {
            return bad("edge.noise_dbm_per_hz", "must be finite");
        }
        let noise_w_per_hz = dbm_to_w(self.edge.noise_dbm_per_hz);
        let kinds = self.task_names();
        for (name, k) in &self.task_kinds {
            let w = k.accuracy_weight;
            if !(w.is_finite() && (0.0..1.0).contains(&w)) {
                return bad(
                    format!("task_kinds.{name}.accuracy_weight"),
                    format!("{w} outside [0, 1)"),
                );
            }
            positive(&format!("task_kinds.{name}.latency_ref_ms"), k.latency_ref_ms)?;
            if let Some(d) = k.deadline_ms {
                positive(&format!("task_kinds.{name}.deadline_ms"), d)?;
            }
        }
        if self.num_devices() == 0 {
            return bad("devices", "zero devices: give at least one group with count ≥ 1");
        }
        let mut devices = Vec::with_capacity(self.num_devices());
        let mut gain_means = Vec::with_capacity(self.num_devices());
        for (g, group) in self.devices.iter().enumerate() {
            let field = |f: &str| format!("devices[{g}].{f}");
            let compute: Compute =
                group.compute.compute().or_else(|e| bad(field("compute"), e.to_string()))?;
            let Some(task_kind) = kinds.iter().position(|k| k == &group.task) else {
                return bad(
                    field("task"),
                    format!(
                        "unknown task kind `{}` (task_kinds: {})",
                        group.task,
                        kinds.join(", ")
                    ),
                );
            };
            let kind = &self.task_kinds[&group.task];
            let memory_bytes = match group.memory_kb {
                Some(kb) => positive(&field("memory_kb"), kb)? * 1e3,
                None => f64::INFINITY,
            };
            let arrivals = non_negative(&field("arrivals_per_slot"), group.arrivals_per_slot)?;
            let rtt_s = non_negative(&field("rtt_ms"), group.rtt_ms)? / 1e3;
            if !group.tx_power_dbm.is_finite() {
                return bad(field("tx_power_dbm"), "must be finite");
            }
            let radio =
                Radio { bandwidth_hz, tx_power_w: dbm_to_w(group.tx_power_dbm), noise_w_per_hz };
            let gain_for = |snr_db: f64, f: &str| -> Result<f64, ScenarioError> {
                if !snr_db.is_finite() {
                    return bad(field(f), format!("{snr_db} must be finite"));
                }
                Ok(10f64.powf(snr_db / 10.0) * noise_w_per_hz * bandwidth_hz / radio.tx_power_w)
            };
            let channel_error = |e: crate::ChannelError| ScenarioError {
                field: field("channel"),
                why: e.to_string(),
            };
            for _ in 0..group.count {
                let (mean, channel): (f64, Box<dyn ChannelProcess>) = match &group.channel {
                    ChannelSpec::Static { snr_db } => {
                        let h = gain_for(*snr_db, "channel.snr_db")?;
                        let fixed = crate::FiniteStateChannel::new(vec![(h, 1.0)])
                            .map_err(channel_error)?;
                        (h, Box::new(Iid(fixed)))
                    }
                    ChannelSpec::Rayleigh { mean_snr_db } => {
                        let h = gain_for(*mean_snr_db, "channel.mean_snr_db")?;
                        let ch = TruncatedRayleigh::new(h, h * 1e-3).map_err(channel_error)?;
                        (h, Box::new(Iid(ch)))
                    }
                    ChannelSpec::GaussMarkov { mean_snr_db, rho } => {
                        let h = gain_for(*mean_snr_db, "channel.mean_snr_db")?;
                        let ch = GaussMarkov::new(*rho, h, h * 1e-3).map_err(channel_error)?;
                        (h, Box::new(ch))
                    }
                };
                gain_means.push(mean);
                devices.push(DeviceSpec {
                    transport: Transport { rtt_s, ..Transport::ideal() },
                    memory_bytes,
                    deadline_s: kind.deadline_ms.map_or(f64::INFINITY, |d| d / 1e3),
                    task_kind,
                    arrivals_per_slot: arrivals,
                    ..DeviceSpec::new(
                        compute,
                        radio,
                        channel,
                        kind.accuracy_weight,
                        kind.latency_ref_ms / 1e3,
                    )
                });
            }
        }
        for (v, version) in versions.iter().enumerate() {
            if !(0.0..=1.0).contains(&version.accuracy) || version.table.layers.is_empty() {
                return bad(
                    format!("versions[{v}]"),
                    format!("`{}`: accuracy in [0, 1] and at least one layer", version.name),
                );
            }
        }
        Ok(MultiDeviceEnv::new(versions, devices, edge, gain_means, self.horizon, seed)
            .with_slot_s(slot_s))
    }
}
