//! The model directory: loads models by name and version, splits them, and keeps the
//! prepared parts (heads, tails, segments) so each is prepared once.
//!
//! Layout: `<dir>/<model>.onnx`, and versions as `<dir>/<model>/<version>.onnx`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use coinfer_engine::{Engine, Runnable};
use coinfer_graph::{CutPoint, Graph, InputShapes};

use crate::error::{Result, RuntimeError};

/// Which part of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The whole model (device-only, edge-only, fallback).
    Full,
    /// Input → cut `i`.
    Head(usize),
    /// Cut `i` → outputs.
    Tail(usize),
    /// Cut `from` (or the input when `None`) → cut `to`: one stage of online splitting.
    /// `to` = the model's cut count means its outputs.
    Segment {
        /// Start cut, `None` = the model input.
        from: Option<usize>,
        /// End cut (> `from`; the cut count = the outputs).
        to: usize,
    },
}

/// A model (and version) in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ModelId {
    /// Model name.
    pub model: String,
    /// Version, empty for the model itself.
    pub version: String,
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.version.is_empty() {
            f.write_str(&self.model)
        } else {
            write!(f, "{}/{}", self.model, self.version)
        }
    }
}

/// A prepared part of a model.
pub struct Loaded {
    /// `model[/version]@part`, for logs and metrics.
    pub label: String,
    /// Ready to run (one thread per run).
    pub runnable: Arc<dyn Runnable>,
    /// Shape of one sample of its input (without the batch dimension).
    pub sample_shape: Vec<usize>,
    /// Multiply–accumulates per sample: the cost used by fair scheduling.
    pub macs_per_sample: u64,
    /// Wall time of the last [`Loaded::run_timed`], ns (0: never run that way).
    last_run_ns: AtomicU64,
}

impl Loaded {
    /// Runs the part on this thread and records how long it took.
    pub fn run_timed(
        &self,
        inputs: &[coinfer_engine::Tensor],
    ) -> Result<Vec<coinfer_engine::Tensor>> {
        let t0 = std::time::Instant::now();
        let out = self.runnable.run(inputs)?;
        let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1);
        self.last_run_ns.store(ns, Ordering::Relaxed);
        Ok(out)
    }

    /// Wall time of the last [`Loaded::run_timed`] (`None` before the first).
    pub fn last_run(&self) -> Option<std::time::Duration> {
        match self.last_run_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(std::time::Duration::from_nanos(ns)),
        }
    }
}

/// A loaded model: its analysis and cut list.
pub struct ModelEntry {
    /// The analysed graph.
    pub graph: Graph,
    /// Its valid cuts, in order.
    pub cuts: Vec<CutPoint>,
}

type Slot<T> = Arc<Mutex<Option<Arc<T>>>>;

/// Models by name, parts prepared on first use, on one engine.
pub struct ModelStore {
    dir: PathBuf,
    engine: Arc<dyn Engine>,
    /// Concrete input shapes by model name, for models with symbolic dims.
    input_shapes: HashMap<String, InputShapes>,
    models: Mutex<HashMap<ModelId, Slot<ModelEntry>>>,
    parts: Mutex<HashMap<(ModelId, Part), Slot<Loaded>>>,
    heads: Mutex<HashMap<(ModelId, usize), Slot<crate::distribution::HeadFile>>>,
}

/// A model or version name: letters, digits, `-`, `_`, `.`, not starting with `.` (so a
/// request can never name a file outside the directory).
fn check_name(what: &str, name: &str, allow_empty: bool) -> Result<()> {
    let ok = (allow_empty && name.is_empty())
        || (!name.is_empty()
            && name.len() <= 128
            && !name.starts_with('.')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::Invalid(format!(
            "{what} `{name}` is not a valid name (letters, digits, `-_.`, not starting with `.`)"
        )))
    }
}

/// Gets or fills the slot for `key` in `map`, holding only that slot's lock while `load` runs.
fn get_or_load<K: std::hash::Hash + Eq + Clone, T>(
    map: &Mutex<HashMap<K, Slot<T>>>,
    key: &K,
    load: impl FnOnce() -> Result<T>,
) -> Result<Arc<T>> {
    let slot = {
        let mut m = map.lock().map_err(|_| RuntimeError::Invalid("model store poisoned".into()))?;
        m.entry(key.clone()).or_default().clone()
    };
    let mut guard = slot.lock().map_err(|_| RuntimeError::Invalid("model slot poisoned".into()))?;
    if let Some(v) = guard.as_ref() {
        return Ok(v.clone());
    }
    let v = Arc::new(load()?);
    *guard = Some(v.clone());
    Ok(v)
}

/// Shape of the model's first input at batch 1 (empty if unknown).
pub(crate) fn input_shape(g: &Graph) -> Vec<usize> {
    g.inputs.first().and_then(|n| g.tensor(n)).and_then(|t| t.shape.clone()).unwrap_or_default()
}

/// The input shapes a deployment plan gives its devices' models (model name → shapes),
/// for the models that declare one.
pub fn plan_input_shapes(
    plan: &coinfer_sim::Plan,
) -> impl Iterator<Item = (String, InputShapes)> + '_ {
    plan.devices
        .iter()
        .filter(|d| !d.input_shape.is_empty())
        .map(|d| (d.model.clone(), InputShapes(d.input_shape.clone())))
}

impl ModelStore {
    /// A store over `dir`, preparing parts on `engine`.
    pub fn new(dir: impl Into<PathBuf>, engine: Arc<dyn Engine>) -> ModelStore {
        ModelStore {
            dir: dir.into(),
            engine,
            input_shapes: HashMap::new(),
            models: Mutex::default(),
            parts: Mutex::default(),
            heads: Mutex::default(),
        }
    }

    /// Analyses model `name` (every version of it) at `shapes`: needed for models whose inputs
    /// have symbolic dims besides the batch; a model loaded without them is refused with an
    /// error that names the input.
    pub fn with_input_shapes(
        mut self,
        shapes: impl IntoIterator<Item = (String, InputShapes)>,
    ) -> ModelStore {
        self.input_shapes.extend(shapes);
        self
    }

    /// [`ModelStore::with_input_shapes`] with the shapes a deployment plan gives its devices'
    /// models.
    pub fn with_plan_shapes(self, plan: &coinfer_sim::Plan) -> ModelStore {
        self.with_input_shapes(plan_input_shapes(plan))
    }

    /// The directory served.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a model file (names checked).
    pub fn path(&self, id: &ModelId) -> Result<PathBuf> {
        check_name("model", &id.model, false)?;
        check_name("version", &id.version, true)?;
        Ok(if id.version.is_empty() {
            self.dir.join(format!("{}.onnx", id.model))
        } else {
            self.dir.join(&id.model).join(format!("{}.onnx", id.version))
        })
    }

    /// The analysed model (loaded on first use).
    pub fn model(&self, id: &ModelId) -> Result<Arc<ModelEntry>> {
        let path = self.path(id)?;
        get_or_load(&self.models, id, || {
            if !path.is_file() {
                return Err(RuntimeError::NotFound(format!(
                    "model `{id}`: no file {}",
                    path.display()
                )));
            }
            let shapes = self.input_shapes.get(&id.model).cloned().unwrap_or_default();
            let graph = Graph::load_with(&path, &shapes)?;
            let cuts = graph.cut_points();
            tracing::info!(model = %id, cuts = cuts.len(), "model loaded");
            Ok(ModelEntry { graph, cuts })
        })
    }

    /// The prepared part (prepared on first use; later calls share it).
    pub fn part(&self, id: &ModelId, part: Part) -> Result<Arc<Loaded>> {
        let entry = self.model(id)?;
        get_or_load(&self.parts, &(id.clone(), part), || self.prepare(id, &entry, part))
    }

    /// The head of `layers` layers as a file to download (built on first use, then shared):
    /// see [`crate::distribution`].
    pub fn head_file(
        &self,
        id: &ModelId,
        layers: usize,
    ) -> Result<Arc<crate::distribution::HeadFile>> {
        let entry = self.model(id)?;
        let path = self.path(id)?;
        get_or_load(&self.heads, &(id.clone(), layers), || {
            crate::distribution::build_head(id, &entry, &path, layers)
        })
    }

    /// The version's description with every head (`K = 1..=N`) built.
    pub fn version_info(&self, id: &ModelId) -> Result<crate::proto::VersionInfo> {
        let entry = self.model(id)?;
        let heads = (1..=entry.cuts.len() + 1)
            .map(|k| self.head_file(id, k))
            .collect::<Result<Vec<_>>>()?;
        Ok(crate::distribution::version_info(&id.version, &entry, &heads))
    }

    /// Versions of `model` in the directory (`<dir>/<model>/<version>.onnx`, names sorted;
    /// downloaded heads `*.k<K>.onnx` left out), or `[""]` (the model itself) when it has
    /// no version folder.
    pub fn versions_on_disk(&self, model: &str) -> Result<Vec<String>> {
        check_name("model", model, false)?;
        let folder = self.dir.join(model);
        let Ok(read) = std::fs::read_dir(&folder) else {
            return if self.dir.join(format!("{model}.onnx")).is_file() {
                Ok(vec![String::new()])
            } else {
                Err(RuntimeError::NotFound(format!("model `{model}`: no such model")))
            };
        };
        let mut v: Vec<String> = read
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".onnx").map(String::from))
            .filter(|v| crate::distribution::placed_layers(v).is_none())
            .filter(|v| check_name("version", v, false).is_ok())
            .collect();
        v.sort();
        Ok(v)
    }

    /// Forgets a model's analysis and prepared parts (after its file was replaced).
    pub fn forget(&self, id: &ModelId) {
        if let Ok(mut m) = self.models.lock() {
            m.remove(id);
        }
        if let Ok(mut p) = self.parts.lock() {
            p.retain(|(i, _), _| i != id);
        }
        if let Ok(mut h) = self.heads.lock() {
            h.retain(|(i, _), _| i != id);
        }
    }

    /// Cuts of the model (loaded on first use).
    pub fn cut_count(&self, id: &ModelId) -> Result<usize> {
        Ok(self.model(id)?.cuts.len())
    }

    /// The part if it is already prepared (never blocks on a load).
    pub fn prepared(&self, id: &ModelId, part: Part) -> Option<Arc<Loaded>> {
        let parts = self.parts.lock().ok()?;
        let slot = parts.get(&(id.clone(), part))?;
        let guard = slot.try_lock().ok()?;
        guard.clone()
    }

    /// Part names already prepared, as `model[/version]@part`.
    pub fn loaded(&self) -> Vec<String> {
        let Ok(parts) = self.parts.lock() else { return vec![] };
        let mut v: Vec<String> = parts
            .values()
            .filter_map(|s| s.lock().ok().and_then(|g| g.as_ref().map(|l| l.label.clone())))
            .collect();
        v.sort();
        v
    }

    fn cut<'a>(&self, id: &ModelId, entry: &'a ModelEntry, i: usize) -> Result<&'a CutPoint> {
        entry.cuts.get(i).ok_or_else(|| {
            RuntimeError::NotFound(format!(
                "model `{id}` has {} cuts (0..{}), no cut {i}",
                entry.cuts.len(),
                entry.cuts.len().saturating_sub(1)
            ))
        })
    }

    fn prepare(&self, id: &ModelId, entry: &ModelEntry, part: Part) -> Result<Loaded> {
        let g = &entry.graph;
        let (proto, sample_shape, macs, label) = match part {
            Part::Full => {
                let shape = input_shape(g);
                (g.proto.clone(), shape, g.total_macs(), format!("{id}@full"))
            }
            Part::Head(i) => {
                let cut = self.cut(id, entry, i)?;
                let p = g.split(cut)?;
                let shape = input_shape(g);
                (p.head, shape, cut.head_macs, format!("{id}@head{i}"))
            }
            Part::Tail(i) => {
                let cut = self.cut(id, entry, i)?;
                let p = g.split(cut)?;
                (p.tail, cut.shape.clone(), cut.tail_macs, format!("{id}@tail{i}"))
            }
            // A segment to one past the last cut ends at the model's outputs: the last stage
            // of a downloaded head (see `crate::distribution`).
            Part::Segment { from: None, to } if to == entry.cuts.len() => {
                let shape = input_shape(g);
                (g.proto.clone(), shape, g.total_macs(), format!("{id}@seg-out"))
            }
            Part::Segment { from: Some(a), to } if to == entry.cuts.len() => {
                let cut = self.cut(id, entry, a)?;
                let p = g.split(cut)?;
                (p.tail, cut.shape.clone(), cut.tail_macs, format!("{id}@seg{a}-out"))
            }
            Part::Segment { from, to } => {
                let end = self.cut(id, entry, to)?;
                let head = g.split(end)?.head;
                match from {
                    None => {
                        let shape = input_shape(g);
                        (head, shape, end.head_macs, format!("{id}@seg-{to}"))
                    }
                    Some(a) if a < to => {
                        let start = self.cut(id, entry, a)?;
                        let sub = Graph::analyse(head)?;
                        let inner = sub.find_cut(&start.tensor)?;
                        let tail = sub.split(&inner)?.tail;
                        let macs = end.head_macs.saturating_sub(start.head_macs);
                        (tail, start.shape.clone(), macs, format!("{id}@seg{a}-{to}"))
                    }
                    Some(a) => {
                        return Err(RuntimeError::Invalid(format!(
                            "segment from cut {a} to cut {to}: must go forward"
                        )))
                    }
                }
            }
        };
        let runnable = self.engine.prepare(&proto)?;
        // Shapes are recorded with batch 1: drop the batch dimension.
        let sample_shape = sample_shape.into_iter().skip(1).collect();
        tracing::debug!(part = %label, "part prepared");
        Ok(Loaded {
            label,
            runnable,
            sample_shape,
            macs_per_sample: macs,
            last_run_ns: AtomicU64::new(0),
        })
    }
}
