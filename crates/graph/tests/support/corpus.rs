//! The third-party model corpus (`models/corpus`, written by `scripts/make_corpus.py`): models
//! shaped like other toolchains' exports, each with the input shape to analyse it at. Shared
//! by the graph, engine and prune tests (`#[path]`-included).

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use coinfer_graph::{Graph, InputShapes};

/// One corpus model, as `models/corpus/corpus.json` lists it.
#[derive(Debug, serde::Deserialize)]
pub struct CorpusModel {
    /// File name in `models/corpus`.
    pub file: String,
    /// The shape to analyse it at (`--input-shape`).
    pub input_shape: InputShapes,
    /// Its opset.
    pub opset: i64,
    /// Its node count as written.
    pub nodes: usize,
    /// What it exercises.
    pub what: String,
    /// Where tract runs the file as written differently from ONNX Runtime (coinfer's analysed
    /// copy is rewritten around it).
    #[serde(default)]
    pub tract_deviation: Option<String>,
}

impl CorpusModel {
    /// Path of the model file.
    pub fn path(&self) -> PathBuf {
        corpus_dir().join(&self.file)
    }

    /// The model analysed at its corpus input shape.
    pub fn graph(&self) -> Graph {
        Graph::load_with(&self.path(), &self.input_shape)
            .unwrap_or_else(|e| panic!("{}: {e}", self.file))
    }
}

/// `models/corpus`.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/corpus")
}

/// Every corpus model.
pub fn corpus() -> Vec<CorpusModel> {
    let text = std::fs::read_to_string(corpus_dir().join("corpus.json")).unwrap();
    let models: Vec<CorpusModel> = serde_json::from_str(&text).unwrap();
    assert!(models.len() >= 6, "the corpus lists {} models", models.len());
    models
}
