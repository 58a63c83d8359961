//! # coinfer-py
//!
//! Python bindings of coinfer (`import coinfer`): a thin layer over [`coinfer_sim`],
//! [`coinfer_policy`], [`coinfer_graph`], [`coinfer_engine`] and [`coinfer_pipeline`] — no
//! logic of its own. Every error a Python caller
//! can cause (a bad configuration, an action outside the space, a NaN, stepping after the
//! end) is a Python exception naming the problem; nothing here panics across the boundary.
//! The Gymnasium wrappers are Python (`python/coinfer/envs.py`).

mod api;
mod automl;
mod multi_device;

use coinfer_policy::stopping::{backward_induction, StoppingRule, ThresholdRule};
use coinfer_policy::stopping_config::StoppingConfig;
use coinfer_sim::{Env, EnvError, Space};
use numpy::PyArray1;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// An environment error as the Python exception a Gymnasium user expects: a bad action is a
/// `ValueError`, stepping out of order a `RuntimeError`.
pub(crate) fn env_err(e: EnvError) -> PyErr {
    match e {
        EnvError::InvalidAction(_) => PyValueError::new_err(e.to_string()),
        _ => PyRuntimeError::new_err(e.to_string()),
    }
}

/// A space as a Python dict: `{"kind": "discrete", "n": …}` or `{"kind": "box", "low": […],
/// "high": […]}`, or `{"kind": "tuple", "spaces": […]}`.
pub(crate) fn space_dict<'py>(py: Python<'py>, space: &Space) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match space {
        Space::Discrete(n) => {
            d.set_item("kind", "discrete")?;
            d.set_item("n", n)?;
        }
        Space::Box { low, high } => {
            d.set_item("kind", "box")?;
            d.set_item("low", low.clone())?;
            d.set_item("high", high.clone())?;
        }
        Space::Tuple(parts) => {
            d.set_item("kind", "tuple")?;
            let parts = parts.iter().map(|s| space_dict(py, s)).collect::<PyResult<Vec<_>>>()?;
            d.set_item("spaces", parts)?;
        }
    }
    Ok(d)
}

/// Seed 002's online splitting as an MDP (`coinfer_sim::SplitEnv`): one inference per
/// episode, decided layer by layer under fading. Action 1 = offload the current feature, 0 =
/// compute one more layer on the device (after the last layer the device has answered).
/// Observation `[n / N, ln(h / mean h), ln(Φ_n(h) / ψ_mean)]` (float32); reward = − the
/// weighted cost (time in s × w_T + energy in J × w_E) of the step.
#[pyclass(module = "coinfer._native", name = "SplitEnv", unsendable)]
struct PySplitEnv {
    env: coinfer_sim::SplitEnv,
    /// Backward induction's thresholds for the configuration's channel (all layers placed).
    optimal: ThresholdRule,
    /// Its expected cost per inference.
    optimal_cost: f64,
    layers: usize,
}

#[pymethods]
impl PySplitEnv {
    /// An environment from a `coinfer stopping` configuration (TOML text), seeded.
    #[new]
    #[pyo3(signature = (config_toml, seed = 0))]
    fn new(config_toml: &str, seed: u64) -> PyResult<Self> {
        let config: StoppingConfig = toml::from_str(config_toml)
            .map_err(|e| PyValueError::new_err(format!("stopping configuration: {e}")))?;
        let bad = |e: coinfer_policy::stopping::StoppingError| {
            PyValueError::new_err(format!("stopping configuration: {e}"))
        };
        let problem = config.problem().map_err(bad)?;
        let channel = config.channel.build(&config.radio).map_err(|e| bad(e.into()))?;
        let layers = problem.layers();
        let optimal = backward_induction(&problem, channel.as_ref(), layers);
        let env = config.split_env(seed).map_err(bad)?;
        Ok(PySplitEnv { env, optimal: optimal.rule, optimal_cost: optimal.expected_cost, layers })
    }

    /// Starts an episode (reseeding when `seed` is given); the first observation.
    #[pyo3(signature = (seed = None))]
    fn reset<'py>(&mut self, py: Python<'py>, seed: Option<u64>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_vec(py, self.env.reset(seed))
    }

    /// Applies `offload` (0 or 1): `(observation, reward, done)`.
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        offload: i64,
    ) -> PyResult<(Bound<'py, PyArray1<f32>>, f64, bool)> {
        let offload = match offload {
            0 => false,
            1 => true,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid action {other}: 0 (compute one more layer) or 1 (offload now)"
                )))
            }
        };
        let s = self.env.step(offload).map_err(env_err)?;
        Ok((PyArray1::from_vec(py, s.observation), s.reward, s.done))
    }

    /// The observation space as a dict (see the module's spaces).
    fn observation_space<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        space_dict(py, &Env::observation_space(&self.env))
    }

    /// The action space as a dict.
    fn action_space<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        space_dict(py, &Env::action_space(&self.env))
    }

    /// The current stage `n` (layers computed on the device so far).
    fn stage(&self) -> usize {
        self.env.stage()
    }

    /// The current channel gain.
    fn gain(&self) -> f64 {
        self.env.gain()
    }

    /// Layers `N` of the network.
    fn layers(&self) -> usize {
        self.layers
    }

    /// What the optimal stopping rule (backward induction for the configuration's i.i.d.
    /// channel) does now: 1 = offload.
    fn optimal_action(&self) -> i64 {
        i64::from(self.optimal.stop(self.env.stage(), self.env.gain()))
    }

    /// The optimal rule's expected cost per inference (exact): what an agent's mean cost is
    /// compared with.
    fn optimal_expected_cost(&self) -> f64 {
        self.optimal_cost
    }
}

/// The native module (`coinfer._native`).
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySplitEnv>()?;
    m.add_class::<multi_device::PyMultiDeviceEnv>()?;
    m.add_class::<multi_device::PyVecMultiDeviceEnv>()?;
    m.add_class::<api::PyModel>()?;
    m.add_class::<automl::PyAutomlEnv>()?;
    m.add_class::<api::PyChannel>()?;
    m.add_function(wrap_pyfunction!(api::plan_validate, m)?)?;
    m.add_function(wrap_pyfunction!(api::plan_predict, m)?)?;
    m.add_function(wrap_pyfunction!(api::hardware_profiles_json, m)?)?;
    m.add_function(wrap_pyfunction!(api::hardware_json, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
