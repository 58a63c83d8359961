//! Command-line arguments (clap derive); doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Default model shipped with coinfer.
pub const DEFAULT_MODEL: &str = "models/fmnist-resnet.onnx";

/// coinfer: device-edge co-inference of DNNs (split computing).
///
/// A device runs the first layers of an ONNX model, sends the intermediate feature over a
/// link, and an edge server runs the rest. coinfer finds where a model can be split,
/// cuts it, profiles both halves, chooses the split, and runs it.
#[derive(Debug, Parser)]
#[command(name = "coinfer", version, propagate_version = true)]
pub struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (-v info, -vv debug); logs go to stderr. `RUST_LOG` also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the main job on the bundled model and data: profile, choose the best split for
    /// 1, 10 and 100 Mbit/s, execute it on test images, write report/.
    Demo(DemoArgs),
    /// List the valid cut points of a model (tensors every input→output path crosses).
    Cuts(CutsArgs),
    /// Split a model at a cut into head.onnx and tail.onnx, and verify head∘tail = model.
    Split(SplitArgs),
    /// Compose two models into one, the first's output feeding the second's input (e.g. a
    /// bottleneck's device.onnx and edge.onnx, to prune its code width).
    Compose(ComposeArgs),
    /// Run a model on a NumPy .npy input and write its outputs as .npy.
    Run(RunArgs),
    /// Top-1 accuracy of a model on a data set.
    Eval(EvalArgs),
    /// Per-cut MACs, feature bytes and measured head/tail latency on this host and on
    /// named device/edge profiles.
    Profile(ProfileArgs),
    /// Where to split your own model for your device and link, without labels: every cut
    /// (and device-/edge-only) with lossless and quantised codecs, executed on samples and
    /// kept if its answers agree with the unsplit model's; writes the fastest as a plan
    /// folder `edge serve` / `device run` run as is.
    Plan(PlanArgs),
    /// Train the default model (residual CNN for Fashion-MNIST) with candle and export ONNX.
    Train(TrainArgs),
    /// Online splitting under fading as optimal stopping, and model placement (seed 002):
    /// thresholds per stage, expected cost of every rule (exact and Monte Carlo), K*.
    Stopping(StoppingArgs),
    /// Seed 002 on the real runtime: versions published by an edge one after another, the
    /// device placing K layers of each (downloaded, verified) and splitting online over a
    /// trace-driven fading link; measured costs against their exact expectation.
    Placement(PlacementArgs),
    /// Feature codecs at a cut.
    Codec(CodecArgs),
    /// Structured pruning: remove whole filters / units and write a smaller dense ONNX model.
    /// Channel groups (residual adds, concats, depthwise convs, squeeze-excite) come from the
    /// graph; `--list` shows them and why some cannot be pruned.
    Prune(PruneArgs),
    /// Fine-tune any ONNX model (e.g. a pruned one) in Rust: the graph becomes a trainable candle
    /// module, is trained with AdamW + cosine decay, and is written back as ONNX.
    Finetune(FinetuneArgs),
    /// Model versions at several compression scales (seed 001): the model pruned uniformly to
    /// each width and fine-tuned; writes the ONNX files and a version table (accuracy; per-cut
    /// head/tail MACs and feature bytes; parameter bytes) that policies and the simulator read.
    Versions(VersionsArgs),
    /// AutoML co-inference (seed 000): a DDPG agent picks the split, every head group's
    /// width, the feature's width and its bits; the best of that split, device-only and
    /// edge-only is fine-tuned and written as a plan `edge serve` / `device run` run as is.
    /// `compare`, `sweep`: against every baseline; `proxies`: which accuracy signal to trust.
    Automl(Box<AutomlArgs>),
    /// Multi-device co-inference (seed 001, MCIA): for many devices sharing one edge, each
    /// slot's model version, partition point, edge compute share and bandwidth share. `train`
    /// a PPO agent on a scenario file, `eval` it against the exact optimum and every baseline,
    /// `sweep` the number of devices.
    Mcia(MciaArgs),
    /// The edge server of the real runtime (gRPC `coinfer.v1.Edge`).
    Edge(EdgeArgs),
    /// A device of the real runtime: runs its plan entry against an edge server.
    Device(DeviceArgs),
    /// A link emulator relay: forwards TCP connections to an edge through a link with rate,
    /// delay, jitter, loss (Bernoulli or Gilbert–Elliott) and a time-varying rate.
    Link(LinkArgs),
    /// Benchmarks (ratios measured in the same run).
    Bench(BenchArgs),
    /// List the built-in device and edge hardware profiles.
    Profiles,
}

/// Engine selection shared by several commands.
#[derive(Debug, Args, Clone)]
pub struct EngineArg {
    /// Inference engine: `auto` (ONNX Runtime when its library is found — `ORT_DYLIB_PATH` or
    /// the `onnxruntime` wheel setup installs — else tract; the log says which), `tract` (pure
    /// Rust) or `ort` (ONNX Runtime, an error when its library is missing).
    #[arg(long = "engine", value_name = "NAME", default_value = "auto")]
    requested: String,
    /// `requested` with `auto` resolved, on first use (after logging is set up).
    #[arg(skip)]
    resolved: std::sync::OnceLock<String>,
}

impl EngineArg {
    /// The engine to run: the one named, or what `auto` chose (`ort` or `tract`).
    pub fn name(&self) -> &str {
        self.resolved.get_or_init(|| coinfer_engine::resolve_engine_name(&self.requested))
    }
}

/// Concrete input shapes for models whose inputs have symbolic dims, shared by every command
/// that analyses or runs a model.
#[derive(Debug, Args, Clone, Default)]
pub struct ShapeArg {
    /// Concrete shape of a model input with symbolic dims, `NAME:D0,D1,…` (repeatable; e.g.
    /// `--input-shape x:1,3,48,192`). Needed for every symbolic dim but the batch (dim 0):
    /// costs, feature sizes, cuts and channel groups are computed at this shape. Written heads
    /// and tails keep only the batch dim symbolic.
    #[arg(long = "input-shape", value_name = "NAME:D0,D1,…")]
    pub input_shape: Vec<coinfer_graph::InputShape>,
}

impl ShapeArg {
    /// The shapes by input name (an input named twice is an error).
    pub fn shapes(&self) -> Result<coinfer_graph::InputShapes, coinfer_graph::GraphError> {
        coinfer_graph::InputShapes::from_specs(&self.input_shape)
    }
}

/// `coinfer cuts`.
#[derive(Debug, Args)]
pub struct CutsArgs {
    /// ONNX model file.
    pub model: PathBuf,
    #[command(flatten)]
    pub shape: ShapeArg,
}

/// `coinfer split`.
#[derive(Debug, Args)]
pub struct SplitArgs {
    /// ONNX model file.
    pub model: PathBuf,
    /// Cut point: a tensor name, or an index in the list `coinfer cuts` prints.
    #[arg(long)]
    pub at: String,
    /// Output directory for head.onnx, tail.onnx and split.json.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub shape: ShapeArg,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// `coinfer run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// ONNX model file.
    pub model: PathBuf,
    /// Input: float32 .npy, shape (batch, ...) matching the model's input.
    #[arg(long)]
    pub input: PathBuf,
    /// Output .npy (several outputs: Y.0.npy, Y.1.npy, ...).
    #[arg(long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// `coinfer eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// ONNX model file.
    #[arg(default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// Data set: fashion-mnist, mnist-5k or digits.
    #[arg(long, default_value = "fashion-mnist")]
    pub data: String,
    /// Split: train, val or test.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Evaluate only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    #[command(flatten)]
    pub shape: ShapeArg,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// `coinfer profile`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// ONNX model file.
    #[arg(default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// Device for the head: a profile name (see `coinfer profiles`) or a per-layer table
    /// measured on your device (`layer,seconds` CSV or LayerTimes JSON, one row per segment
    /// between cuts)
    #[arg(long, default_value = "rpi4")]
    pub device: String,
    /// Edge for the tail: a profile name or a per-layer table
    #[arg(long, default_value = "edge-gpu")]
    pub edge: String,
    /// Batch size to time.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Timed runs per measurement (median reported, with p10 and p90).
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
    /// Idle time before each timed run, ms: 0 times back-to-back (hot caches); a few ms times
    /// the periodic-request regime a deployed device is in
    #[arg(long, default_value_t = 0.0)]
    pub idle_gap_ms: f64,
    /// Write profile.json and profile.svg here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub shape: ShapeArg,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// `coinfer plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// ONNX model file.
    pub model: PathBuf,
    /// Device for the head: a profile name (see `coinfer profiles`) or a per-layer table
    /// measured on your device (as `coinfer profile` takes).
    #[arg(long, default_value = "mcu")]
    pub device: String,
    /// Edge for the tail: a profile name or a per-layer table.
    #[arg(long, default_value = "edge-gpu")]
    pub edge: String,
    /// Uplink rate of the device's link, Mbit/s.
    #[arg(long)]
    pub rate_mbps: f64,
    /// Round-trip time of the link, ms.
    #[arg(long, default_value_t = 5.0)]
    pub rtt_ms: f64,
    /// Samples to check agreement on: a float32 .npy of shape (N, ...) at the model's input
    /// shape (the first half calibrates the quantizers, the second half is checked). Without
    /// it, --samples random inputs (uniform in [0, 1)) — agreement on noise, and it says so.
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// Random inputs when no --inputs are given (≥ 2).
    #[arg(long, default_value_t = 64)]
    pub samples: usize,
    /// Lowest share of checked samples whose top-1 answer must equal the unsplit model's.
    #[arg(long, default_value_t = 0.99)]
    pub min_agreement: f64,
    /// The plan folder: the model, plan.json, head.onnx/tail.onnx, report.json
    /// (default: `plan-<model name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub shape: ShapeArg,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// `coinfer train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Output ONNX file (a model card `.md` and `.json` are written beside it).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub out: PathBuf,
    /// Replace an existing model (and its card): the default `--out` is the shipped model
    /// every command and test uses.
    #[arg(long)]
    pub force: bool,
    /// Epochs.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Seed (initialisation, shuffling, augmentation).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Stage widths, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32,48")]
    pub widths: Vec<usize>,
    /// Train on the first N training samples only (quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// `coinfer demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// ONNX model file.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// Device: a profile name (default: a camera/sensor microcontroller; see `coinfer
    /// profiles`) or a per-layer table measured on your device (`layer,seconds` CSV or
    /// LayerTimes JSON)
    #[arg(long, default_value = "mcu")]
    pub device: String,
    /// Edge: a profile name or a per-layer table.
    #[arg(long, default_value = "edge-gpu")]
    pub edge: String,
    /// Uplink rates to plan for, Mbit/s (the shipped AutoML plans are for 0.1, 1 and 10).
    #[arg(long, value_delimiter = ',', default_value = "0.1,1,10,100")]
    pub mbps: Vec<f64>,
    /// Round-trip time of the link, ms.
    #[arg(long, default_value_t = 5.0)]
    pub rtt_ms: f64,
    /// Test images to run the chosen splits on.
    #[arg(long, default_value_t = 2000)]
    pub images: usize,
    /// Test images per link rate on the real runtime (edge server + device over gRPC through
    /// the link emulator); 0 skips the runtime run.
    #[arg(long, default_value_t = 100)]
    pub runtime_images: usize,
    /// Skip the three papers' sections: seed 000's shipped AutoML plans (predicted, compared
    /// with the best baseline, run on the runtime), seed 002's placement and online splitting
    /// on the runtime, seed 001's agent simulated and deployed. Only the bundled model has them.
    #[arg(long)]
    pub no_seeds: bool,
    /// Requests per run in the papers' sections on the real runtime (each AutoML plan, the
    /// placement run's periods, each MCIA device and slot).
    #[arg(long, default_value_t = 30)]
    pub seed_requests: usize,
    /// Report directory: index.html (the whole report), demo.json, the figures as SVG.
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
    #[command(flatten)]
    pub shape: ShapeArg,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// `coinfer stopping`.
#[derive(Debug, Args)]
pub struct StoppingArgs {
    /// TOML configuration (radio, weights, channel, network, device, edge, placement);
    /// see examples/stopping-*.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Use this ONNX model's layer table (segments between its valid cuts) instead of the
    /// config's network.
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub shape: ShapeArg,
    /// Device profile name, overriding the config's device (see `coinfer profiles`).
    #[arg(long)]
    pub device: Option<String>,
    /// Edge profile name, overriding the config's edge.
    #[arg(long)]
    pub edge: Option<String>,
    /// Horizon K (layers placed on the device) at which rules are compared; default: K*.
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Write stopping.json and stopping.svg here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With --model: write the optimal rule as a plan's `online` block (candidate cuts and the
    /// minimum uplink rate per stage), for `coinfer device run`.
    #[arg(long, requires = "model")]
    pub online_rule: Option<PathBuf>,
    /// Correlated channels: compare the Markov rule (backward induction over stage and channel
    /// state) with the i.i.d. rule on Gauss–Markov fading with these correlations per layer
    /// (in [0, 1); the configured channel's mean gain), e.g. `0,0.5,0.9,0.95,0.99`.
    #[arg(long, value_delimiter = ',')]
    pub correlation: Vec<f64>,
    /// Correlated channel fitted to a recorded trace (CSV, values in the last column).
    #[arg(long)]
    pub markov_trace: Option<PathBuf>,
    /// What the trace's values are.
    #[arg(long, value_enum, default_value = "rate-bps")]
    pub trace_values: TraceValues,
    /// Trace samples per layer (stage) when fitting the chain.
    #[arg(long, default_value_t = 1)]
    pub lag: usize,
    /// States of the Markov chains.
    #[arg(long, default_value_t = 64)]
    pub states: usize,
    /// With --model and one correlated channel (--correlation ρ or --markov-trace): write the
    /// Markov rule as a plan's `online` block (a minimum rate per stage; refused when the
    /// rule is not a rate threshold), for `coinfer device run`.
    #[arg(long, requires = "model")]
    pub markov_online_rule: Option<PathBuf>,
}

/// What a trace's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceValues {
    /// Achievable uplink rates (bit/s), converted to gains by the radio's Shannon formula.
    RateBps,
    /// Channel power gains.
    Gain,
}

/// `coinfer automl`: without a subcommand, the search.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AutomlArgs {
    /// What else to do (default: search).
    #[command(subcommand)]
    pub what: Option<AutomlWhat>,
    #[command(flatten)]
    pub search: SearchArgs,
}

/// `coinfer automl [search options]`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// ONNX model file (trained; a model with a learned bottleneck composed in works too).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// Device hardware profile (see `coinfer profiles`).
    #[arg(long, default_value = "mcu")]
    pub device: String,
    /// Edge hardware profile.
    #[arg(long, default_value = "edge-gpu")]
    pub edge: String,
    /// Uplink rate, Mbit/s.
    #[arg(long, default_value_t = 1.0)]
    pub rate_mbps: f64,
    /// Round-trip time of the link, ms.
    #[arg(long, default_value_t = 5.0)]
    pub rtt_ms: f64,
    /// A trained learned bottleneck (`coinfer codec bottleneck --out DIR`): the search runs
    /// on its model, split at the code, and also decides the code's width.
    #[arg(long, conflicts_with_all = ["cut"])]
    pub bottleneck: Option<PathBuf>,
    /// Candidate cuts (index or tensor name; `device` = device-only), repeatable. Default:
    /// the --top-cuts fastest uncompressed splits with a prunable head, plus device-only.
    #[arg(long)]
    pub cut: Vec<String>,
    /// Candidate cuts taken from the uncompressed ranking when no --cut is given.
    #[arg(long, default_value_t = 2)]
    pub top_cuts: usize,
    /// Latency budget (ms, predicted end to end) the action wall keeps.
    #[arg(long, conflicts_with = "budget_mmacs")]
    pub budget_ms: Option<f64>,
    /// Device MAC budget (millions) the action wall keeps.
    #[arg(long)]
    pub budget_mmacs: Option<f64>,
    /// Reward: `latency` (seed 000's aim: the fastest configuration within --max-drop-pt of
    /// the unpruned accuracy; −ln latency in µs, less 100 per unit of accuracy below that
    /// floor), `accuracy` (AMC's budget-constrained reward; needs a budget), `log-latency`
    /// (AMC's −error·ln latency in µs) or `linear` (accuracy − weight · latency / unpruned
    /// latency).
    #[arg(long, default_value = "latency", value_parser = ["latency", "accuracy", "log-latency", "linear"])]
    pub reward: String,
    /// Accuracy drop (points) the `latency` reward allows below the unpruned configuration.
    #[arg(long, default_value_t = 1.0)]
    pub max_drop_pt: f64,
    /// Weight of the latency in the `linear` reward.
    #[arg(long, default_value_t = 0.1)]
    pub latency_weight: f64,
    /// Episodes per candidate cut.
    #[arg(long, default_value_t = 300)]
    pub episodes: usize,
    /// Warm-up episodes of random actions (at most half the episodes).
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    /// Kept channels are multiples of this (or the full width).
    #[arg(long, default_value_t = 8)]
    pub multiple_of: usize,
    /// Smallest fraction of a group kept.
    #[arg(long, default_value_t = 0.25)]
    pub min_keep: f64,
    /// Feature bits the search chooses among.
    #[arg(long, value_delimiter = ',', default_value = "2,3,4,6,8")]
    pub bits: Vec<u8>,
    /// Validation images per evaluation (the adaptive-BN proxy).
    #[arg(long, default_value_t = 1000)]
    pub val_images: usize,
    /// Training images that re-estimate BatchNorm statistics per evaluation.
    #[arg(long, default_value_t = 1024)]
    pub recalibration_images: usize,
    /// Fine-tuning epochs of the winner (0: none).
    #[arg(long, default_value_t = 1)]
    pub finetune_epochs: usize,
    /// Test images the winner is scored on.
    #[arg(long, default_value_t = 10000)]
    pub test_images: usize,
    /// Seed of the agent.
    #[arg(long, default_value_t = 2018)]
    pub seed: u64,
    /// Test images to run the deployed plan on the real runtime (edge server and device over
    /// gRPC through the link emulator at --rate-mbps), measured against the prediction; 0:
    /// skip.
    #[arg(long, default_value_t = 0)]
    pub runtime_images: usize,
    /// Deploy the searched split even when device-only or edge-only (the image ANS coded
    /// losslessly) scores a better reward; by default the better of them is deployed.
    #[arg(long)]
    pub force_split: bool,
    /// Output directory: the deployment (model, halves, codec, plan.json), automl.json and
    /// episodes.jsonl (every episode, written as the search goes) and cache/ (every
    /// evaluation: a rerun, `compare` or `sweep` pays for each configuration once).
    #[arg(long, default_value = "automl-out")]
    pub out: PathBuf,
    /// Evaluation cache folder (default: OUT/cache); share one across runs on the same
    /// model, images and engine (different rates, devices, budgets or rewards).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArg,
    #[command(flatten)]
    pub shape: ShapeArg,
}

/// `coinfer mcia`.
#[derive(Debug, Args)]
pub struct MciaArgs {
    #[command(subcommand)]
    pub what: MciaWhat,
}

/// MCIA subcommands.
#[derive(Debug, Subcommand)]
pub enum MciaWhat {
    /// Train the PPO agent (one actor shared by every device, exact shares, difference
    /// rewards) on a scenario; writes the agent (safetensors + JSON header) and its learning
    /// curve next to it (AGENT-train.json, .csv, .svg).
    Train(MciaTrainArgs),
    /// The agent (if given) against the slot's optimum (exhaustive up to 8 devices, coordinate
    /// descent above), coordinate descent, every baseline and random, on held-out slots:
    /// utility, gap closed, latency, accuracy, deadline misses per task kind, decision time.
    Eval(MciaEvalArgs),
    /// `eval` for several device counts (the scenario's groups rescaled): sweep.json,
    /// sweep.csv and sweep.svg (gap closed, utility per device and decision time vs devices).
    Sweep(MciaSweepArgs),
    /// The agent's plans on the real runtime: an edge server and every device a concurrent
    /// gRPC client behind its own emulated link, for a few slots; measured vs simulated
    /// latency and utility per device (deploy.json, deploy.csv). Device and edge *speeds*
    /// are emulated to the scenario's hardware (answers held until it would have finished)
    /// and each link runs at its bandwidth share's rate; models, codec, sockets, scheduler
    /// and images are real.
    Deploy(MciaDeployArgs),
}

/// How a trained agent searches at decision time, shared by `mcia eval|sweep|deploy` and
/// `bench mcia`; each unset option keeps the agent's own setting.
#[derive(Debug, Args, Clone, Copy)]
pub struct MciaDecisionArgs {
    /// Joint choices the agent solves exactly per decision (default: the agent's own).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Alternatives per device the agent tries after its top-K (default: the agent's own).
    #[arg(long)]
    pub refine: Option<usize>,
    /// Rounds of price-guided refinement at decision time (default: the agent's own): each
    /// device's best response to the allocation's compute and band prices, one exact
    /// allocation per round.
    #[arg(long)]
    pub price_rounds: Option<usize>,
}

impl MciaDecisionArgs {
    /// As the agents' decision settings.
    pub fn settings(&self) -> coinfer_pipeline::mcia::DecisionSettings {
        coinfer_pipeline::mcia::DecisionSettings {
            top_k: self.top_k,
            refine: self.refine,
            price_rounds: self.price_rounds,
        }
    }
}

/// `coinfer mcia deploy`.
#[derive(Debug, Args)]
pub struct MciaDeployArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// The trained agent (from `mcia train`).
    #[arg(long)]
    pub agent: PathBuf,
    /// Devices (the scenario's groups rescaled); default: the scenario's.
    #[arg(long)]
    pub devices: Option<usize>,
    /// Slots, each with the agent's plan for that slot's channel gains.
    #[arg(long, default_value_t = 3)]
    pub slots: usize,
    /// Requests each device sends per slot (after one warm-up).
    #[arg(long, default_value_t = 20)]
    pub requests: usize,
    /// Seed of the channel draws.
    #[arg(long, default_value_t = 12_345)]
    pub seed: u64,
    #[command(flatten)]
    pub decision: MciaDecisionArgs,
    #[command(flatten)]
    pub engine: EngineArg,
    /// Output directory for deploy.json and deploy.csv.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `coinfer mcia train`.
#[derive(Debug, Args)]
pub struct MciaTrainArgs {
    /// Scenario file (TOML or JSON; see experiments/mcia/scenarios).
    pub scenario: PathBuf,
    /// Slots to train for.
    #[arg(long, default_value_t = 25_600)]
    pub slots: usize,
    /// Device counts to train on in turn (the scenario rescaled); default: the scenario's.
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<usize>,
    /// Seed of weights and sampling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Hidden units of actor and critic.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Joint choices solved exactly per decision.
    #[arg(long, default_value_t = 8)]
    pub top_k: usize,
    /// Learn the shares too (hybrid action: Gaussian share logits per device, as MCIA and
    /// MAHPPO do) instead of solving them exactly.
    #[arg(long)]
    pub learned_shares: bool,
    /// Where to write the agent (its header goes next to it, extension .json).
    #[arg(long, default_value = "mcia-out/agent.safetensors")]
    pub agent: PathBuf,
}

/// Evaluation options shared by `mcia eval` and `mcia sweep`.
#[derive(Debug, Args)]
pub struct MciaEvalCommon {
    /// Scenario file.
    pub scenario: PathBuf,
    /// A trained agent (from `mcia train`; repeatable: the second of a kind is reported as
    /// `ppo agent #2`, …); without one, only the solvers and baselines.
    #[arg(long)]
    pub agent: Vec<PathBuf>,
    /// Held-out slots.
    #[arg(long, default_value_t = 1000)]
    pub slots: usize,
    /// Seed of the held-out slots.
    #[arg(long, default_value_t = 12_345)]
    pub seed: u64,
    /// Rounds of coordinate descent.
    #[arg(long, default_value_t = 10)]
    pub cd_rounds: usize,
    #[command(flatten)]
    pub decision: MciaDecisionArgs,
    /// Set a field of the scenario first: `FIELD=VALUE`, the field a dotted path as the file
    /// spells it, array elements by index or `*`, the value a number or a string
    /// (`--set devices.*.channel.rho=0.5`, `--set devices.*.channel.kind=gauss-markov`);
    /// repeatable, all set before the scenario is checked.
    #[arg(long, value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// Output directory for JSON, CSV and SVG.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `coinfer mcia eval`.
#[derive(Debug, Args)]
pub struct MciaEvalArgs {
    #[command(flatten)]
    pub common: MciaEvalCommon,
    /// Devices (the scenario's groups rescaled); default: the scenario's.
    #[arg(long)]
    pub devices: Option<usize>,
}

/// `coinfer mcia sweep`.
#[derive(Debug, Args)]
pub struct MciaSweepArgs {
    #[command(flatten)]
    pub common: MciaEvalCommon,
    /// Device counts.
    #[arg(long, value_delimiter = ',', default_value = "2,4,8,16,32,64")]
    pub devices: Vec<usize>,
    /// Sweep a scenario field instead of the device count (the scenario's own devices):
    /// `FIELD=V1,V2,…`, the field as in `--set` — channel dynamics with
    /// `devices.*.channel.rho=0,0.5,0.9,0.99`, heterogeneity with one group's compute.
    #[arg(long, value_name = "FIELD=V1,V2,…", conflicts_with = "devices")]
    pub vary: Option<String>,
}

/// AutoML subcommands.
#[derive(Debug, Subcommand)]
pub enum AutomlWhat {
    /// Which cheap accuracy signal predicts the fine-tuned accuracy of a pruned head: random
    /// per-group prune ratios, each scored as pruned, after BatchNorm re-estimation (adaptive
    /// BN), after a short fine-tune, and after a full fine-tune; Spearman ρ of each proxy.
    /// Resumable: rows already in OUT/proxies.jsonl are kept (delete it to start over).
    Proxies(Box<ProxiesArgs>),
    /// The agent against every baseline on one search space (one cut or a bottleneck), all
    /// scored by the same proxy, cost model and reward: the exhaustive oracle (small spaces),
    /// DDPG and random search per seed (distinct evaluations to reach the optimum), uniform
    /// pruning + 8-bit codec, the three-step greedy order, Neurosurgeon (fp32), device-only
    /// and edge-only with the best input image codec. Evaluations are cached in OUT/cache.
    Compare(Box<CompareArgs>),
    /// `compare` across link rates and device profiles: a table and SVG of end-to-end latency
    /// and accuracy per method (OUT/sweep.json, OUT/sweep.svg). Evaluations are shared through
    /// the cache, so the sweep costs about one comparison plus the searches.
    Sweep(Box<SweepArgs>),
}

/// `coinfer automl sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub compare: CompareArgs,
    /// Link rates, Mbit/s.
    #[arg(long, value_delimiter = ',', default_value = "0.1,1,10,100")]
    pub rates_mbps: Vec<f64>,
    /// Device profiles (replaces --device).
    #[arg(long, value_delimiter = ',', default_value = "mcu,rpi4")]
    pub devices: Vec<String>,
}

/// `coinfer automl compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub search: SearchArgs,
    /// Seeds of the agent and of random search.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// Largest space the exhaustive oracle enumerates.
    #[arg(long, default_value_t = 2000)]
    pub exhaustive_limit: usize,
}

/// `coinfer automl proxies`.
#[derive(Debug, Args)]
pub struct ProxiesArgs {
    /// ONNX model file (trained).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// Prune only groups up to this cut (index or tensor name): the device head.
    #[arg(long)]
    pub until: Option<String>,
    /// Random configurations.
    #[arg(long, default_value_t = 20)]
    pub configs: usize,
    /// Seed of the configurations.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Kept channels rounded to a multiple of this.
    #[arg(long, default_value_t = 1)]
    pub multiple_of: usize,
    /// Largest fraction of a group removed (ratios uniform in [0, max]).
    #[arg(long, default_value_t = 0.75)]
    pub max_ratio: f64,
    /// Training images that re-estimate BatchNorm statistics.
    #[arg(long, default_value_t = 1024)]
    pub recalibration_images: usize,
    /// Steps of the short fine-tune (batch 128).
    #[arg(long, default_value_t = 50)]
    pub short_steps: usize,
    /// Epochs of the full fine-tune (the reference).
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Training images per epoch of the full fine-tune (default: all).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Validation images each accuracy is measured on.
    #[arg(long, default_value_t = 2000)]
    pub val_images: usize,
    /// Output directory (proxies.jsonl checkpoint, proxies.json).
    #[arg(long, default_value = "experiments/automl")]
    pub out: PathBuf,
    #[command(flatten)]
    pub engine: EngineArg,
    #[command(flatten)]
    pub shape: ShapeArg,
}

/// `coinfer codec`.
#[derive(Debug, Args)]
pub struct CodecArgs {
    /// What to do.
    #[command(subcommand)]
    pub what: CodecWhat,
}

/// Codec subcommands.
#[derive(Debug, Subcommand)]
pub enum CodecWhat {
    /// Accuracy vs bytes per sample of every codec and setting at a cut (real test images,
    /// one frame per image; quantizer ranges calibrated on validation images). CSV + SVG.
    Sweep {
        /// ONNX model file.
        #[arg(default_value = DEFAULT_MODEL)]
        model: PathBuf,
        /// Cut point (tensor name or index; see `coinfer cuts`).
        #[arg(long)]
        cut: String,
        /// Test images to evaluate.
        #[arg(long, default_value_t = 2000)]
        images: usize,
        /// Validation images to calibrate quantizer ranges on.
        #[arg(long, default_value_t = 500)]
        calibration: usize,
        /// Write sweep.csv, sweep.json and sweep.svg here.
        #[arg(long, default_value = "report")]
        out: PathBuf,
        /// Also evaluate learned bottlenecks trained by `coinfer codec bottleneck` (their
        /// output directories; any cut).
        #[arg(long)]
        bottleneck: Vec<PathBuf>,
        /// Skip the input-compression baselines (PNG / JPEG of the image, offloaded whole).
        #[arg(long)]
        no_input_baseline: bool,
        #[command(flatten)]
        shape: ShapeArg,
        #[command(flatten)]
        engine: EngineArg,
    },
    /// Train a learned bottleneck (BottleNet++) at a cut with the backbone frozen: encoder
    /// Conv(C→C′)+Sigmoid appended to the head, the code quantized to `bits` and entropy coded
    /// with a model calibrated on validation images, decoder Conv(C′→C)(+ReLU) prepended to the
    /// tail. Writes encoder/decoder/device/edge ONNX, the codec (JSON) and a report.
    Bottleneck(BottleneckArgs),
    /// Re-fit a trained bottleneck's entropy model and frames (`codec.json`; the models are
    /// unchanged) on validation images and score it on test images: writes `codec.json` and
    /// `calibration.json` in the bottleneck's folder.
    Calibrate(CalibrateArgs),
}

/// Frame choices of a learned code (`--frames`).
pub const FRAME_CHOICES: [&str; 4] = ["session-context", "session-per-element", "session", "full"];

/// `coinfer codec calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Folder written by `coinfer codec bottleneck`.
    pub dir: PathBuf,
    /// How frames travel: `session-context` (shape and model agreed once per session, 6
    /// bytes per frame beyond the payload; one entropy model per code element and symbol of
    /// the previous channel there), `session-per-element` (one model per element), `session`
    /// (one shared model), `full` (self-describing header in every frame, ~41 bytes).
    #[arg(long, default_value = "session-context", value_parser = FRAME_CHOICES)]
    pub frames: String,
    /// Training images the entropy model is fitted on (the test images score it).
    #[arg(long, default_value_t = 20_000)]
    pub calibration: usize,
    /// Test images scored.
    #[arg(long, default_value_t = 10_000)]
    pub images: usize,
}

/// `coinfer codec bottleneck`.
#[derive(Debug, Args)]
pub struct BottleneckArgs {
    /// ONNX model file.
    #[arg(default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// Cut point (tensor name or index; see `coinfer cuts`); its feature must be (N, C, H, W).
    #[arg(long)]
    pub cut: String,
    /// Code channels C′ (the compression knob).
    #[arg(long, default_value_t = 2)]
    pub channels: usize,
    /// Bits per code value (1–8).
    #[arg(long, default_value_t = 3)]
    pub bits: u8,
    /// Kernel size of encoder and decoder convs (odd).
    #[arg(long, default_value_t = 3)]
    pub kernel: usize,
    /// Convs in the decoder: 1, or 2 (an extra Conv(C→C) on the edge side).
    #[arg(long, default_value_t = 1)]
    pub decoder_layers: usize,
    /// Retrain the tail with the decoder (the edge model changes, the device head does not);
    /// without it the whole backbone stays frozen.
    #[arg(long)]
    pub train_tail: bool,
    /// Test images to evaluate on.
    #[arg(long, default_value_t = 10_000)]
    pub images: usize,
    /// How the code's frames travel (see `coinfer codec calibrate --help`).
    #[arg(long, default_value = "session-context", value_parser = FRAME_CHOICES)]
    pub frames: String,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub shape: ShapeArg,
    #[command(flatten)]
    pub fit: FitArgs,
}

/// `coinfer bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to benchmark.
    #[command(subcommand)]
    pub what: BenchWhat,
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// img/s of the full model vs head+tail, per engine, batch 1 and 64.
    Engine {
        /// Models to run (default: the default model and the ResNet-18 test export).
        models: Vec<PathBuf>,
        /// Engines to compare (default: every engine in this build).
        #[arg(long, value_delimiter = ',')]
        engines: Vec<String>,
        /// Batch sizes.
        #[arg(long, value_delimiter = ',', default_value = "1,64")]
        batches: Vec<usize>,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
    },
    /// Optimal stopping: backward induction (50 stages × 1,000 channel states), one OSLA
    /// decision, Monte Carlo inferences per second.
    Stopping,
    /// Feature codec speed: quantize + entropy code + decode, MB/s of fp32 features on one
    /// core, per codec, against raw fp32 framing.
    Codec,
    /// Edge serving: overhead over the tail's own compute (p50, one device), throughput with
    /// many devices against the raw tail throughput of the same engine and threads, idle
    /// connections held.
    Edge(BenchEdgeArgs),
    /// What TLS and per-device credentials cost: request latency against a plaintext, a
    /// TLS + token and a mutual-TLS edge side by side (interleaved), new-connection time, and
    /// idle TLS connections held by an edge process with its resident memory and idle CPU.
    Tls {
        /// Requests per edge in the latency run.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Idle TLS connections to hold (0 = skip).
        #[arg(long, default_value_t = 10_000)]
        idle: usize,
        /// Cut whose tail is served (default model).
        #[arg(long, default_value_t = 0)]
        cut: usize,
        /// The three edges' threading and latency settings.
        #[command(flatten)]
        serving: ServingArgs,
    },
    /// Multi-device simulator throughput (device-steps per second, one core).
    Sim {
        /// Devices sharing the edge.
        #[arg(long, default_value_t = 64)]
        devices: usize,
    },
    /// Seed 001's decision time per slot on one core: the agent (policy, top-K, refinement,
    /// exact shares), the exact allocation alone, greedy and coordinate descent, on the same
    /// slots, with the ratio of each to the agent.
    Mcia {
        /// Scenario file.
        scenario: PathBuf,
        /// A trained agent.
        #[arg(long)]
        agent: PathBuf,
        /// Devices (the scenario rescaled).
        #[arg(long, default_value_t = 64)]
        devices: usize,
        /// Slots timed (coordinate descent: at most 3 of them).
        #[arg(long, default_value_t = 50)]
        slots: usize,
        #[command(flatten)]
        decision: MciaDecisionArgs,
    },
}

/// `coinfer prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// ONNX model file.
    #[arg(default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// The same prune ratio for every prunable group: the fraction of channels removed, in
    /// [0, 1) (0.5 keeps half the filters, about a quarter of the MACs of inner convs).
    #[arg(long, conflicts_with = "ratios")]
    pub uniform: Option<f64>,
    /// Per-group prune ratios: a TOML or JSON file mapping group names (or the name of any
    /// layer producing the group) to ratios, e.g. `"stem.conv" = 0.5`.
    #[arg(long)]
    pub ratios: Option<PathBuf>,
    /// With --uniform: prune only the groups produced at or before this cut (index or tensor
    /// name, see `coinfer cuts`), i.e. the device head.
    #[arg(long)]
    pub until: Option<String>,
    /// Channel ranking: `l1` (filter L1 norm) or `bn-scale` (|γ| of the BatchNorms).
    #[arg(long, default_value = "l1")]
    pub criterion: coinfer_prune::Criterion,
    /// Where to write the pruned model (ONNX).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// List the channel groups and exit.
    #[arg(long)]
    pub list: bool,
    /// Sweep uniform ratios instead (e.g. `0,0.1,0.2,0.3,0.5`): per ratio, MACs, measured head
    /// latency and test accuracy (after `--epochs` of fine-tuning if > 0); writes
    /// prune-sweep.csv, .json and .svg into `--report`.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["uniform", "ratios"])]
    pub sweep: Vec<f64>,
    /// Directory of the sweep's report.
    #[arg(long, default_value = "report")]
    pub report: std::path::PathBuf,
    /// Test images the sweep evaluates (all 10,000 by default).
    #[arg(long, default_value_t = 10_000)]
    pub images: usize,
    /// Fine-tuning epochs of each swept model (0 = accuracy right after pruning).
    #[arg(long, default_value_t = 0)]
    pub epochs: usize,
    /// Peak learning rate of that fine-tuning.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Round every kept channel count to a multiple of N (SIMD kernels pad channel counts to
    /// their tile width, so e.g. 22 of 32 channels saves MACs but little time; 8 suits AVX2).
    #[arg(long, default_value_t = 1)]
    pub multiple_of: usize,
    /// Batch size of the latency measurement (1 = one image at a time, as on a device).
    #[arg(long, default_value_t = 1)]
    pub latency_batch: usize,
    #[command(flatten)]
    pub shape: ShapeArg,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// Optimisation options shared by fine-tuning commands.
#[derive(Debug, Args, Clone)]
pub struct FitArgs {
    /// Fine-tuning epochs.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Peak learning rate (cosine decay to 0).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Train on the first N training samples only (quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Seed of shuffling and augmentation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl FitArgs {
    /// As the trainer's configuration.
    pub fn config(&self) -> coinfer_train::FitConfig {
        coinfer_train::FitConfig {
            epochs: self.epochs,
            batch_size: self.batch,
            lr: self.lr,
            limit: self.limit,
            seed: self.seed,
            ..Default::default()
        }
    }
}

/// `coinfer finetune`.
#[derive(Debug, Args)]
pub struct FinetuneArgs {
    /// ONNX model file (its input must match the data set's images).
    pub model: PathBuf,
    /// Data set: fashion-mnist, mnist-5k or digits.
    #[arg(long, default_value = "fashion-mnist")]
    pub data: coinfer_data::DatasetName,
    /// Output ONNX file (a `.finetune.json` log is written beside it).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub shape: ShapeArg,
    #[command(flatten)]
    pub fit: FitArgs,
}

/// `coinfer versions`.
#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// The full-width model.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// Channel widths to make (fraction of channels kept per group; 1 = the model as is).
    #[arg(long, value_delimiter = ',', default_value = "1,0.75,0.5,0.25")]
    pub widths: Vec<f64>,
    /// Output directory (ONNX files, versions.json, versions.csv).
    #[arg(long, default_value = "models/versions")]
    pub out: PathBuf,
    /// Replace an existing version table (the default `--out` holds the shipped versions
    /// seed 001's scenarios read).
    #[arg(long)]
    pub force: bool,
    /// Channel ranking for pruning: l1 or bn-scale.
    #[arg(long, default_value = "l1")]
    pub criterion: coinfer_prune::Criterion,
    #[command(flatten)]
    pub shape: ShapeArg,
    #[command(flatten)]
    pub fit: FitArgs,
}

/// `coinfer compose`.
#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// First model (one output).
    pub first: PathBuf,
    /// Second model (one run-time input, fed by the first's output).
    pub second: PathBuf,
    /// Output ONNX file.
    #[arg(long)]
    pub out: PathBuf,
}

/// `coinfer edge`.
#[derive(Debug, Args)]
pub struct EdgeArgs {
    /// What to do.
    #[command(subcommand)]
    pub what: EdgeWhat,
}

/// Edge subcommands.
#[derive(Debug, Subcommand)]
pub enum EdgeWhat {
    /// Serve tails of the models in a directory to devices: batching, fair compute shares,
    /// bandwidth shares, token auth, limits, `/health` and Prometheus `/metrics`.
    Serve(Box<EdgeServeArgs>),
    /// Ask a running edge for its health.
    Health {
        /// Edge URL.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        edge: String,
        #[command(flatten)]
        tls: ClientTlsArgs,
    },
    /// Send a plan's compute and bandwidth shares to a running edge (a policy's decision).
    Shares {
        /// Edge URL.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        edge: String,
        /// Plan JSON.
        #[arg(long)]
        plan: PathBuf,
        /// Bearer token (also `COINFER_TOKEN`): an operator's, when the edge has credentials.
        #[arg(long, env = "COINFER_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[command(flatten)]
        tls: ClientTlsArgs,
    },
    /// Manage the edge's credentials file: per-device and operator bearer tokens or client
    /// certificates, stored hashed. A running edge re-reads the file within a second.
    Credentials(CredentialsArgs),
    /// Create a certificate authority with the edge's server certificate and devices' client
    /// certificates (ECDSA P-256), for testbeds and small fleets; optionally bind each device
    /// certificate to its id in a credentials file.
    TlsInit(TlsInitArgs),
}

/// `coinfer edge credentials`.
#[derive(Debug, Args)]
pub struct CredentialsArgs {
    /// The credentials file (TOML; created by the first `add`).
    #[arg(long, default_value = "credentials.toml")]
    pub file: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub what: CredentialsWhat,
}

/// `coinfer edge credentials` subcommands.
#[derive(Debug, Subcommand)]
pub enum CredentialsWhat {
    /// Add a credential and print its new bearer token (shown once; only its SHA-256 is
    /// kept), or bind a client certificate with --cert.
    Add {
        /// Device id (or the operator's name with --operator).
        #[arg(long)]
        id: String,
        /// An operator: may also set shares and send as any device.
        #[arg(long)]
        operator: bool,
        /// Bind this client certificate (PEM) instead of making a token.
        #[arg(long)]
        cert: Option<PathBuf>,
    },
    /// Revoke a credential (kept in the file, marked revoked).
    Revoke {
        /// Its id.
        #[arg(long)]
        id: String,
    },
    /// List the credentials (ids, roles, kinds, revoked; no secrets).
    List,
}

/// `coinfer edge tls-init`.
#[derive(Debug, Args)]
pub struct TlsInitArgs {
    /// Directory for ca.pem, ca-key.pem, edge.pem, edge-key.pem and `<device>.pem` /
    /// `<device>-key.pem` (an existing CA there issues the new certificates).
    #[arg(long, default_value = "pki")]
    pub dir: PathBuf,
    /// Host names and IP addresses the edge's certificate is valid for.
    #[arg(long, value_delimiter = ',', default_value = "localhost,127.0.0.1")]
    pub host: Vec<String>,
    /// Devices to issue client certificates for.
    #[arg(long, value_delimiter = ',')]
    pub device: Vec<String>,
    /// Days the edge's and devices' certificates are valid.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Bind each device certificate to its id in this credentials file.
    #[arg(long)]
    pub credentials: Option<PathBuf>,
}

/// A device's or operator's TLS settings towards the edge (`https://` URLs).
#[derive(Debug, Clone, Default, Args)]
pub struct ClientTlsArgs {
    /// CA certificate (PEM) that signed the edge's certificate (default: the system's roots).
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, with --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Name to check the edge's certificate against (default: the URL's host).
    #[arg(long)]
    pub tls_domain: Option<String>,
}

impl ClientTlsArgs {
    /// The runtime's settings, when any flag is given or the URL is `https://`.
    pub fn for_url(&self, url: &str) -> Option<coinfer_runtime::tls::ClientTls> {
        let given = self.tls_ca.is_some() || self.tls_cert.is_some() || self.tls_domain.is_some();
        (given || url.starts_with("https://")).then(|| coinfer_runtime::tls::ClientTls {
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            domain: self.tls_domain.clone(),
        })
    }
}

/// `coinfer edge serve`.
#[derive(Debug, Args)]
pub struct EdgeServeArgs {
    /// gRPC address to listen on.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: std::net::SocketAddr,
    /// Model directory: `<model>.onnx`, versions as `<model>/<version>.onnx`.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Settings file (TOML): token, credentials, `[tls]`, workers, max_batch,
    /// max_queue_delay_ms, max_frame_bytes, max_elements, max_in_flight_per_device,
    /// max_connections, max_queued_bytes, default_deadline_ms, io_threads, pin_workers,
    /// busy_poll_us, `[[shares]]`, `[input_shapes.MODEL]` (docs/runtime.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Apply this plan's compute and bandwidth shares at start.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// HTTP address for `/health` and `/metrics` (Prometheus).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub metrics: std::net::SocketAddr,
    /// One bearer token all devices share (also `COINFER_TOKEN`; overrides the config's):
    /// any holder may act as any device. For loopback experiments; see --credentials.
    #[arg(long, env = "COINFER_TOKEN", hide_env_values = true, conflicts_with = "credentials")]
    pub token: Option<String>,
    /// Per-device and operator credentials file (`coinfer edge credentials`, `edge
    /// tls-init`): a device may only send as itself, only operators set shares; re-read when
    /// it changes.
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// TLS certificate chain (PEM) for the gRPC and HTTP ports; with --tls-key. Without it the
    /// edge speaks plaintext (and says so).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) whose client certificates are accepted: mutual TLS, certificate required.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// With --tls-client-ca: let clients without a certificate in (to identify by token).
    #[arg(long, requires = "tls_client_ca")]
    pub tls_client_cert_optional: bool,
    /// Most connections open at once; more are closed at once (default: the descriptor
    /// limit less 64).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Worker threads running tails (overrides the config).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Largest tail batch (overrides the config).
    #[arg(long)]
    pub max_batch: Option<usize>,
    /// Max time a request waits for its batch to fill, ms (overrides the config).
    #[arg(long)]
    pub max_queue_delay_ms: Option<f64>,
    /// Publish these versions, `MODEL/VERSION` (the file `<models>/MODEL/VERSION.onnx`), one
    /// after another as model updates: devices with `coinfer device run --place` place each.
    /// Without it, every version on disk counts as published.
    #[arg(long, value_delimiter = ',')]
    pub publish: Vec<String>,
    /// Seconds between publications of --publish.
    #[arg(long, default_value_t = 30.0)]
    pub publish_every_s: f64,
    #[command(flatten)]
    pub serving: ServingArgs,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// `coinfer bench edge`.
#[derive(Debug, Clone, Copy, Args)]
pub struct BenchEdgeArgs {
    /// Concurrent devices for the throughput run.
    #[arg(long, default_value_t = 64)]
    pub devices: usize,
    /// Requests for the overhead run.
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
    /// Seconds of the throughput runs.
    #[arg(long, default_value_t = 4.0)]
    pub seconds: f64,
    /// Idle device connections to open and hold.
    #[arg(long, default_value_t = 1000)]
    pub idle: usize,
    /// Cut whose tail is served (default model).
    #[arg(long, default_value_t = 0)]
    pub cut: usize,
    /// Edge worker threads running tails; the raw baseline uses as many threads.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Largest tail batch at the edge (the raw baseline is timed at batch 1 and at this).
    #[arg(long, default_value_t = 32)]
    pub max_batch: usize,
    #[command(flatten)]
    pub serving: ServingArgs,
}

/// Edge threading and latency settings (each overrides the config file's).
#[derive(Debug, Clone, Copy, Args)]
pub struct ServingArgs {
    /// Threads serving gRPC/HTTP (1 = single-threaded runtime, lowest overhead per request).
    #[arg(long)]
    pub io_threads: Option<usize>,
    /// Pin each tail worker to a core of its own; I/O threads keep to the other cores.
    #[arg(long)]
    pub pin_workers: bool,
    /// Keep idle cores polling for this many µs after each request (0 = off): saves the
    /// wake-up of halted cores (tens of µs on VMs) at the cost of idle CPU cycles.
    #[arg(long, value_name = "US")]
    pub busy_poll_us: Option<u64>,
}

impl ServingArgs {
    /// Applies the flags given to `config`.
    pub fn apply(&self, config: &mut coinfer_runtime::server::EdgeConfig) {
        if let Some(n) = self.io_threads {
            config.io_threads = n;
        }
        config.pin_workers |= self.pin_workers;
        if let Some(us) = self.busy_poll_us {
            config.busy_poll_us = us;
        }
    }
}

/// `coinfer device`.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// What to do.
    #[command(subcommand)]
    pub what: DeviceWhat,
}

/// Device subcommands.
#[derive(Debug, Subcommand)]
pub enum DeviceWhat {
    /// Run test images through the plan: head on this device, tail on the edge, fallback to
    /// the local model when the edge fails; per-request timings to CSV/JSON.
    Run(Box<DeviceRunArgs>),
}

/// `coinfer device run`.
#[derive(Debug, Args)]
pub struct DeviceRunArgs {
    /// Edge URL, or several (comma-separated) in order of preference: a request goes to the
    /// first edge up and fails over to the next before finishing on the device; a failed edge
    /// is retried after --retry-after-ms. Omit to run everything locally.
    #[arg(long, value_delimiter = ',')]
    pub edge: Vec<String>,
    /// Plan JSON (see docs/runtime.md); the device's entry is chosen with --device.
    #[arg(long)]
    pub plan: PathBuf,
    /// Device id in the plan (default: the first entry).
    #[arg(long)]
    pub device: Option<String>,
    /// Data set: fashion-mnist, mnist-5k or digits.
    #[arg(long, default_value = "fashion-mnist")]
    pub data: coinfer_data::DatasetName,
    /// Inputs instead of --data: a float32 .npy of shape (N, ...) at the model's input shape
    /// (e.g. the samples given to `coinfer plan`); no labels, so no accuracy.
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// Requests (test images or --inputs rows, in order, wrapping around).
    #[arg(long, default_value_t = 100)]
    pub n: usize,
    /// Start at this test image.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Pause between requests, ms.
    #[arg(long, default_value_t = 0.0)]
    pub interval_ms: f64,
    /// Model directory on the device.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Bearer token (also `COINFER_TOKEN`).
    #[arg(long, env = "COINFER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// After an edge failure, finish locally without asking the edge for this long, ms.
    #[arg(long, default_value_t = 500)]
    pub retry_after_ms: u64,
    /// Health-check every edge this often, ms (0 = off): an edge failing its check is skipped
    /// before a request runs into it, and one that passes again after a failure is used at
    /// once rather than after --retry-after-ms.
    #[arg(long, default_value_t = 1000)]
    pub health_check_ms: u64,
    /// Exit 0 even when requests meant for the edge all finished on the device (an edge
    /// expected to be down); without it such a run fails (exit 1) with the first edge error.
    #[arg(long)]
    pub allow_fallback: bool,
    /// Per-request records (CSV).
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// Place models as the edge publishes them (seed 002): a `coinfer stopping` TOML (radio,
    /// weights, channel, device, edge, placement, transport). The device starts with nothing,
    /// asks the edge for the plan's model's versions every --poll-ms, and for each new one
    /// chooses the layers K to download (enumeration of Ω(K) + Q·J(K)), downloads and verifies
    /// the head while it keeps serving, then splits online over it with the optimal rule.
    #[arg(long)]
    pub place: Option<PathBuf>,
    /// How often to ask the edge for new versions with --place, ms.
    #[arg(long, default_value_t = 1000)]
    pub poll_ms: u64,
    /// With --place: hold each layer to the configured device's time (testbed).
    #[arg(long, requires = "place")]
    pub emulate_device: bool,
    /// Emulated uplink between this device and the edge (in-process relay).
    #[command(flatten)]
    pub link: LinkOpts,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// `coinfer placement`.
#[derive(Debug, Args)]
pub struct PlacementArgs {
    /// TOML configuration as for `coinfer stopping` (radio, weights, channel: its mean gain,
    /// device, placement: Q, download rate, receive power; transport: its RTT). Its network
    /// and edge are not used: the layers come from each version, the edge is this host.
    #[arg(long)]
    pub config: PathBuf,
    /// ONNX files published one per update period, in this order (version = file name).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "models/versions/fmnist-resnet-w050.onnx,models/versions/fmnist-resnet-w100.onnx,models/versions/fmnist-resnet-w025.onnx,models/versions/fmnist-resnet-w075.onnx"
    )]
    pub versions: Vec<PathBuf>,
    /// Placement strategies: optimal (K*), full, none, fixed:K.
    #[arg(long, value_delimiter = ',', default_value = "optimal,full,none,fixed:6")]
    pub strategies: Vec<coinfer_pipeline::placement_run::Strategy>,
    /// Inferences measured per period and per rule (a multiple of --states visits every
    /// channel state equally often).
    #[arg(long, default_value_t = 32)]
    pub requests: usize,
    /// Channel states: equiprobable Rayleigh states around the configured mean gain.
    #[arg(long, default_value_t = 8)]
    pub states: usize,
    /// One inference per slot, each slot one channel state, ms (longer than any inference).
    #[arg(long, default_value_t = 60.0)]
    pub slot_ms: f64,
    /// Skip the comparison of stopping rules on the first version.
    #[arg(long)]
    pub no_rules: bool,
    /// Seed of the order of channel states.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write placement.json, periods.csv, rules.csv and placement.svg here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// Link emulation options (shared by `coinfer link` and `coinfer device run`).
#[derive(Debug, Args, Clone)]
pub struct LinkOpts {
    /// Uplink rate, Mbit/s (0 = unlimited). With none of the link options, no emulation.
    #[arg(long)]
    pub rate_mbps: Option<f64>,
    /// Downlink rate, Mbit/s (default: the uplink rate).
    #[arg(long)]
    pub down_mbps: Option<f64>,
    /// One-way delay, ms (RTT = 2×).
    #[arg(long, default_value_t = 0.0)]
    pub delay_ms: f64,
    /// Jitter: uniform extra delay in [0, J] ms per packet (order kept).
    #[arg(long, default_value_t = 0.0)]
    pub jitter_ms: f64,
    /// Bernoulli packet loss probability (lost packets are resent after --rto-ms).
    #[arg(long)]
    pub loss: Option<f64>,
    /// Gilbert–Elliott loss: `p_gb,p_bg,loss_good,loss_bad` (e.g. `0.01,0.2,0,0.5`: good → bad
    /// with 1 % per packet, back with 20 %, no loss when good, half lost when bad).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "P_GB,P_BG,LOSS_GOOD,LOSS_BAD",
        conflicts_with = "loss"
    )]
    pub gilbert_elliott: Option<Vec<f64>>,
    /// Retransmission timeout per lost packet, ms.
    #[arg(long, default_value_t = 200.0)]
    pub rto_ms: f64,
    /// Time-varying uplink rate from a CSV trace (last column: bit/s), one row per --step-ms.
    #[arg(long, conflicts_with = "fading_mbps")]
    pub trace: Option<PathBuf>,
    /// Time-varying uplink rate from Rayleigh fading (Gauss–Markov, see --rho) with this
    /// mean rate, Mbit/s.
    #[arg(long)]
    pub fading_mbps: Option<f64>,
    /// Correlation of the fading between steps.
    #[arg(long, default_value_t = 0.9)]
    pub rho: f64,
    /// Step of --trace / --fading-mbps, ms.
    #[arg(long, default_value_t = 100.0)]
    pub step_ms: f64,
    /// Seed of the loss, jitter and fading draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `coinfer link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Address devices connect to.
    #[arg(long, default_value = "127.0.0.1:50052")]
    pub listen: std::net::SocketAddr,
    /// Edge address to forward to.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub to: std::net::SocketAddr,
    #[command(flatten)]
    pub link: LinkOpts,
}
