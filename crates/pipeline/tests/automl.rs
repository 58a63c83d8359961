//! Seed 000's search on real models: the space's costs add up to the graph's, third-party
//! models give spaces, a short search writes a deployment whose plan validates and whose
//! pruned model runs, evaluations are cached, and bad input is refused before any search.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "../../graph/tests/support/corpus.rs"]
mod corpus;

use std::path::{Path, PathBuf};

use coinfer_data::DatasetName;
use coinfer_graph::Graph;
use coinfer_pipeline::automl::{
    automl_search, bottleneck_model, finish, space_at, AutomlJob, Candidates, DdpgConfig, Deployed,
};
use coinfer_pipeline::automl_space::{prune_space, SpaceOptions};
use coinfer_pipeline::{NoProgress, PipelineError};
use coinfer_sim::{Budget, Compute, DecisionKind, Link, Reward, Side};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model() -> Graph {
    Graph::load(&root().join("models/fmnist-resnet.onnx")).unwrap()
}

fn options() -> SpaceOptions {
    SpaceOptions { multiple_of: 8, min_keep: 0.25, bits: vec![2, 4, 8], header_bytes: 20.0 }
}

fn job<'a>(graph: &'a Graph, cache: &'a Path) -> AutomlJob<'a> {
    AutomlJob {
        graph,
        candidates: Candidates::Cuts(vec![Some("9".into())]),
        device: Compute::throughput(2e8, 0.4),
        edge: Compute::throughput(1e12, 70.0),
        link: Link::simple(1e6, 0.005),
        budget: None,
        reward: Reward::AccuracyLogLatency,
        episodes: 4,
        ddpg: DdpgConfig { warmup_episodes: 2, hidden: 32, batch: 4, ..DdpgConfig::default() },
        multiple_of: 8,
        min_keep: 0.25,
        bits: vec![2, 8],
        data: DatasetName::FashionMnist,
        val_images: 100,
        recalibration_images: 128,
        engine: "tract",
        cache_dir: cache,
    }
}

#[test]
fn the_space_at_a_cut_costs_what_the_graph_says() {
    let g = model();
    let cut = g.find_cut("9").unwrap();
    let space = prune_space(&g, Some(&cut), &options()).unwrap();
    // stem, stage0's inner conv, stage1's inner conv, and the residual stream crossing the cut
    // (read by head layers too, so pruned in multiples like any conv group) last.
    assert_eq!(space.decisions.len(), 4, "{:?}", space.decisions);
    let last = space.decisions.last().unwrap();
    assert_eq!((last.channels, last.kind), (32, DecisionKind::Conv));
    assert_eq!(space.feature.as_ref().unwrap().group, Some(3));
    let macs =
        |side| space.layers.iter().filter(|l| l.side == side).map(|l| l.layer.macs).sum::<f64>();
    assert_eq!(macs(Side::Device), cut.head_macs as f64);
    assert_eq!(macs(Side::Edge), cut.tail_macs as f64);
    let zero = Compute::throughput(1.0, 0.0);
    let link = Link::simple(1.0, 0.0);
    let full = space.cost(&space.full(), &zero, &zero, &link, None);
    assert_eq!(full.device_macs, cut.head_macs as f64);
    // Halving the residual stream halves the feature and every layer it feeds.
    let mut half = space.full();
    half.kept[3] = 16;
    let c = space.cost(&half, &zero, &zero, &link, None);
    assert!(c.device_macs < full.device_macs);
    assert_eq!(c.feature_bytes.unwrap() - 20.0, 16.0 * 49.0 * 8.0 / 8.0);
    // Device-only: every prunable group, nothing sent.
    let local = prune_space(&g, None, &options()).unwrap();
    assert!(local.decisions.len() > space.decisions.len());
    assert!(local.feature.is_none());
    assert!(local.layers.iter().all(|l| l.side == Side::Device));
}

#[test]
fn a_bottleneck_code_is_searched_channel_by_channel() {
    let dir = root().join("experiments/bottleneck/cut9-c4-b2-d2-tail-e6");
    let (graph, code) = bottleneck_model(&dir).unwrap();
    let cut = graph.find_cut(&code).unwrap();
    let space = prune_space(&graph, Some(&cut), &options()).unwrap();
    let last = space.decisions.last().unwrap();
    assert_eq!((last.channels, last.kind), (4, DecisionKind::Code));
    assert_eq!(space.options(space.decisions.len() - 1), vec![1, 2, 3, 4]);
    // A folder without a trained bottleneck is refused with the command that makes one.
    let e = bottleneck_model(&root().join("models")).unwrap_err().to_string();
    assert!(e.contains("no trained bottleneck") && e.contains("coinfer codec bottleneck"), "{e}");
}

#[test]
fn third_party_models_give_spaces_whose_costs_add_up() {
    let mut built = vec![];
    for m in corpus::corpus() {
        let g = m.graph();
        let Some(cut) = g.cut_points().into_iter().nth(g.cut_points().len() / 2) else { continue };
        match prune_space(&g, Some(&cut), &options()) {
            Ok(space) => {
                let zero = Compute::throughput(1.0, 0.0);
                let c = space.cost(&space.full(), &zero, &zero, &Link::simple(1.0, 0.0), None);
                assert_eq!(c.device_macs, cut.head_macs as f64, "{}", m.file);
                assert!(space.size() >= 2.0, "{}", m.file);
                built.push(m.file.clone());
            }
            // A head with nothing prunable is a clear error, not a panic.
            Err(e) => {
                assert!(e.to_string().contains("no prunable channel group"), "{}: {e}", m.file)
            }
        }
    }
}

#[test]
fn a_short_search_writes_a_runnable_deployment_and_caches_its_evaluations() {
    let g = model();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let job = job(&g, &cache);
    let report = automl_search(&job, &mut NoProgress, |_, _, _| {}).unwrap();
    let search = report.winner();
    assert_eq!(search.search.episodes.len(), 4);
    assert!(search.evaluations >= 1 && search.evaluations <= 4);
    assert!(search.best.reward.is_finite());
    assert!((0.0..=1.0).contains(&search.best.evaluated.accuracy));
    // Real frames were coded: the measured bytes are at most the packed size plus header.
    let measured = search.best.cost.feature_bytes.unwrap();
    let packed = search.space.packed_bytes(&search.best.config).unwrap();
    assert!(measured > 0.0 && measured <= packed + 64.0, "{measured} vs {packed}");
    let cached = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(cached, 1, "one cache file for the one cut");

    // A rerun is served from the cache and finds the same thing (seeded).
    let again = automl_search(&job, &mut NoProgress, |_, _, _| {}).unwrap();
    assert_eq!(again.winner().best.config, search.best.config);

    let out = tmp.path().join("out");
    let fit = coinfer_train::FitConfig { epochs: 0, ..Default::default() };
    let done = finish(&job, &g, &report, &fit, 100, true, &out, "automl", &mut NoProgress).unwrap();
    assert_eq!(done.deployed, Deployed::Searched, "--force-split");
    assert_eq!(done.baselines.len(), 3, "device-only, Neurosurgeon, edge-only");
    assert!(done.speedups.iter().all(|(_, s)| s.is_finite() && *s > 0.0));
    for f in ["automl.onnx", "device.onnx", "edge.onnx", "automl-codec.json", "plan.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let plan: coinfer_sim::Plan =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    plan.validate().unwrap();
    assert_eq!(plan.devices[0].codec_name.as_deref(), Some("automl-codec"));
    let deployed = Graph::load(&out.join("automl.onnx")).unwrap();
    assert!(deployed.total_macs() <= g.total_macs());
    assert!(done.baseline_accuracy > 0.8, "the unsplit model: {}", done.baseline_accuracy);
    assert!(done.bytes_per_sample > 0.0);

    // Without --force-split the better of the searched split, device-only and edge-only
    // (the image ANS coded losslessly) by the reward is deployed, runnable as it is.
    let out = tmp.path().join("best");
    let best =
        finish(&job, &g, &report, &fit, 100, false, &out, "automl", &mut NoProgress).unwrap();
    assert!(best.deployed_reward >= best.searched_reward, "{best:?}");
    let reward = |m: &str| best.baselines.iter().find(|b| b.method == m).unwrap().reward;
    assert!(best.deployed_reward >= reward("device-only"), "{best:?}");
    let plan: coinfer_sim::Plan =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    plan.validate().unwrap();
    match best.deployed {
        Deployed::Searched => assert_eq!(best.deployed_reward, best.searched_reward),
        Deployed::DeviceOnly => {
            assert_eq!(plan.devices[0].split, coinfer_sim::SplitChoice::DeviceOnly);
            assert_eq!(best.bytes_per_sample, 0.0);
        }
        Deployed::EdgeOnly => {
            assert_eq!(plan.devices[0].split, coinfer_sim::SplitChoice::EdgeOnly);
            assert!(out.join("automl-codec.json").is_file());
            // Lossless and smaller than the 784 raw bytes.
            assert_eq!(best.accuracy, best.baseline_accuracy);
            assert!(best.bytes_per_sample < 784.0, "{}", best.bytes_per_sample);
        }
    }
    assert!(best.speedups.iter().all(|(_, s)| s.is_finite() && *s > 0.0));
}

#[test]
fn bad_input_is_refused_before_any_search() {
    let g = model();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    // A budget no configuration meets.
    let tight = AutomlJob { budget: Some(Budget::LatencyS(1e-6)), ..job(&g, &cache) };
    let e =
        automl_search(&tight, &mut NoProgress, |_, _, _| panic!("a search started")).unwrap_err();
    assert!(e.to_string().contains("no configuration meets the budget"), "{e}");
    // The accuracy reward without a budget keeps every channel: refused.
    let unbounded = AutomlJob { reward: Reward::AccuracyConstrained, ..job(&g, &cache) };
    assert!(matches!(
        automl_search(&unbounded, &mut NoProgress, |_, _, _| {}),
        Err(PipelineError::Invalid(_))
    ));
    // A link without rate, a round-trip time that is not a number, a negative budget.
    let refused = |j: AutomlJob<'_>, what: &str| {
        let e = automl_search(&j, &mut NoProgress, |_, _, _| {}).unwrap_err().to_string();
        assert!(e.contains(what), "{e}");
    };
    refused(AutomlJob { link: Link::simple(0.0, 0.005), ..job(&g, &cache) }, "link rate");
    refused(AutomlJob { link: Link::simple(1e6, f64::NAN), ..job(&g, &cache) }, "round-trip");
    refused(AutomlJob { budget: Some(Budget::DeviceMacs(-1.0)), ..job(&g, &cache) }, "budget");
    // A model the data set does not fit.
    let m = corpus::corpus().into_iter().find(|m| m.file == "mbv3-dynhw.onnx").unwrap().graph();
    let wrong = AutomlJob { candidates: Candidates::Best(1), ..job(&m, &cache) };
    let e = automl_search(&wrong, &mut NoProgress, |_, _, _| {}).unwrap_err().to_string();
    assert!(e.contains("the data set's images are"), "{e}");
    // A cut that does not exist.
    let nowhere =
        AutomlJob { candidates: Candidates::Cuts(vec![Some("99".into())]), ..job(&g, &cache) };
    assert!(automl_search(&nowhere, &mut NoProgress, |_, _, _| {}).is_err());
    assert!(space_at(&job(&g, &cache), Some(&g.find_cut("9").unwrap())).is_ok());
    assert!(!cache.exists(), "nothing was evaluated");
}
