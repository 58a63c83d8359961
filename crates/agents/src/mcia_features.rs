//! What the MCIA agent sees: for every device and every (version, partition) of the version
//! table, a row of features in utility units, so one parameter-shared network scores the
//! choices of any number of devices.
//!
//! What does not change from slot to slot (each choice's device time, edge time and bits) is
//! computed once per environment ([`ChoiceTable`]); a slot only adds the channel's rate and
//! the backlog. A choice is masked when it does not fit the device's memory, when it is a
//! local choice other than the device's best one (local utilities do not depend on anyone
//! else), and when offloading it cannot beat that best local choice even with the whole edge
//! and band (it would only take shares from the others).

use coinfer_sim::{DeviceAction, EnvError, MultiDeviceEnv};

/// Features per (device, choice) row.
pub const CHOICE_FEATURES: usize = 12;
/// Features per device for the critic.
pub const DEVICE_FEATURES: usize = 8;

/// A masked logit.
pub(crate) const MASKED: f32 = -1e9;

/// One choice's slot-independent costs on one device.
#[derive(Debug, Clone, Copy)]
struct Static {
    accuracy: f64,
    local_s: f64,
    edge_s: f64,
    bits: f64,
    offloads: bool,
    fits: bool,
}

/// The slot-independent part of every device's choices, and the choices themselves.
pub struct ChoiceTable {
    /// Every (version, partition) of the version table, in [`MultiDeviceEnv::choices`] order.
    pub choices: Vec<(usize, usize)>,
    per_device: Vec<Vec<Static>>,
}

/// One slot's features and masks.
pub struct SlotFeatures {
    /// `devices × choices × CHOICE_FEATURES`, row-major.
    pub rows: Vec<f32>,
    /// `devices × choices`: 0 for a valid choice, −1e9 (a masked logit) otherwise.
    pub mask: Vec<f32>,
    /// `devices × DEVICE_FEATURES` for the critic.
    pub devices: Vec<f32>,
    /// Each device's best local choice (index into the choices), or its first valid one.
    pub fallback: Vec<usize>,
}

impl ChoiceTable {
    /// The table of `env` (its devices, versions and edge). Errors if a device has no
    /// choice that fits.
    pub fn new(env: &MultiDeviceEnv) -> Result<ChoiceTable, EnvError> {
        let choices = env.choices();
        let mut per_device = Vec::with_capacity(env.num_devices());
        for d in 0..env.num_devices() {
            let mut rows = Vec::with_capacity(choices.len());
            for &(v, p) in &choices {
                let c = env.candidate(d, v, p)?;
                rows.push(Static {
                    accuracy: c.accuracy,
                    local_s: c.local_s,
                    edge_s: c.edge_s,
                    bits: c.up_bits,
                    offloads: env.offloads(&DeviceAction::choice(v, p)),
                    fits: c.fits,
                });
            }
            if !rows.iter().any(|r| r.fits) {
                return Err(EnvError::InvalidAction(format!("device {d} has no choice that fits")));
            }
            per_device.push(rows);
        }
        Ok(ChoiceTable { choices, per_device })
    }

    /// Devices in the table.
    pub fn num_devices(&self) -> usize {
        self.per_device.len()
    }

    /// The features of the environment's current slot.
    pub fn features(&self, env: &MultiDeviceEnv) -> SlotFeatures {
        let n = self.per_device.len();
        let k = self.choices.len();
        let ln_n = (n as f64).ln();
        let mut rows = vec![0.0f32; n * k * CHOICE_FEATURES];
        let mut mask = vec![MASKED; n * k];
        let mut devices = vec![0.0f32; n * DEVICE_FEATURES];
        let mut fallback = vec![0; n];
        // Per device: utilities with the whole edge and band, and with a 1/N share.
        let mut summaries = Vec::with_capacity(n);
        for (d, table) in self.per_device.iter().enumerate() {
            let Some(spec) = env.device(d) else { continue };
            let w = spec.accuracy_weight;
            let t_ref = spec.latency_ref_s;
            let wait = env.backlogs().get(d).copied().unwrap_or(0.0);
            let rate = spec.radio.rate_bps(env.gains().get(d).copied().unwrap_or(0.0)).max(1e-9);
            let utility = |acc: f64, t: f64| spec.utility(acc, t + wait);
            let mut best_local: Option<(usize, f64)> = None;
            for (j, s) in table.iter().enumerate() {
                if s.fits && !s.offloads {
                    let u = utility(s.accuracy, s.local_s);
                    if best_local.is_none_or(|b| u > b.1) {
                        best_local = Some((j, u));
                    }
                }
            }
            let local_u = best_local.map_or(f64::NEG_INFINITY, |b| b.1);
            let mut best_full = local_u;
            for (j, s) in table.iter().enumerate() {
                if !s.fits {
                    continue;
                }
                let transfer = s.bits / rate;
                let full = s.local_s + s.edge_s + transfer;
                let shared = s.local_s + n as f64 * (s.edge_s + transfer);
                let (u_full, u_shared) = (utility(s.accuracy, full), utility(s.accuracy, shared));
                let valid = if s.offloads {
                    u_full > local_u
                } else {
                    best_local.is_some_and(|b| b.0 == j)
                };
                if !valid {
                    continue;
                }
                best_full = best_full.max(u_full);
                mask[d * k + j] = 0.0;
                let gain = if local_u.is_finite() { u_full - local_u } else { 0.0 };
                let f = [
                    s.accuracy,
                    w,
                    if s.offloads { 1.0 } else { 0.0 },
                    (1.0 + s.local_s / t_ref).ln(),
                    (1.0 + s.edge_s / t_ref).ln(),
                    (1.0 + transfer / t_ref).ln(),
                    u_full.clamp(-10.0, 2.0),
                    u_shared.clamp(-10.0, 2.0),
                    gain.clamp(-10.0, 10.0),
                    ln_n,
                    (1.0 + wait / t_ref).ln(),
                    0.0, // filled with the slot's offload pressure below
                ];
                let at = (d * k + j) * CHOICE_FEATURES;
                for (x, v) in rows[at..at + CHOICE_FEATURES].iter_mut().zip(f) {
                    *x = v as f32;
                }
            }
            fallback[d] = best_local
                .map(|b| b.0)
                .or_else(|| (0..k).find(|&j| mask[d * k + j] == 0.0))
                .unwrap_or(0);
            summaries.push((w, local_u, best_full, wait / t_ref));
        }
        // Offload pressure: how many devices gain by offloading with the whole edge, and how
        // much, on average.
        let gains: Vec<f64> =
            summaries.iter().map(|s| if s.1.is_finite() { s.2 - s.1 } else { 1.0 }).collect();
        let pressure = gains.iter().sum::<f64>() / n.max(1) as f64;
        let wanting = gains.iter().filter(|&&g| g > 0.0).count() as f64 / n.max(1) as f64;
        for d in 0..n {
            for j in 0..k {
                rows[(d * k + j) * CHOICE_FEATURES + CHOICE_FEATURES - 1] = pressure as f32;
            }
            let (w, local_u, best_full, backlog) = summaries.get(d).copied().unwrap_or_default();
            let f = [
                w,
                local_u.clamp(-10.0, 2.0),
                best_full.clamp(-10.0, 2.0),
                gains.get(d).copied().unwrap_or(0.0).clamp(-10.0, 10.0),
                ln_n,
                pressure.clamp(-10.0, 10.0),
                wanting,
                (1.0 + backlog).ln(),
            ];
            for (x, v) in devices[d * DEVICE_FEATURES..(d + 1) * DEVICE_FEATURES].iter_mut().zip(f)
            {
                *x = v as f32;
            }
        }
        SlotFeatures { rows, mask, devices, fallback }
    }
}
