//! Which cheap accuracy signal can an AutoML search trust? For random per-group pruning
//! configurations of a model's head, the accuracy after a full fine-tune against three cheap
//! proxies — (a) evaluated as pruned, (b) after re-estimating BatchNorm statistics on training
//! images (adaptive BN, EagleEye), (c) after K steps of fine-tuning — and each proxy's Spearman
//! rank correlation with the fine-tuned accuracy.

use std::collections::BTreeMap;
use std::time::Instant;

use coinfer_data::{Dataset, DatasetName, Split};
use coinfer_graph::Graph;
use coinfer_prune::{prune_rounded, ChannelGroups, Criterion, Ratios};
use coinfer_train::{FitConfig, OnnxModule};
use rand::{Rng, SeedableRng};

use crate::error::{PipelineError, Result};
use crate::finetune::{accuracy, finetune};
use crate::progress::Progress;

/// What to measure.
#[derive(Debug, Clone)]
pub struct ProxyStudyConfig<'a> {
    /// The trained model.
    pub graph: &'a Graph,
    /// Prune only groups produced at or before this cut (the device head); `None`: all.
    pub until: Option<&'a str>,
    /// Random configurations.
    pub configs: usize,
    /// Seed of the configurations.
    pub seed: u64,
    /// Kept channels rounded to a multiple of this.
    pub multiple_of: usize,
    /// Largest fraction of a group's channels removed (ratios are uniform in `[0, max]`).
    pub max_ratio: f64,
    /// Training images that re-estimate BatchNorm statistics (proxy b).
    pub recalibration_images: usize,
    /// Fine-tuning steps of proxy (c).
    pub short_steps: usize,
    /// The full fine-tune every proxy is compared with.
    pub full: FitConfig,
    /// Validation images every accuracy is measured on.
    pub val_images: usize,
    /// Data set (train split for tuning, validation split for scoring).
    pub data: DatasetName,
    /// Engine that scores.
    pub engine: &'a str,
}

/// One configuration's accuracies (validation split, in `[0, 1]`) and costs (s).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProxyRow {
    /// Configuration number.
    pub index: usize,
    /// Prune ratio per group.
    pub ratios: BTreeMap<String, f64>,
    /// MACs of the pruned model.
    pub macs: u64,
    /// (a) as pruned.
    pub as_pruned: f64,
    /// (b) after BatchNorm re-estimation.
    pub adaptive_bn: f64,
    /// (c) after the short fine-tune.
    pub short_finetune: f64,
    /// The reference: after the full fine-tune.
    pub full_finetune: f64,
    /// Seconds each of (a), (b), (c) and the reference took.
    pub seconds: [f64; 4],
}

/// Every configuration and each proxy's rank correlation with the reference.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProxyStudy {
    /// Configurations measured.
    pub rows: Vec<ProxyRow>,
    /// Spearman ρ of (a), (b), (c) with the fully fine-tuned accuracy.
    pub spearman: [f64; 3],
    /// Mean seconds per configuration of (a), (b), (c) and the reference.
    pub mean_seconds: [f64; 4],
}

impl ProxyStudy {
    /// The study over `rows` (at least 3 for a correlation; NaN below).
    pub fn of(rows: Vec<ProxyRow>) -> ProxyStudy {
        let reference: Vec<f64> = rows.iter().map(|r| r.full_finetune).collect();
        let rho =
            |f: fn(&ProxyRow) -> f64| spearman(&rows.iter().map(f).collect::<Vec<_>>(), &reference);
        let spearman = [rho(|r| r.as_pruned), rho(|r| r.adaptive_bn), rho(|r| r.short_finetune)];
        let n = rows.len().max(1) as f64;
        let mut mean_seconds = [0.0; 4];
        for r in &rows {
            for (m, s) in mean_seconds.iter_mut().zip(r.seconds) {
                *m += s / n;
            }
        }
        ProxyStudy { rows, spearman, mean_seconds }
    }
}

/// Runs the configurations not in `done` (a checkpoint), calling `on_row` after each.
pub fn proxy_study(
    config: &ProxyStudyConfig<'_>,
    done: Vec<ProxyRow>,
    mut on_row: impl FnMut(&ProxyRow) -> Result<()>,
    progress: &mut dyn Progress,
) -> Result<ProxyStudy> {
    if !(0.0..1.0).contains(&config.max_ratio) {
        return Err(PipelineError::Invalid(format!(
            "max_ratio {} must be in [0, 1)",
            config.max_ratio
        )));
    }
    let groups = head_groups(config.graph, config.until)?;
    if groups.is_empty() {
        return Err(PipelineError::Invalid("no prunable group in the pruned region".into()));
    }
    let train = coinfer_data::load(config.data, Split::Train)?;
    let val = coinfer_data::load(config.data, Split::Val)?.take(config.val_images);
    let recalibration = train.clone().take(config.recalibration_images);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    let mut rows = done;
    for index in 0..config.configs {
        // Every configuration is drawn, so a resumed study draws the same ones.
        let ratios: BTreeMap<String, f64> = groups
            .iter()
            .map(|g| (g.clone(), (rng.random::<f64>() * config.max_ratio * 100.0).round() / 100.0))
            .collect();
        if rows.iter().any(|r| r.index == index) {
            continue;
        }
        progress.note(&format!("configuration {index}: {ratios:?}"));
        let row = measure(config, index, ratios, &recalibration, &val, progress)?;
        on_row(&row)?;
        rows.push(row);
    }
    rows.sort_by_key(|r| r.index);
    Ok(ProxyStudy::of(rows))
}

/// The prunable groups whose producers all lie in the pruned region, by name.
fn head_groups(graph: &Graph, until: Option<&str>) -> Result<Vec<String>> {
    let last = crate::prune_sweep::until_node(graph, until)?;
    let prepared = coinfer_prune::prepare_for_pruning(graph)?;
    Ok(ChannelGroups::analyse(&prepared)?
        .groups
        .into_iter()
        .filter(|g| g.is_prunable() && last.is_none_or(|l| g.last_producer <= l))
        .map(|g| g.name)
        .collect())
}

fn measure(
    config: &ProxyStudyConfig<'_>,
    index: usize,
    ratios: BTreeMap<String, f64>,
    recalibration: &Dataset,
    val: &Dataset,
    progress: &mut dyn Progress,
) -> Result<ProxyRow> {
    let plan = Ratios::PerGroup(ratios.clone());
    let pruned = prune_rounded(config.graph, &plan, Criterion::L1, config.multiple_of)?.graph;
    let mut seconds = [0.0; 4];
    let t = Instant::now();
    let as_pruned = accuracy(&pruned.proto, val, config.engine)?;
    seconds[0] = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let module = OnnxModule::new(&pruned)?;
    module.recalibrate_batch_norm(recalibration, 128)?;
    let adaptive_bn = accuracy(&module.to_onnx()?, val, config.engine)?;
    seconds[1] = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let short = FitConfig {
        epochs: 1,
        limit: Some(config.short_steps * config.full.batch_size),
        ..config.full.clone()
    };
    let (tuned, _) = finetune(&pruned, config.data, &short, &format!("#{index} short"), progress)?;
    let short_finetune = accuracy(&tuned, val, config.engine)?;
    seconds[2] = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (tuned, _) =
        finetune(&pruned, config.data, &config.full, &format!("#{index} full"), progress)?;
    let full_finetune = accuracy(&tuned, val, config.engine)?;
    seconds[3] = t.elapsed().as_secs_f64();
    Ok(ProxyRow {
        index,
        ratios,
        macs: pruned.total_macs(),
        as_pruned,
        adaptive_bn,
        short_finetune,
        full_finetune,
        seconds,
    })
}

/// Spearman's rank correlation (average ranks for ties); NaN for fewer than 3 pairs or a
/// constant side. Written here: a few lines, where a statistics crate would be a large
/// dependency for one function.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    if x.len() != y.len() || x.len() < 3 {
        return f64::NAN;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let mean = (n + 1.0) / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mean) * (b - mean);
        sxx += (a - mean).powi(2);
        syy += (b - mean).powi(2);
    }
    sxy / (sxx * syy).sqrt()
}

/// 1-based ranks, ties sharing their average rank.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = average;
        }
        i = j + 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_of_monotone_reversed_and_tied_data() {
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 25.0, 99.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[5.0, 1.0, 5.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        // x = [1, 2, 3, 4, 5], y = [2, 1, 4, 3, 5]: Σd² = 4 → ρ = 1 − 6·4/(5·24) = 0.8.
        let rho = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]);
        assert!((rho - 0.8).abs() < 1e-12, "{rho}");
        assert!(spearman(&[1.0, 2.0], &[1.0, 2.0]).is_nan());
        assert!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
    }
}
