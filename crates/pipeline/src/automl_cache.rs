//! Evaluations kept across searches: the proxy's answer for a configuration depends on the
//! model, the cut, the images and the engine, not on the link or the hardware, so a sweep
//! over link rates and devices (and every baseline and seed of a comparison) pays for each
//! configuration once. A JSON-lines file per model and cut; a line that does not parse is
//! an error naming the file, never silently dropped.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use coinfer_sim::{Evaluated, Evaluator, PruneConfig};

use crate::error::{PipelineError, Result};

/// An evaluator behind a persistent cache.
pub struct Cached<E> {
    inner: E,
    entries: HashMap<PruneConfig, Evaluated>,
    path: PathBuf,
    /// Answers served from the cache.
    pub hits: usize,
    /// Answers computed.
    pub misses: usize,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    config: PruneConfig,
    evaluated: Evaluated,
}

impl<E: Evaluator> Cached<E> {
    /// `inner` behind the cache file `path` (created on the first miss).
    pub fn open(path: &Path, inner: E) -> Result<Cached<E>> {
        let entries =
            read_jsonl::<Line>(path)?.into_iter().map(|l| (l.config, l.evaluated)).collect();
        Ok(Cached { inner, entries, path: path.to_path_buf(), hits: 0, misses: 0 })
    }

    /// The wrapped evaluator.
    pub fn into_inner(self) -> E {
        self.inner
    }

    /// Configurations cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn append(&self, config: &PruneConfig, evaluated: Evaluated) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        let line = serde_json::to_string(&Line { config: config.clone(), evaluated })
            .map_err(std::io::Error::other)?;
        writeln!(f, "{line}")
    }
}

impl<E: Evaluator> Evaluator for Cached<E> {
    fn evaluate(&mut self, config: &PruneConfig) -> std::result::Result<Evaluated, String> {
        if let Some(e) = self.entries.get(config) {
            self.hits += 1;
            return Ok(*e);
        }
        let e = self.inner.evaluate(config)?;
        self.misses += 1;
        self.append(config, e)
            .map_err(|err| format!("writing the cache {}: {err}", self.path.display()))?;
        self.entries.insert(config.clone(), e);
        Ok(e)
    }
}

/// Every line of a JSON-lines file (none if the file does not exist); blank lines are
/// skipped, a line that does not parse is an error naming the file and the line.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let text = std::fs::read_to_string(path).map_err(|source| PipelineError::Io {
        what: format!("reading {}", path.display()),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                PipelineError::Invalid(format!("{} line {}: {e}", path.display(), i + 1))
            })
        })
        .collect()
}

/// The cache file for `model` at `cut` scored on `val_images` validation images after
/// re-estimating BatchNorm on `recalibration_images` with `engine`: `dir/<fingerprint>.jsonl`.
pub fn cache_path(
    dir: &Path,
    model: &coinfer_graph::pb::ModelProto,
    cut: Option<&str>,
    val_images: usize,
    recalibration_images: usize,
    engine: &str,
) -> PathBuf {
    use prost::Message;
    // FNV-1a would do as well; the standard hasher is deterministic for a given Rust release,
    // and a changed fingerprint only costs a cache miss.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    model.encode_to_vec().hash(&mut h);
    (cut, val_images, recalibration_images, engine).hash(&mut h);
    crate::automl_proxy::PROXY_CODEC_VERSION.hash(&mut h);
    dir.join(format!(
        "{}-{:016x}.jsonl",
        cut.unwrap_or("device-only").replace(['/', ' '], "_"),
        h.finish()
    ))
}

/// Records every configuration an evaluator was asked for, in order (distinct ones, behind
/// an environment's memo).
pub struct Recorder<E> {
    inner: E,
    /// Every answer, in order.
    pub log: Vec<(PruneConfig, Evaluated)>,
}

impl<E> Recorder<E> {
    /// Records `inner`'s answers.
    pub fn new(inner: E) -> Recorder<E> {
        Recorder { inner, log: vec![] }
    }

    /// The wrapped evaluator.
    pub fn inner(&self) -> &E {
        &self.inner
    }
}

impl<E: Evaluator> Evaluator for Recorder<E> {
    fn evaluate(&mut self, config: &PruneConfig) -> std::result::Result<Evaluated, String> {
        let e = self.inner.evaluate(config)?;
        self.log.push((config.clone(), e));
        Ok(e)
    }
}
