//! Models, plans, hardware and channels from Python: thin calls into `coinfer_graph`,
//! `coinfer_engine`, `coinfer_pipeline` and `coinfer_sim`. Structured results cross as JSON
//! text (the same serde forms the CLI's `--json` prints) that `python/coinfer/api.py` parses;
//! tensors cross as numpy arrays.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use coinfer_engine::Runnable;
use coinfer_graph::{Graph, GraphError, InputShapes};
use coinfer_pipeline::plan_predict::{predict_plan, PlanSetting};
use coinfer_pipeline::profile::{profile_report, ProfileConfig};
use coinfer_pipeline::{NoProgress, PipelineError};
use coinfer_sim::{ChannelConfig, ChannelModel, Hardware, Link, Plan, Radio};
use numpy::{IntoPyArray, PyArray1, PyArrayDyn, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;
use rand::SeedableRng;

/// A graph error as a Python exception: a missing file is `FileNotFoundError`, another I/O
/// failure `OSError`, anything about the model itself `ValueError`.
pub(crate) fn graph_err(e: GraphError) -> PyErr {
    match &e {
        GraphError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(e.to_string())
        }
        GraphError::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// A workflow error as a Python exception (graph errors as [`graph_err`]).
pub(crate) fn pipeline_err(e: PipelineError) -> PyErr {
    match e {
        PipelineError::Graph(g) => graph_err(g),
        other => PyValueError::new_err(other.to_string()),
    }
}

pub(crate) fn value_err(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn json<T: serde::Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(value_err)
}

/// An ONNX model analysed at its input shapes, with the engine that runs it prepared on
/// first use.
#[pyclass(module = "coinfer._native", name = "Model", frozen)]
pub(crate) struct PyModel {
    graph: Graph,
    /// Where it was loaded from (empty for a head or tail made in memory).
    path: String,
    /// The prepared model per engine name.
    prepared: std::sync::Mutex<BTreeMap<String, Arc<dyn Runnable>>>,
}

impl PyModel {
    fn new(graph: Graph, path: String) -> PyModel {
        PyModel { graph, path, prepared: Default::default() }
    }

    fn runnable(&self, engine: &str) -> PyResult<Arc<dyn Runnable>> {
        let mut cache = self.prepared.lock().map_err(|_| value_err("engine cache poisoned"))?;
        if let Some(r) = cache.get(engine) {
            return Ok(r.clone());
        }
        let e = coinfer_engine::engine_for_name(engine).map_err(value_err)?;
        let r = e.prepare(&self.graph.proto).map_err(value_err)?;
        cache.insert(engine.to_string(), r.clone());
        Ok(r)
    }
}

#[pymethods]
impl PyModel {
    /// Loads and analyses `path`; `input_shape` gives concrete dims (batch first) for inputs
    /// whose dims are symbolic beyond the batch.
    #[new]
    #[pyo3(signature = (path, input_shape = None))]
    fn load(path: PathBuf, input_shape: Option<BTreeMap<String, Vec<usize>>>) -> PyResult<Self> {
        let shapes = InputShapes(input_shape.unwrap_or_default());
        let graph = Graph::load_with(&path, &shapes).map_err(graph_err)?;
        Ok(PyModel::new(graph, path.display().to_string()))
    }

    /// Where the model was loaded from ("" for a head or tail of a split).
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// Summary as JSON: inputs, the shapes analysed at, outputs, nodes, MACs, parameter bytes.
    fn summary_json(&self) -> PyResult<String> {
        let g = &self.graph;
        json(&serde_json::json!({
            "inputs": g.inputs,
            "input_shape": g.input_shapes,
            "outputs": g.outputs,
            "nodes": g.nodes.len(),
            "macs": g.total_macs(),
            "param_bytes": g.total_param_bytes(),
            "input_bytes": g.input_bytes(),
        }))
    }

    /// Every valid cut point as JSON (index, tensor, op, shape, feature bytes, head/tail MACs,
    /// head parameter bytes; batch size 1).
    fn cuts_json(&self) -> PyResult<String> {
        json(&self.graph.cut_points())
    }

    /// The simulator's layer table of the model as JSON (one layer per segment between cuts).
    fn layer_table_json(&self) -> PyResult<String> {
        json(&coinfer_pipeline::layers::layer_table(&self.graph))
    }

    /// Splits at `cut` (a tensor name or a cut index as text): `(head, tail)`.
    fn split(&self, cut: &str) -> PyResult<(PyModel, PyModel)> {
        let point = self.graph.find_cut(cut).map_err(graph_err)?;
        let part = self.graph.split(&point).map_err(graph_err)?;
        // The head keeps the model's input shapes; the tail's input, the cut tensor, is
        // declared with its own shape (batch left symbolic).
        let head = Graph::analyse_with(part.head, &self.graph.input_shapes).map_err(graph_err)?;
        let tail = Graph::analyse_with(part.tail, &InputShapes::default()).map_err(graph_err)?;
        let (head, tail) = (PyModel::new(head, String::new()), PyModel::new(tail, String::new()));
        Ok((head, tail))
    }

    /// Writes the model as ONNX to `path`.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        coinfer_graph::save_model(&self.graph.proto, &path).map_err(graph_err)
    }

    /// Runs the model on `inputs` (one float32 array per model input, batch first) with
    /// `engine` (`tract`, or `ort` where built in); the outputs, float32. The interpreter's
    /// lock is released while it runs.
    #[pyo3(signature = (inputs, engine = "tract"))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        inputs: Vec<PyReadonlyArrayDyn<'py, f32>>,
        engine: &str,
    ) -> PyResult<Vec<Bound<'py, PyArrayDyn<f32>>>> {
        if inputs.len() != self.graph.inputs.len() {
            return Err(value_err(format!(
                "{} input arrays for a model with {} inputs ({})",
                inputs.len(),
                self.graph.inputs.len(),
                self.graph.inputs.join(", ")
            )));
        }
        let runnable = self.runnable(engine)?;
        let tensors: Vec<coinfer_engine::Tensor> =
            inputs.iter().map(|a| a.as_array().to_owned()).collect();
        let outputs = py.detach(|| runnable.run(&tensors)).map_err(value_err)?;
        Ok(outputs.into_iter().map(|y| y.into_pyarray(py)).collect())
    }

    /// Times the model, every head and every tail on this host (`runs` timed runs each at
    /// `batch`) and predicts each on `device` and `edge` (profile names or measured tables):
    /// the `coinfer profile --json` report as JSON.
    #[pyo3(signature = (device, edge, runs = 20, batch = 1, engine = "tract"))]
    fn profile_json(
        &self,
        py: Python<'_>,
        device: &str,
        edge: &str,
        runs: usize,
        batch: usize,
        engine: &str,
    ) -> PyResult<String> {
        if runs == 0 || batch == 0 {
            return Err(value_err("runs and batch must be at least 1"));
        }
        let device = Hardware::from_spec(device).map_err(value_err)?;
        let edge = Hardware::from_spec(edge).map_err(value_err)?;
        let config = ProfileConfig { engine, batch, runs, idle_gap: std::time::Duration::ZERO };
        let report = py
            .detach(|| profile_report(&self.graph, &config, device, edge, &mut NoProgress))
            .map_err(pipeline_err)?;
        json(&report)
    }
}

/// Checks a plan (JSON text): unknown keys, duplicate devices, shares out of range.
#[pyfunction]
pub(crate) fn plan_validate(plan_json: &str) -> PyResult<()> {
    Plan::from_json(plan_json).map(|_| ()).map_err(value_err)
}

/// Predicts a plan (JSON text) for the models it names in `models`: every device on
/// `device` hardware (or its entry in `devices`), tails on `edge`, each link at `up_bps`
/// with round trip `rtt_s` and radio power `tx_power_w`. A list of per-device predictions as
/// JSON.
#[pyfunction]
#[pyo3(signature = (plan_json, models, device, edge, up_bps, rtt_s = 0.0, tx_power_w = 0.0, devices = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan_predict(
    plan_json: &str,
    models: PathBuf,
    device: &str,
    edge: &str,
    up_bps: f64,
    rtt_s: f64,
    tx_power_w: f64,
    devices: Option<BTreeMap<String, String>>,
) -> PyResult<String> {
    let plan = Plan::from_json(plan_json).map_err(value_err)?;
    for (name, v) in [("up_bps", up_bps), ("rtt_s", rtt_s), ("tx_power_w", tx_power_w)] {
        if v.is_nan() || v < 0.0 || (name != "up_bps" && v.is_infinite()) {
            return Err(value_err(format!("{name} = {v} must be a number ≥ 0")));
        }
    }
    if up_bps == 0.0 {
        return Err(value_err("up_bps must be > 0"));
    }
    let devices = devices
        .unwrap_or_default()
        .into_iter()
        .map(|(id, spec)| Ok((id, Hardware::from_spec(&spec).map_err(value_err)?)))
        .collect::<PyResult<BTreeMap<_, _>>>()?;
    let setting = PlanSetting {
        models: &models,
        device: Hardware::from_spec(device).map_err(value_err)?,
        devices,
        edge: Hardware::from_spec(edge).map_err(value_err)?,
        link: Link { tx_power_w, ..Link::simple(up_bps, rtt_s) },
    };
    json(&predict_plan(&plan, &setting).map_err(pipeline_err)?)
}

/// The built-in hardware profiles as JSON.
#[pyfunction]
pub(crate) fn hardware_profiles_json() -> PyResult<String> {
    json(&coinfer_sim::builtin_profiles())
}

/// One hardware spec (a profile name or a measured table file) as JSON.
#[pyfunction]
pub(crate) fn hardware_json(spec: &str) -> PyResult<String> {
    json(&Hardware::from_spec(spec).map_err(value_err)?)
}

/// A fading channel (a `coinfer stopping` channel section, as JSON) over a radio.
#[pyclass(module = "coinfer._native", name = "Channel", frozen)]
pub(crate) struct PyChannel {
    model: Box<dyn ChannelModel>,
    radio: Radio,
}

#[pymethods]
impl PyChannel {
    /// From the channel's and the radio's JSON forms.
    #[new]
    fn new(channel_json: &str, radio_json: &str) -> PyResult<Self> {
        let config: ChannelConfig =
            serde_json::from_str(channel_json).map_err(|e| value_err(format!("channel: {e}")))?;
        let radio: Radio =
            serde_json::from_str(radio_json).map_err(|e| value_err(format!("radio: {e}")))?;
        radio.validate().map_err(|e| value_err(format!("radio: {e}")))?;
        let model = config.build(&radio).map_err(|e| value_err(format!("channel: {e}")))?;
        Ok(PyChannel { model, radio })
    }

    /// `n` i.i.d. gains drawn with `seed`.
    fn sample<'py>(&self, py: Python<'py>, n: usize, seed: u64) -> Bound<'py, PyArray1<f64>> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let gains: Vec<f64> = (0..n).map(|_| self.model.sample(&mut rng)).collect();
        gains.into_pyarray(py)
    }

    /// The mean gain `E[h]`.
    fn mean_gain(&self) -> f64 {
        self.model.expect(&|h| h)
    }

    /// `P(h ≥ eta)`.
    fn prob_at_least(&self, eta: f64) -> PyResult<f64> {
        if eta.is_nan() {
            return Err(value_err("eta is NaN"));
        }
        Ok(self.model.prob_at_least(eta))
    }

    /// Shannon rate (bit/s) at each gain.
    fn rate_bps<'py>(
        &self,
        py: Python<'py>,
        gains: PyReadonlyArray1<'py, f64>,
    ) -> Bound<'py, PyArray1<f64>> {
        let r: Vec<f64> = gains.as_array().iter().map(|&h| self.radio.rate_bps(h)).collect();
        r.into_pyarray(py)
    }
}
