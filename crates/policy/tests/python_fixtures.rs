//! The trajectories the Python package must reproduce (`crates/py/tests/test_envs.py`): seed
//! 002's `SplitEnv` and seed 001's `MultiDeviceEnv`, built from the package's default
//! configurations, two seeds each, fixed action patterns, every observation, reward and end
//! flag. The fixtures are regenerated with `COINFER_BLESS=1`; otherwise these tests check the
//! Rust side still gives them.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use coinfer_policy::stopping_config::StoppingConfig;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Episodes of seeds 7 and 8 (reset with the seed, then two more without): action 1 when
/// `(stage + episode) % 4 == 3`.
fn trajectory() -> serde_json::Value {
    let text =
        std::fs::read_to_string(root().join("crates/py/python/coinfer/data/online-split.toml"))
            .unwrap();
    let config: StoppingConfig = toml::from_str(&text).unwrap();
    let mut env = config.split_env(0).unwrap();
    let mut runs = vec![];
    for seed in [7u64, 8] {
        let mut episodes = vec![];
        for episode in 0..3usize {
            let first = env.reset((episode == 0).then_some(seed));
            let mut steps = vec![];
            loop {
                let action = usize::from((env.stage() + episode) % 4 == 3);
                let s = env.step(action == 1).unwrap();
                steps.push(serde_json::json!({
                    "action": action, "observation": s.observation, "reward": s.reward, "done": s.done,
                }));
                if s.done {
                    break;
                }
            }
            episodes.push(serde_json::json!({"first": first, "steps": steps}));
        }
        runs.push(serde_json::json!({"seed": seed, "episodes": episodes}));
    }
    serde_json::json!({"runs": runs})
}

/// Equal structure and numbers; numbers within one part in 10^15 (serde_json's default float
/// parser may miss the last bit of what its writer wrote exactly; Python reads it exactly).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::{Array, Number, Object};
    match (a, b) {
        (Number(x), Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            (x - y).abs() <= 1e-15 * x.abs().max(y.abs())
        }
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Object(x), Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Checks `now` against the fixture `name` (rewritten first with `COINFER_BLESS=1`).
fn check_fixture(name: &str, now: &serde_json::Value) {
    let path = root().join("crates/py/tests").join(name);
    if std::env::var_os("COINFER_BLESS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(now).unwrap()).unwrap();
    }
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        same(&fixture, now),
        "the Rust environment changed: regenerate with COINFER_BLESS=1\n{now}"
    );
}

/// Seeds 3 and 4 of the bundled four-device scenario, built afresh per seed as the Python
/// package does, 4 slots each: device `d` at slot `t` takes version `(d + t) % V`, partition
/// `(3·d + t) % (P + 1)`, share weights `1 + d` and `1 + t`.
fn multi_device_trajectory() -> serde_json::Value {
    use coinfer_sim::{DeviceAction, Scenario};
    let path = root().join("crates/py/python/coinfer/data/multi-device.toml");
    let mut runs = vec![];
    for seed in [3u64, 4] {
        let (scenario, versions) = Scenario::load(&path).unwrap();
        let mut env = scenario.build(versions, seed).unwrap();
        let (nv, np) = (env.versions().len(), env.versions()[0].table.layers.len() + 1);
        let first = env.reset(Some(seed));
        let mut steps = vec![];
        for t in 0..4usize {
            let actions: Vec<DeviceAction> = (0..env.num_devices())
                .map(|d| DeviceAction {
                    version: (d + t) % nv,
                    partition: (3 * d + t) % np,
                    compute_share: (1 + d) as f64,
                    bandwidth_share: (1 + t) as f64,
                })
                .collect();
            let s = env.step(&actions).unwrap();
            let utility: Vec<f64> = env.outcomes.iter().map(|o| o.utility).collect();
            steps.push(serde_json::json!({
                "version": actions.iter().map(|a| a.version).collect::<Vec<_>>(),
                "partition": actions.iter().map(|a| a.partition).collect::<Vec<_>>(),
                "compute_share": actions.iter().map(|a| a.compute_share).collect::<Vec<_>>(),
                "bandwidth_share": actions.iter().map(|a| a.bandwidth_share).collect::<Vec<_>>(),
                "observation": s.observation, "reward": s.reward, "done": s.done, "utility": utility,
            }));
        }
        runs.push(serde_json::json!({"seed": seed, "first": first, "steps": steps}));
    }
    serde_json::json!({"runs": runs})
}

#[test]
fn the_python_multi_device_fixture_is_the_rust_trajectory() {
    check_fixture("multi_device_trajectory.json", &multi_device_trajectory());
}

#[test]
fn the_python_fixture_is_the_rust_trajectory() {
    let now = trajectory();
    check_fixture("split_trajectory.json", &now);
    let steps: usize = now["runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["episodes"].as_array().unwrap())
        .map(|e| e["steps"].as_array().unwrap().len())
        .sum();
    assert!(steps >= 12, "{steps} steps");
}
