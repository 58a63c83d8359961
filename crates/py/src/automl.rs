//! Seed 000's AutoML search as a Python environment: `coinfer_sim::AutomlEnv` at one cut of a
//! real model, scored by the pipeline's accuracy proxy (prune, re-estimate BatchNorm on
//! training images, split, code the feature, score validation images), memoised per
//! configuration in memory and on disk — the environment `coinfer automl` searches.

use std::path::PathBuf;

use coinfer_data::DatasetName;
use coinfer_graph::{Graph, InputShapes};
use coinfer_pipeline::automl::{
    candidate_cuts, check, environment, profile_compute, proxy, search_link, space_at, AutomlJob,
    Candidates, DdpgConfig, ProxyData,
};
use coinfer_pipeline::automl_cache::Cached;
use coinfer_pipeline::automl_proxy::AccuracyProxy;
use coinfer_sim::{AutomlEnv, Budget, Env, Reward};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::api::value_err;
use crate::{env_err, space_dict};

/// What the Python side passes (JSON; unknown keys refused).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AutomlSettings {
    model: PathBuf,
    #[serde(default)]
    input_shape: std::collections::BTreeMap<String, Vec<usize>>,
    /// Tensor name or cut index; `None`: device-only (the whole model pruned on the device).
    cut: Option<String>,
    device: String,
    edge: String,
    rate_mbps: f64,
    rtt_ms: f64,
    budget_ms: Option<f64>,
    budget_mmacs: Option<f64>,
    reward: Reward,
    multiple_of: usize,
    min_keep: f64,
    bits: Vec<u8>,
    val_images: usize,
    recalibration_images: usize,
    engine: String,
    cache_dir: PathBuf,
}

/// What the job borrows for as long as the environment lives. Leaked: the pipeline's proxy
/// borrows the model (`AccuracyProxy<'a>`) and a Python object cannot hold a borrow, so each
/// environment keeps its model for the life of the process (one model's weights, a few MB
/// at most; a training script builds a handful of environments).
struct Owned {
    graph: Graph,
    engine: String,
    cache_dir: PathBuf,
}

/// Seed 000's search at one cut (see `coinfer.envs.AutoMLEnv`).
#[pyclass(module = "coinfer._native", name = "AutomlEnv", unsendable)]
pub(crate) struct PyAutomlEnv {
    env: AutomlEnv<Cached<AccuracyProxy<'static>>>,
    cut: Option<String>,
}

#[pymethods]
impl PyAutomlEnv {
    /// From the settings' JSON (see `AutomlSettings`).
    #[new]
    fn new(py: Python<'_>, settings_json: &str) -> PyResult<Self> {
        let s: AutomlSettings = serde_json::from_str(settings_json)
            .map_err(|e| value_err(format!("AutoML settings: {e}")))?;
        // The rate, round-trip time and budget are checked by `check` below.
        let budget = match (s.budget_ms, s.budget_mmacs) {
            (Some(_), Some(_)) => {
                return Err(value_err("give budget_ms or budget_mmacs, not both"));
            }
            (Some(ms), None) => Some(Budget::LatencyS(ms / 1e3)),
            (None, Some(m)) => Some(Budget::DeviceMacs(m * 1e6)),
            (None, None) => None,
        };
        let graph = Graph::load_with(&s.model, &InputShapes(s.input_shape.clone()))
            .map_err(crate::api::graph_err)?;
        let compute = |spec: &str| profile_compute(spec).map_err(crate::api::pipeline_err);
        let (device, edge) = (compute(&s.device)?, compute(&s.edge)?);
        let owned: &'static Owned = Box::leak(Box::new(Owned {
            graph,
            engine: s.engine.clone(),
            cache_dir: s.cache_dir.clone(),
        }));
        let job = AutomlJob {
            graph: &owned.graph,
            candidates: Candidates::Cuts(vec![s.cut.clone()]),
            device,
            edge,
            link: search_link(s.rate_mbps, s.rtt_ms),
            budget,
            reward: s.reward,
            episodes: 1,
            ddpg: DdpgConfig::default(),
            multiple_of: s.multiple_of,
            min_keep: s.min_keep,
            bits: s.bits,
            data: DatasetName::FashionMnist,
            val_images: s.val_images,
            recalibration_images: s.recalibration_images,
            engine: &owned.engine,
            cache_dir: &owned.cache_dir,
        };
        check(&job).map_err(crate::api::pipeline_err)?;
        let env = py
            .detach(|| -> coinfer_pipeline::Result<_> {
                let cut = candidate_cuts(&job)?.pop().flatten();
                let space = space_at(&job, cut.as_ref())?;
                let data = ProxyData::load(&job)?;
                let engine = coinfer_engine::engine_for_name(&owned.engine)?;
                let proxy = proxy(&job, &cut, &space, &engine, &data)?;
                environment(&job, space, proxy)
            })
            .map_err(crate::api::pipeline_err)?;
        Ok(PyAutomlEnv { env, cut: s.cut })
    }

    /// Starts an episode (the search is deterministic: the seed changes nothing).
    #[pyo3(signature = (seed = None))]
    fn reset<'py>(&mut self, py: Python<'py>, seed: Option<u64>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_vec(py, self.env.reset(seed))
    }

    /// Applies one keep ratio (or bits position) in `[0, 1]`: `(observation, reward, done)`;
    /// the last step prunes and scores the configuration (seconds, unless memoised).
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        action: PyReadonlyArray1<'py, f32>,
    ) -> PyResult<(Bound<'py, PyArray1<f32>>, f64, bool)> {
        let a = action.as_array().to_vec();
        let env = &mut self.env;
        let s = py.detach(|| env.step(&a)).map_err(env_err)?;
        Ok((PyArray1::from_vec(py, s.observation), s.reward, s.done))
    }

    /// The last finished episode's configuration and scores as JSON (`null` before one).
    fn last_outcome_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.env.last_outcome()).map_err(value_err)
    }

    /// The search space as JSON (decisions with their channels and kinds, the feature).
    fn space_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.env.setup().space).map_err(value_err)
    }

    /// Steps per episode.
    fn steps(&self) -> usize {
        self.env.setup().space.steps()
    }

    /// The unpruned configuration's predicted latency (s).
    fn reference_s(&self) -> f64 {
        self.env.reference_s()
    }

    /// Configurations scored so far (distinct, in memory).
    fn evaluations(&self) -> usize {
        self.env.evaluations()
    }

    /// The cut searched (`None`: device-only).
    fn cut(&self) -> Option<String> {
        self.cut.clone()
    }

    /// The observation space as a dict.
    fn observation_space<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        space_dict(py, &Env::observation_space(&self.env))
    }

    /// The action space as a dict.
    fn action_space<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        space_dict(py, &Env::action_space(&self.env))
    }
}
