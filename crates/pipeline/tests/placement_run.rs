//! Seed 002 on the real runtime, small: two versions, K* against placing nothing, and the
//! stopping rules, each measured against its exact expected cost. Runs alone (it times the
//! wire; see .config/nextest.toml).

use std::path::PathBuf;

use coinfer_pipeline::placement_run::{placement_run, PlacementRunConfig, Strategy};
use coinfer_pipeline::NoProgress;
use coinfer_policy::stopping_config::StoppingConfig;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn placement_and_rules_on_the_runtime_match_their_expected_costs() {
    let text = std::fs::read_to_string(root().join("examples/placement-runtime.toml")).unwrap();
    let config: StoppingConfig = toml::from_str(&text).unwrap();
    let versions = ["w025", "w050"]
        .iter()
        .map(|w| root().join(format!("models/versions/fmnist-resnet-{w}.onnx")))
        .collect();
    let run = PlacementRunConfig {
        config,
        versions,
        strategies: vec![Strategy::Optimal, Strategy::Nothing],
        requests: 8,
        states: 4,
        slot_ms: 45.0,
        compare_rules: true,
        seed: 3,
        engine: "tract".into(),
    };
    let r = placement_run(&run, &mut NoProgress).unwrap();
    assert_eq!(r.rules.len(), 6);
    for rule in &r.rules {
        assert!(rule.expected_cost > 0.0 && rule.measured_cost.mean > 0.0, "{rule:?}");
        assert!(
            rule.relative_error.abs() < 0.15,
            "{}: measured {:.4e} vs exact {:.4e}",
            rule.rule,
            rule.measured_cost.mean,
            rule.expected_cost
        );
    }
    // The optimal rule for the link is never worse in expectation than any other rule.
    let best = r.rules[0].expected_cost;
    assert!(r.rules.iter().all(|x| x.expected_cost >= best * (1.0 - 1e-12)), "{:?}", r.rules);

    assert_eq!(r.periods.len(), 4);
    for p in &r.periods {
        if p.k > 0 {
            let e = p.download_error.unwrap();
            assert!(e.abs() < 0.15, "{} {}: download {:?} s", p.strategy, p.version, p.download_s);
            assert!(p.bytes > 0);
        } else {
            assert_eq!((p.bytes, p.download_error), (0, None));
        }
        let j = p.per_inference;
        assert!((j[1] / j[0] - 1.0).abs() < 0.15, "{} {}: J {j:?}", p.strategy, p.version);
    }
    // K* minimises the predicted period cost, so it beats placing nothing in prediction, and
    // (the gap here is large) in measurement too.
    let total = |s: &str| r.totals.iter().find(|t| t.strategy == s).unwrap().total;
    let (opt, none) = (total("optimal K*"), total("always none"));
    assert!(opt[0] <= none[0], "{opt:?} vs {none:?}");
    assert!(opt[1] < none[1], "measured: {opt:?} vs {none:?}");
    // Every inference was answered (edge or device), none lost in the switches.
    assert!(r.requests.iter().all(|q| q.measured_cost.is_finite() && q.e2e_ms > 0.0));
}
