//! Seed 001 (MCIA) end to end on the bundled 4-device scenario: a short training run closes a
//! real part of the gap between the best trivial baseline and the exact optimum, beats random
//! and the equal-share baselines, is reproducible from its file, and refuses another version
//! table.

use std::path::{Path, PathBuf};

use coinfer_pipeline::mcia::{self, EvalConfig, MciaPpo, MciaPpoConfig, TrainConfig};
use coinfer_pipeline::NoProgress;

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/mcia/scenarios/contended-4.toml")
}

#[test]
fn a_short_training_run_closes_most_of_the_gap_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let agent_path = dir.path().join("agent.safetensors");
    let config = TrainConfig {
        scenario: scenario(),
        slots: 3072,
        device_counts: vec![],
        agent: MciaPpoConfig { seed: 3, ..MciaPpoConfig::default() },
    };
    let report = mcia::train(&config, &agent_path, &mut NoProgress).unwrap();
    assert_eq!(report.curve.last().unwrap().slots, 3072);
    let mut agent = MciaPpo::load(&agent_path).unwrap();
    let eval = EvalConfig {
        scenario: scenario(),
        devices: None,
        slots: 200,
        seed: 777,
        cd_rounds: 10,
        set: vec![],
    };
    let r = mcia::evaluate(&eval, std::slice::from_mut(&mut agent), &mut NoProgress).unwrap();
    let get = |name: &str| r.methods.iter().find(|m| m.method == name).unwrap();
    let ppo = get("ppo agent");
    assert_eq!(r.reference, "exhaustive");
    assert!(r.gap > 0.01, "the scenario has a gap to close: {}", r.gap);
    assert!(ppo.gap_closed >= 0.6, "closed {:.3} of the gap", ppo.gap_closed);
    for other in ["random", "best split equal shares", "edge-only exact shares", "device-only"] {
        assert!(ppo.mean_utility > get(other).mean_utility, "{other}");
    }
    assert!(ppo.mean_utility <= get("exhaustive (optimum)").mean_utility + 1e-9);
    assert!(ppo.offloads_where_reference_does > 0.5, "{}", ppo.offloads_where_reference_does);
    // The same file decides the same way.
    let mut again = MciaPpo::load(&agent_path).unwrap();
    let r2 = mcia::evaluate(&eval, std::slice::from_mut(&mut again), &mut NoProgress).unwrap();
    let ppo2 = r2.methods.iter().find(|m| m.method == "ppo agent").unwrap();
    assert_eq!(ppo.mean_utility, ppo2.mean_utility);
}

#[test]
fn an_agent_for_another_version_table_or_a_broken_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.safetensors");
    let shape = coinfer_agents::VersionShape(vec![("other".into(), 3)]);
    MciaPpo::new(MciaPpoConfig::default(), shape).unwrap().save(&path).unwrap();
    let mut agent = MciaPpo::load(&path).unwrap();
    let eval = EvalConfig {
        scenario: scenario(),
        devices: None,
        slots: 5,
        seed: 1,
        cd_rounds: 2,
        set: vec![],
    };
    let err = mcia::evaluate(&eval, std::slice::from_mut(&mut agent), &mut NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("trained for versions") && err.contains("width-1.00"), "{err}");
    std::fs::write(path.with_extension("json"), "{\"kind\": 3}").unwrap();
    let err = MciaPpo::load(&path).err().unwrap().to_string();
    assert!(err.contains("agent.json"), "{err}");
    // Zero devices requested.
    let zero = EvalConfig { devices: Some(0), ..eval };
    let err = mcia::evaluate(&zero, &mut [], &mut NoProgress).unwrap_err().to_string();
    assert!(err.contains("zero devices"), "{err}");
}

#[test]
fn the_hybrid_action_agent_learns_shares_that_beat_equal_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hybrid.safetensors");
    let config = TrainConfig {
        scenario: scenario(),
        slots: 2048,
        device_counts: vec![],
        agent: MciaPpoConfig {
            shares: mcia::ShareMode::Learned,
            seed: 5,
            ..MciaPpoConfig::default()
        },
    };
    mcia::train(&config, &path, &mut NoProgress).unwrap();
    let mut agent = MciaPpo::load(&path).unwrap();
    assert_eq!(agent.config().shares, mcia::ShareMode::Learned);
    let eval = EvalConfig {
        scenario: scenario(),
        devices: None,
        slots: 100,
        seed: 99,
        cd_rounds: 5,
        set: vec![],
    };
    let r = mcia::evaluate(&eval, std::slice::from_mut(&mut agent), &mut NoProgress).unwrap();
    let get = |name: &str| r.methods.iter().find(|m| m.method == name).unwrap().mean_utility;
    let hybrid = get("hybrid ppo (learned shares)");
    for other in ["random", "edge-only equal shares", "neurosurgeon equal shares", "device-only"] {
        assert!(hybrid > get(other), "{other}: {hybrid} vs {}", get(other));
    }
    assert!(hybrid <= get("exhaustive (optimum)") + 1e-9);
}

/// Channel dynamics as a sweep: one report per value, each built with the field set (the
/// optimum still bounds every method), and a field the scenario lacks refused by name.
#[test]
fn a_field_sweep_evaluates_each_value() {
    let eval = EvalConfig {
        scenario: scenario(),
        devices: None,
        slots: 20,
        seed: 3,
        cd_rounds: 3,
        set: vec![("devices.*.channel.kind".into(), "gauss-markov".into())],
    };
    let values: Vec<String> = ["0", "0.99"].iter().map(|v| v.to_string()).collect();
    let reports =
        mcia::sweep_field(&eval, "devices.*.channel.rho", &values, &mut [], &mut NoProgress)
            .unwrap();
    assert_eq!(reports.len(), 2);
    for (r, v) in reports.iter().zip(&values) {
        assert_eq!(r.config.set.last().unwrap(), &("devices.*.channel.rho".to_string(), v.clone()));
        let best = r.methods[0].mean_utility;
        assert!(r.methods.iter().all(|m| m.mean_utility <= best + 1e-9), "{v}");
    }
    // Different correlations, different slots.
    assert_ne!(reports[0].methods[0].mean_utility, reports[1].methods[0].mean_utility);
    let bad = mcia::sweep_field(&eval, "edge.bandwith_mhz", &values, &mut [], &mut NoProgress);
    assert!(bad.unwrap_err().to_string().contains("bandwith_mhz"));
}

/// Price-guided refinement only ever keeps a better joint choice: with it, the committed
/// campus agent's decisions are at least as good on every slot, and better on some.
#[test]
fn price_rounds_never_lose_and_sometimes_gain() {
    let campus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments/mcia/scenarios/campus-16.toml");
    let agent_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments/mcia/campus/agent.safetensors");
    let (_, mut env) = mcia::environment(&campus, Some(32), 7).unwrap();
    let table = coinfer_agents::ChoiceTable::new(&env).unwrap();
    let mut plain = MciaPpo::load(&agent_path).unwrap();
    let top_one = mcia::DecisionSettings { top_k: Some(1), refine: Some(0), price_rounds: None };
    plain.set_decision(&top_one);
    let mut priced = MciaPpo::load(&agent_path).unwrap();
    priced.set_decision(&mcia::DecisionSettings { price_rounds: Some(3), ..top_one });
    env.reset(Some(7));
    let mut gained = 0;
    for _ in 0..8 {
        let (a, b) = (plain.decide(&env, &table).unwrap(), priced.decide(&env, &table).unwrap());
        assert!(b.utility >= a.utility - 1e-12, "{} < {}", b.utility, a.utility);
        gained += usize::from(b.utility > a.utility + 1e-9);
        env.step(&a.actions).unwrap();
    }
    assert!(gained > 0, "price rounds never helped at 32 devices");
}
