//! Model versions at several compression scales (seed 001: the cloud trains them): a model
//! pruned to each width and fine-tuned, and the version table the multi-device policies read
//! (each entry deserialises as a `coinfer_sim::ModelVersion`: name, accuracy, layer table).

use std::path::{Path, PathBuf};

use coinfer_data::{DatasetName, Split};
use coinfer_graph::Graph;
use coinfer_prune::{prune, Criterion, Ratios};
use coinfer_train::FitConfig;

use crate::error::{PipelineError, Result};
use crate::finetune::{accuracy, finetune};
use crate::layers::layer_table;
use crate::progress::Progress;

/// What to build.
#[derive(Debug, Clone)]
pub struct VersionsConfig<'a> {
    /// The model file (its stem names the version files).
    pub model: &'a Path,
    /// The model, analysed.
    pub graph: &'a Graph,
    /// Fractions of channels kept, each in `(0, 1]` (1: the model itself).
    pub widths: &'a [f64],
    /// Channel ranking.
    pub criterion: Criterion,
    /// Fine-tuning of each pruned version.
    pub fit: FitConfig,
    /// Data set: fine-tuned on its train split, scored on its whole test split.
    pub data: DatasetName,
    /// Folder the version files are written to.
    pub out: &'a Path,
}

/// Per-cut numbers of one version.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VersionCut {
    /// Cut index (same list as `coinfer cuts`; pruning keeps the cut structure).
    pub index: usize,
    /// Cut tensor.
    pub tensor: String,
    /// Device MACs per sample.
    pub head_macs: u64,
    /// Edge MACs per sample.
    pub tail_macs: u64,
    /// fp32 feature bytes per sample.
    pub feature_bytes: u64,
    /// Head parameter bytes.
    pub head_param_bytes: u64,
}

/// One row of the version table.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VersionEntry {
    /// Name, `width-0.50`.
    pub name: String,
    /// Fraction of channels kept.
    pub width: f64,
    /// ONNX file (relative to the table).
    pub file: String,
    /// Test accuracy (tract, full test set).
    pub accuracy: f64,
    /// Accuracy before fine-tuning (right after pruning).
    pub accuracy_pruned: f64,
    /// Total MACs per sample.
    pub macs: u64,
    /// Parameter bytes.
    pub param_bytes: u64,
    /// Per-cut costs.
    pub cuts: Vec<VersionCut>,
    /// The version as a chain of segments between cuts (the simulator's layer table).
    pub table: coinfer_sim::LayerTable,
}

/// The version table (`versions.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VersionTable {
    /// The model the versions were made from.
    pub model: PathBuf,
    /// What the accuracies were measured on.
    pub data: String,
    /// Channel ranking.
    pub criterion: String,
    /// Fine-tuning of each pruned version.
    pub fine_tuning: FitConfig,
    /// One entry per width, in the order given.
    pub versions: Vec<VersionEntry>,
    /// The command that made it (set by the front-end).
    #[serde(default)]
    pub command: String,
}

/// Builds the versions, writing `<stem>-wNNN.onnx` files into `config.out`; progress as notes.
pub fn build_versions(
    config: &VersionsConfig<'_>,
    progress: &mut dyn Progress,
) -> Result<VersionTable> {
    if let Some(w) = config.widths.iter().find(|w| !(**w > 0.0 && **w <= 1.0)) {
        return Err(PipelineError::Invalid(format!("widths must lie in (0, 1], got {w}")));
    }
    let graph = config.graph;
    let test = coinfer_data::load(config.data, Split::Test)?;
    std::fs::create_dir_all(config.out).map_err(|source| PipelineError::Io {
        what: format!("creating {}", config.out.display()),
        source,
    })?;
    let stem = config.model.file_stem().map_or("model".into(), |s| s.to_string_lossy().to_string());
    let mut entries = Vec::new();
    for &width in config.widths {
        let name = format!("width-{width:.2}");
        let (model, pruned_acc) = if width >= 1.0 {
            (graph.proto.clone(), None)
        } else {
            let ratios = Ratios::Uniform { ratio: 1.0 - width, until: None };
            let pruned = prune(graph, &ratios, config.criterion)?;
            let before = accuracy(&pruned.graph.proto, &test, "tract")?;
            let (model, _) = finetune(&pruned.graph, config.data, &config.fit, &name, progress)?;
            (model, Some(before))
        };
        let file = format!("{stem}-w{:03}.onnx", (width * 100.0).round() as u32);
        coinfer_graph::save_model(&model, &config.out.join(&file))?;
        let g = Graph::analyse(model)?;
        let acc = accuracy(&g.proto, &test, "tract")?;
        let cuts = g
            .cut_points()
            .into_iter()
            .map(|c| VersionCut {
                index: c.index,
                tensor: c.tensor,
                head_macs: c.head_macs,
                tail_macs: c.tail_macs,
                feature_bytes: c.feature_bytes,
                head_param_bytes: c.head_param_bytes,
            })
            .collect();
        progress.note(&format!("{name}: accuracy {:.2} %, wrote {file}", 100.0 * acc));
        entries.push(VersionEntry {
            name,
            width,
            file,
            accuracy: acc,
            accuracy_pruned: pruned_acc.unwrap_or(acc),
            macs: g.total_macs(),
            param_bytes: g.total_param_bytes(),
            cuts,
            table: layer_table(&g),
        });
    }
    Ok(VersionTable {
        model: config.model.to_path_buf(),
        data: format!("{} test ({})", config.data, test.len()),
        criterion: config.criterion.to_string(),
        fine_tuning: config.fit.clone(),
        versions: entries,
        command: String::new(),
    })
}
