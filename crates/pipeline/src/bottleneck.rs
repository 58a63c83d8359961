//! A deployed learned bottleneck: the folder `coinfer codec bottleneck` writes
//! (`device.onnx` = head + encoder, `edge.onnx` = decoder + tail, `codec.json` = the code's
//! calibrated entropy codec, `bottleneck.json` = what training measured).

use std::path::{Path, PathBuf};

use coinfer_compress::{Codec, Feature, QuantRange, SessionEntropy};
use coinfer_data::{Dataset, DatasetName, Split};
use coinfer_engine::eval::first_output;
use coinfer_engine::{Engine, Runnable};
use coinfer_graph::{compose, save_model, CutPoint, Graph};
use coinfer_train::{train_bottleneck, BottleneckConfig, CutFeatures, EpochLog, FitConfig};

use crate::error::{write_json, PipelineError, Result};
use crate::evaluate::{evaluate, Evaluation, Stages};
use crate::features::sample_features;
use crate::progress::{NoProgress, Progress};

/// How the code travels: its entropy model and frame, agreed out of band in `codec.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodeFrames {
    /// Full frames (shape and model fingerprint in every frame, ~41 bytes of header), one
    /// shared entropy model.
    Full,
    /// Session frames (6 bytes beyond the payload: the shape and model are agreed once),
    /// one shared entropy model.
    Session,
    /// Session frames, one entropy model per code element (channel × position), smoothed
    /// toward the shared one.
    SessionPerElement,
    /// Session frames, one entropy model per code element and symbol of the previous channel
    /// at the same position (codes of at most 4 bits; wider ones fall back to one shared
    /// model).
    #[default]
    SessionContext,
}

/// The code's codec (`bits`, values in [0, 1]) calibrated on `samples` (one per image).
pub fn calibrate_code(bits: u8, frames: CodeFrames, samples: &[Feature]) -> Result<Codec> {
    let range = QuantRange::PerTensor { lo: 0.0, hi: 1.0 };
    let entropy = match frames {
        CodeFrames::Full => None,
        CodeFrames::Session => Some(SessionEntropy::Shared),
        CodeFrames::SessionPerElement => Some(SessionEntropy::PerElement),
        CodeFrames::SessionContext => Some(SessionEntropy::ChannelContext),
    };
    match entropy {
        None => Codec::calibrate_entropy(bits, range, samples),
        Some(entropy) => Codec::calibrate_session(bits, range, samples, entropy),
    }
    .ok_or_else(|| PipelineError::Invalid("calibrating the code's entropy model failed".into()))
}

/// The code features of `data` from the deployed device model (head + encoder).
fn code_samples(device: &dyn Runnable, data: &Dataset) -> Result<Vec<Feature>> {
    let mut out = Vec::with_capacity(data.len());
    for (x, _) in data.batches(500) {
        out.extend(sample_features(&first_output(device.run(&[x])?)?));
    }
    Ok(out)
}

/// What to train and deploy.
#[derive(Debug, Clone)]
pub struct BottleneckJob<'a> {
    /// The model file (recorded in the report).
    pub model: &'a Path,
    /// The model, analysed.
    pub graph: &'a Graph,
    /// The cut (`index` or tensor name).
    pub cut: &'a str,
    /// Encoder/decoder architecture and code width.
    pub config: BottleneckConfig,
    /// Training settings (`limit` caps the training samples).
    pub fit: FitConfig,
    /// Data set: trained on train, calibrated on val, scored on test.
    pub data: DatasetName,
    /// Test images scored.
    pub images: usize,
    /// Engine for features, calibration and scoring.
    pub engine: &'a str,
    /// Folder the deployment is written to.
    pub out: &'a Path,
    /// How the code's frames are coded.
    pub frames: CodeFrames,
}

/// `bottleneck.json`: what training and deployment measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BottleneckReport {
    /// The model file.
    pub model: PathBuf,
    /// The cut it replaces.
    pub cut: CutPoint,
    /// Architecture (its `relu` set from the features' sign).
    pub config: BottleneckConfig,
    /// Training settings.
    pub training: FitConfig,
    /// Epoch log.
    pub history: Vec<EpochLog>,
    /// Test images scored.
    pub test_images: usize,
    /// The unsplit model's accuracy on them.
    pub baseline_accuracy: f64,
    /// The deployed bottleneck's.
    pub accuracy: f64,
    /// `baseline_accuracy − accuracy`.
    pub accuracy_drop: f64,
    /// Mean frame bytes per sample.
    pub bytes_per_sample: f64,
    /// Float32 bytes per sample of the cut feature it replaces.
    pub fp32_feature_bytes: u64,
    /// `fp32_feature_bytes / bytes_per_sample`.
    pub compression_vs_fp32: f64,
    /// The command that made it (set by the front-end).
    pub command: String,
}

/// Head features of `data` (batches of 500), which must be `(N, C, H, W)`.
fn cut_features(head: &dyn Runnable, data: &Dataset) -> Result<CutFeatures> {
    let mut values = Vec::new();
    let mut shape = [0usize; 3];
    for (x, _) in data.batches(500) {
        let f = first_output(head.run(&[x])?)?;
        match f.shape() {
            [_, c, h, w] => shape = [*c, *h, *w],
            other => {
                return Err(PipelineError::Invalid(format!(
                    "the cut feature has shape {other:?}; a bottleneck needs (N, C, H, W)"
                )))
            }
        }
        values.extend(f.iter().copied());
    }
    Ok(CutFeatures { shape, values, labels: data.labels.clone() })
}

/// Trains an encoder/decoder at the cut on the frozen head's features, deploys it
/// (`device.onnx` = head + encoder, `edge.onnx` = decoder + tail, `encoder.onnx`,
/// `decoder.onnx`), calibrates the code's entropy codec on validation images (`codec.json`)
/// and scores the deployment on test images against the unsplit model. Writes everything
/// but `bottleneck.json` (the front-end writes the report). Progress in training steps.
pub fn train_and_deploy(
    job: &BottleneckJob<'_>,
    progress: &mut dyn Progress,
) -> Result<BottleneckReport> {
    let graph = job.graph;
    let cut = graph.find_cut(job.cut)?;
    let part = graph.split(&cut)?;
    let engine = coinfer_engine::engine_for_name(job.engine)?;
    let head = engine.prepare(&part.head)?;
    let train_set = coinfer_data::load(job.data, Split::Train)?;
    let train_set = match job.fit.limit {
        Some(n) => train_set.take(n),
        None => train_set,
    };
    let val = coinfer_data::load(job.data, Split::Val)?;
    let test = coinfer_data::load(job.data, Split::Test)?.take(job.images);
    progress.note(&format!("computing head features of {} samples", train_set.len()));
    let train_f = cut_features(head.as_ref(), &train_set)?;
    let val_f = cut_features(head.as_ref(), &val)?;
    let config =
        BottleneckConfig { relu: train_f.values.iter().all(|&v| v >= 0.0), ..job.config.clone() };
    let tail = Graph::analyse(part.tail.clone())?;
    let steps = train_f.labels.len().div_ceil(job.fit.batch_size.max(1)) * job.fit.epochs;
    progress.start("bottleneck", steps as u64);
    let progress = std::cell::RefCell::new(progress);
    let trained = train_bottleneck(
        &tail,
        &config,
        &job.fit,
        &train_f,
        &val_f,
        |done, _| progress.borrow_mut().set(done as u64),
        |log: &EpochLog| {
            progress.borrow_mut().note(&crate::finetune::epoch_line("bottleneck", log))
        },
    )?;
    let progress = progress.into_inner();
    progress.finish();

    let out = job.out;
    std::fs::create_dir_all(out).map_err(|source| PipelineError::Io {
        what: format!("creating {}", out.display()),
        source,
    })?;
    let device_model = compose(&part.head, &trained.encoder, "encoder.")?;
    let tail_model = trained.tail.as_ref().unwrap_or(&part.tail);
    let edge_model = compose(&trained.decoder, tail_model, "tail.")?;
    save_model(&trained.encoder, &out.join("encoder.onnx"))?;
    save_model(&trained.decoder, &out.join("decoder.onnx"))?;
    save_model(&device_model, &out.join("device.onnx"))?;
    save_model(&edge_model, &out.join("edge.onnx"))?;

    // Entropy model of the code, calibrated on validation images.
    let device = engine.prepare(&device_model)?;
    let codec = calibrate_code(config.bits, job.frames, &code_samples(device.as_ref(), &val)?)?;
    write_json(&out.join("codec.json"), &codec, true)?;

    let full = engine.prepare(&graph.proto)?;
    let baseline =
        evaluate(Stages::DeviceOnly(full.as_ref()), &codec, &test, 500, None, &mut NoProgress)?
            .accuracy;
    let deployed = evaluate_deployed(out, &test, engine.as_ref(), &mut NoProgress)?;
    Ok(BottleneckReport {
        model: job.model.to_path_buf(),
        training: job.fit.clone(),
        config,
        history: trained.history,
        test_images: test.len(),
        baseline_accuracy: baseline,
        accuracy: deployed.accuracy,
        accuracy_drop: baseline - deployed.accuracy,
        bytes_per_sample: deployed.bytes_per_sample,
        fp32_feature_bytes: cut.feature_bytes,
        compression_vs_fp32: cut.feature_bytes as f64 / deployed.bytes_per_sample,
        cut,
        command: String::new(),
    })
}

/// The part of `bottleneck.json` the sweeps read.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BottleneckSummary {
    /// Float32 bytes per sample of the original cut feature the bottleneck replaces.
    pub fp32_feature_bytes: u64,
}

/// `calibration.json`: a trained bottleneck's code re-coded by [`recalibrate`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct CalibrationReport {
    /// The frames and entropy model now in `codec.json`.
    pub frames: CodeFrames,
    /// Bits per code value.
    pub bits: u8,
    /// Images the entropy model was fitted on.
    pub calibration_images: usize,
    /// Test images scored.
    pub test_images: usize,
    /// Accuracy of device → codec → edge on them.
    pub accuracy: f64,
    /// Mean bytes per frame (one image per frame), everything in the frame counted.
    pub bytes_per_sample: f64,
    /// Of which the frame's header and check (bytes).
    pub header_bytes: f64,
    /// Float32 bytes of the cut feature the bottleneck replaces.
    pub fp32_feature_bytes: u64,
    /// `fp32_feature_bytes / bytes_per_sample`.
    pub compression_vs_fp32: f64,
    /// The command that made it (set by the front-end).
    pub command: String,
}

/// Re-fits the entropy model of the trained bottleneck in `dir` on `calibration` images for
/// `frames` (the device model is unchanged), writes it to `dir/codec.json`, and scores the
/// deployment on `test` images. The front-end writes the report.
pub fn recalibrate(
    dir: &Path,
    frames: CodeFrames,
    calibration: &Dataset,
    test: &Dataset,
    engine: &dyn Engine,
    progress: &mut dyn Progress,
) -> Result<CalibrationReport> {
    if !dir.join("bottleneck.json").is_file() {
        return Err(PipelineError::Invalid(format!(
            "{} holds no trained bottleneck (no bottleneck.json); make one with `coinfer codec bottleneck`",
            dir.display()
        )));
    }
    let summary = summary(dir)?;
    let device = engine.prepare(&coinfer_graph::load_model(&dir.join("device.onnx"))?)?;
    let old: Codec = parse(dir, "codec.json")?;
    let bits = match &old {
        Codec::UniformAnsStatic { bits, .. } => *bits,
        other => {
            return Err(PipelineError::Invalid(format!(
                "{}: not a learned code's entropy codec ({other:?})",
                dir.join("codec.json").display()
            )))
        }
    };
    let samples = code_samples(device.as_ref(), calibration)?;
    let code_shape = samples.first().map(|x| x.shape.clone()).unwrap_or_default();
    let codec = calibrate_code(bits, frames, &samples)?;
    write_json(&dir.join("codec.json"), &codec, true)?;
    let scored = evaluate_deployed(dir, test, engine, progress)?;
    let header_bytes = codec.frame_overhead(&code_shape) as f64;
    Ok(CalibrationReport {
        frames,
        bits,
        calibration_images: calibration.len(),
        test_images: test.len(),
        accuracy: scored.accuracy,
        bytes_per_sample: scored.bytes_per_sample,
        header_bytes,
        fp32_feature_bytes: summary.fp32_feature_bytes,
        compression_vs_fp32: summary.fp32_feature_bytes as f64 / scored.bytes_per_sample,
        command: String::new(),
    })
}

fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .map_err(|source| PipelineError::Io { what: format!("reading {}", path.display()), source })
}

fn parse<T: serde::de::DeserializeOwned>(dir: &Path, file: &str) -> Result<T> {
    serde_json::from_str(&read(dir, file)?)
        .map_err(|e| PipelineError::Invalid(format!("{}: {e}", dir.join(file).display())))
}

/// Reads the deployed bottleneck's summary.
pub fn summary(dir: &Path) -> Result<BottleneckSummary> {
    parse(dir, "bottleneck.json")
}

/// Accuracy and frame bytes of the deployed bottleneck in `dir` on `data` (device model →
/// its codec → edge model), on `engine`.
pub fn evaluate_deployed(
    dir: &Path,
    data: &Dataset,
    engine: &dyn Engine,
    progress: &mut dyn Progress,
) -> Result<Evaluation> {
    let device = engine.prepare(&coinfer_graph::load_model(&dir.join("device.onnx"))?)?;
    let edge = engine.prepare(&coinfer_graph::load_model(&dir.join("edge.onnx"))?)?;
    let codec: Codec = parse(dir, "codec.json")?;
    let stages = Stages::Split { head: device.as_ref(), tail: edge.as_ref() };
    evaluate(stages, &codec, data, 250, None, progress)
}
