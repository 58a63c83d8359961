//! Seed 001's multi-device environment (`coinfer_sim::MultiDeviceEnv`) for Python, one at a
//! time or many stepped together in Rust (rayon) with batched numpy arrays.

use coinfer_sim::{DeviceAction, MultiDeviceEnv, Scenario};
use numpy::ndarray::{Array1, Array2, Array3};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;

use crate::env_err;

/// `(observation, reward, done, outcomes)` of one step.
type Stepped<'py> = (Bound<'py, PyArray1<f32>>, f64, bool, Bound<'py, PyDict>);
/// One number per device.
type Column<'py> = Bound<'py, PyArray1<f64>>;

/// Loads a scenario file (its version table relative to it) and builds the environment.
fn build(scenario: &str, seed: u64) -> PyResult<MultiDeviceEnv> {
    let (s, versions) = Scenario::load(std::path::Path::new(scenario))
        .map_err(|e| PyValueError::new_err(format!("scenario: {e}")))?;
    s.build(versions, seed).map_err(|e| PyValueError::new_err(format!("scenario: {e}")))
}

/// `n` copies of a scenario's environment, copy `k` seeded `seed + k`.
fn build_copies(scenario: &str, n: usize, seed: u64) -> PyResult<Vec<MultiDeviceEnv>> {
    (0..n as u64).map(|k| build(scenario, seed.wrapping_add(k))).collect()
}

/// One slot's actions from per-device columns, checked for length and finiteness.
fn actions(
    n: usize,
    version: &[i64],
    partition: &[i64],
    compute_share: &[f64],
    bandwidth_share: &[f64],
) -> PyResult<Vec<DeviceAction>> {
    for (name, len) in [
        ("version", version.len()),
        ("partition", partition.len()),
        ("compute_share", compute_share.len()),
        ("bandwidth_share", bandwidth_share.len()),
    ] {
        if len != n {
            return Err(PyValueError::new_err(format!("{name} has {len} entries for {n} devices")));
        }
    }
    (0..n)
        .map(|i| {
            let index = |what: &str, v: i64| {
                usize::try_from(v).map_err(|_| {
                    PyValueError::new_err(format!("device {i}: {what} {v} must be ≥ 0"))
                })
            };
            let (c, b) = (compute_share[i], bandwidth_share[i]);
            if !(c.is_finite() && c >= 0.0 && b.is_finite() && b >= 0.0) {
                return Err(PyValueError::new_err(format!(
                    "device {i}: share weights must be finite and ≥ 0, got {c} and {b}"
                )));
            }
            Ok(DeviceAction {
                version: index("version", version[i])?,
                partition: index("partition", partition[i])?,
                compute_share: c,
                bandwidth_share: b,
            })
        })
        .collect()
}

/// Per-device results of the last step as numpy arrays in a dict.
fn outcomes<'py>(py: Python<'py>, env: &MultiDeviceEnv) -> PyResult<Bound<'py, PyDict>> {
    let o = &env.outcomes;
    let d = PyDict::new(py);
    let col =
        |f: &dyn Fn(&coinfer_sim::DeviceOutcome) -> f64| -> Vec<f64> { o.iter().map(f).collect() };
    d.set_item("utility", col(&|x| x.utility).into_pyarray(py))?;
    d.set_item("latency_s", col(&|x| x.latency_s).into_pyarray(py))?;
    d.set_item("energy_j", col(&|x| x.energy_j).into_pyarray(py))?;
    d.set_item("accuracy", col(&|x| x.accuracy).into_pyarray(py))?;
    d.set_item("compute_share", col(&|x| x.compute_share).into_pyarray(py))?;
    d.set_item("bandwidth_share", col(&|x| x.bandwidth_share).into_pyarray(py))?;
    let flags = |f: &dyn Fn(&coinfer_sim::DeviceOutcome) -> bool| -> Vec<bool> {
        o.iter().map(f).collect()
    };
    d.set_item("offloads", flags(&|x| x.offloads).into_pyarray(py))?;
    d.set_item("missed_deadline", flags(&|x| x.missed_deadline).into_pyarray(py))?;
    Ok(d)
}

/// Seed 001 (MCIA): every slot each device picks a model version, a partition point (layers
/// run on the device; 0 = send the input, the layer count = answer locally) and weights for
/// its share of the edge's compute and of the uplink band (normalised over the devices that
/// offload). Reward: the sum of the devices' utilities `ω·accuracy − (1 − ω)·latency/T_ref`.
/// Observation per device: `[ω, ln(h/h̄), ln(device GMAC/s), backlog/slot]` (float32).
#[pyclass(module = "coinfer._native", name = "MultiDeviceEnv", unsendable)]
pub struct PyMultiDeviceEnv {
    env: MultiDeviceEnv,
    scenario: String,
}

#[pymethods]
impl PyMultiDeviceEnv {
    /// The environment of a scenario file (`coinfer mcia` format), seeded.
    #[new]
    #[pyo3(signature = (scenario, seed = 0))]
    fn new(scenario: &str, seed: u64) -> PyResult<Self> {
        Ok(PyMultiDeviceEnv { env: build(scenario, seed)?, scenario: scenario.to_string() })
    }

    /// Devices.
    fn num_devices(&self) -> usize {
        self.env.num_devices()
    }

    /// Version names, in action order.
    fn versions(&self) -> Vec<String> {
        self.env.versions().iter().map(|v| v.name.clone()).collect()
    }

    /// Largest partition point (the largest version's layer count).
    fn max_partition(&self) -> usize {
        self.env.versions().iter().map(|v| v.table.layers.len()).max().unwrap_or(0)
    }

    /// Slots per episode.
    fn horizon(&self) -> usize {
        self.env.horizon
    }

    /// `mask[d, v, p]`: whether device `d` may run version `v` split at partition `p` (its
    /// memory holds the head; `p` within the version's layers).
    fn action_mask<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<bool>> {
        let (n, v, p) = (self.env.num_devices(), self.env.versions().len(), self.max_partition());
        Array3::from_shape_fn((n, v, p + 1), |(d, v, p)| self.env.fits(d, v, p)).into_pyarray(py)
    }

    /// Starts an episode; the observation, devices × 4. With a `seed` the environment is
    /// built afresh from its scenario first, so channel processes with memory (Gauss–Markov)
    /// start over too and a seed always gives the same trajectory.
    #[pyo3(signature = (seed = None))]
    fn reset<'py>(
        &mut self,
        py: Python<'py>,
        seed: Option<u64>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        if let Some(s) = seed {
            self.env = build(&self.scenario, s)?;
        }
        Ok(self.env.reset(seed).into_pyarray(py))
    }

    /// One slot: per-device version, partition and share weights →
    /// `(observation, reward, done, outcomes)`.
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        version: PyReadonlyArray1<'py, i64>,
        partition: PyReadonlyArray1<'py, i64>,
        compute_share: PyReadonlyArray1<'py, f64>,
        bandwidth_share: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Stepped<'py>> {
        let a = actions(
            self.env.num_devices(),
            &version.as_array().to_vec(),
            &partition.as_array().to_vec(),
            &compute_share.as_array().to_vec(),
            &bandwidth_share.as_array().to_vec(),
        )?;
        let s = self.env.step(&a).map_err(env_err)?;
        Ok((s.observation.into_pyarray(py), s.reward, s.done, outcomes(py, &self.env)?))
    }

    /// The exact allocation's share weights for these choices (seed 001's optimum for fixed
    /// versions and partitions): `(compute_share, bandwidth_share)`, one entry per device.
    fn exact_shares<'py>(
        &self,
        py: Python<'py>,
        version: PyReadonlyArray1<'py, i64>,
        partition: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<(Column<'py>, Column<'py>)> {
        let n = self.env.num_devices();
        let zeros = vec![0.0; n];
        let a = actions(
            n,
            &version.as_array().to_vec(),
            &partition.as_array().to_vec(),
            &zeros,
            &zeros,
        )?;
        let choices: Vec<(usize, usize)> = a.iter().map(|a| (a.version, a.partition)).collect();
        let shares = self.env.exact_shares(&choices).map_err(env_err)?;
        let c: Vec<f64> = shares.iter().map(|a| a.compute_share).collect();
        let b: Vec<f64> = shares.iter().map(|a| a.bandwidth_share).collect();
        Ok((c.into_pyarray(py), b.into_pyarray(py)))
    }

    /// Device `i`'s part of the current observation (4 floats).
    fn device_observation<'py>(
        &self,
        py: Python<'py>,
        i: usize,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        if i >= self.env.num_devices() {
            return Err(PyIndexError::new_err(format!(
                "device {i}: the scenario has {} devices",
                self.env.num_devices()
            )));
        }
        Ok(Array1::from(self.env.device_observation(i).to_vec()).into_pyarray(py))
    }
}

/// Many copies of one scenario stepped together in Rust (rayon), with batched arrays; an
/// episode that ends is reset at once (its final observation is returned in
/// `final_observation`, the next episode's first in the batch).
#[pyclass(module = "coinfer._native", name = "VecMultiDeviceEnv", unsendable)]
pub struct PyVecMultiDeviceEnv {
    envs: Vec<MultiDeviceEnv>,
    devices: usize,
    scenario: String,
}

#[pymethods]
impl PyVecMultiDeviceEnv {
    /// `num_envs` copies of the scenario, copy `k` seeded `seed + k`.
    #[new]
    #[pyo3(signature = (scenario, num_envs, seed = 0))]
    fn new(scenario: &str, num_envs: usize, seed: u64) -> PyResult<Self> {
        if num_envs == 0 {
            return Err(PyValueError::new_err("num_envs must be ≥ 1"));
        }
        let envs = build_copies(scenario, num_envs, seed)?;
        let devices = envs[0].num_devices();
        Ok(PyVecMultiDeviceEnv { envs, devices, scenario: scenario.to_string() })
    }

    /// Copies.
    fn num_envs(&self) -> usize {
        self.envs.len()
    }

    /// Devices per copy.
    fn num_devices(&self) -> usize {
        self.devices
    }

    /// Resets every copy (copy `k` built afresh and seeded `seed + k` when a seed is given):
    /// observations, copies × (devices × 4).
    #[pyo3(signature = (seed = None))]
    fn reset<'py>(
        &mut self,
        py: Python<'py>,
        seed: Option<u64>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        if let Some(s) = seed {
            self.envs = build_copies(&self.scenario, self.envs.len(), s)?;
        }
        let obs: Vec<Vec<f32>> = self
            .envs
            .iter_mut()
            .enumerate()
            .map(|(k, e)| e.reset(seed.map(|s| s.wrapping_add(k as u64))))
            .collect();
        Ok(stack(&obs).into_pyarray(py))
    }

    /// One slot in every copy: arrays copies × devices →
    /// `(observations, rewards, dones, final_observations)`.
    #[allow(clippy::type_complexity)]
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        version: PyReadonlyArray2<'py, i64>,
        partition: PyReadonlyArray2<'py, i64>,
        compute_share: PyReadonlyArray2<'py, f64>,
        bandwidth_share: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<(
        Bound<'py, PyArray2<f32>>,
        Bound<'py, PyArray1<f64>>,
        Bound<'py, PyArray1<bool>>,
        Bound<'py, PyArray2<f32>>,
    )> {
        let (b, n) = (self.envs.len(), self.devices);
        for (name, shape) in [
            ("version", version.as_array().shape().to_vec()),
            ("partition", partition.as_array().shape().to_vec()),
            ("compute_share", compute_share.as_array().shape().to_vec()),
            ("bandwidth_share", bandwidth_share.as_array().shape().to_vec()),
        ] {
            if shape != [b, n] {
                return Err(PyValueError::new_err(format!(
                    "{name} has shape {shape:?}, expected ({b}, {n}) (copies, devices)"
                )));
            }
        }
        let (v, p, c, w) = (
            version.as_array(),
            partition.as_array(),
            compute_share.as_array(),
            bandwidth_share.as_array(),
        );
        let batch: Vec<Vec<DeviceAction>> = (0..b)
            .map(|k| {
                let row = |a: &numpy::ndarray::ArrayView2<'_, i64>| a.row(k).to_vec();
                let rowf = |a: &numpy::ndarray::ArrayView2<'_, f64>| a.row(k).to_vec();
                actions(n, &row(&v), &row(&p), &rowf(&c), &rowf(&w))
                    .map_err(|e| PyValueError::new_err(format!("copy {k}: {e}")))
            })
            .collect::<PyResult<_>>()?;
        // Every choice checked before any copy steps, so a bad one changes nothing.
        for (k, (e, a)) in self.envs.iter().zip(&batch).enumerate() {
            if let Some((d, x)) =
                a.iter().enumerate().find(|(d, x)| !e.fits(*d, x.version, x.partition))
            {
                return Err(PyValueError::new_err(format!(
                    "copy {k}, device {d}: version {} at partition {} is outside the action space \
                     or does not fit the device (see action_mask)",
                    x.version, x.partition
                )));
            }
        }
        let results: Vec<Result<(Vec<f32>, f64, bool, Vec<f32>), String>> = py.detach(|| {
            self.envs
                .par_iter_mut()
                .zip(batch.par_iter())
                .enumerate()
                .map(|(k, (e, a))| {
                    let s = e.step(a).map_err(|err| format!("copy {k}: {err}"))?;
                    if s.done {
                        let first = e.reset(None);
                        Ok((first, s.reward, true, s.observation))
                    } else {
                        Ok((s.observation.clone(), s.reward, false, s.observation))
                    }
                })
                .collect()
        });
        let mut obs = Vec::with_capacity(b);
        let mut finals = Vec::with_capacity(b);
        let (mut rewards, mut dones) = (Vec::with_capacity(b), Vec::with_capacity(b));
        for r in results {
            let (o, rew, done, fin) = r.map_err(PyValueError::new_err)?;
            obs.push(o);
            rewards.push(rew);
            dones.push(done);
            finals.push(fin);
        }
        Ok((
            stack(&obs).into_pyarray(py),
            rewards.into_pyarray(py),
            dones.into_pyarray(py),
            stack(&finals).into_pyarray(py),
        ))
    }
}

/// Rows of equal length as a matrix.
fn stack(rows: &[Vec<f32>]) -> Array2<f32> {
    let width = rows.first().map_or(0, Vec::len);
    Array2::from_shape_fn((rows.len(), width), |(i, j)| rows[i][j])
}
