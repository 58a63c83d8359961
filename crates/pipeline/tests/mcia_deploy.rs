//! Seed 001 on the real runtime: the committed agent's plan for 8 devices of the bundled
//! contended scenario, served by an edge with every device a concurrent client behind its own
//! relay, agrees with the simulator; bad requests are refused with a clear error.
//! (A file of its own, so no training test shares the two cores with the measurement.)

use std::path::{Path, PathBuf};

use coinfer_pipeline::mcia_deploy::{deploy, DeployConfig};
use coinfer_pipeline::NoProgress;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn config() -> DeployConfig {
    DeployConfig {
        scenario: repo("experiments/mcia/scenarios/contended-4.toml"),
        agent: repo("experiments/mcia/contended-4/agent.safetensors"),
        devices: Some(8),
        slots: 1,
        requests: 8,
        seed: 12_345,
        engine: "tract".into(),
        decision: Default::default(),
    }
}

#[test]
fn eight_devices_on_the_runtime_agree_with_the_simulator() {
    let r = deploy(&config(), &mut NoProgress).unwrap();
    assert_eq!((r.devices, r.runs.len()), (8, 8));
    assert!(r.stack_s > 0.0 && r.stack_s < 0.01, "stack time {} s", r.stack_s);
    let offloading = r.runs.iter().filter(|d| d.offloads).count();
    assert!(offloading > 0 && offloading < 8, "a contended slot mixes: {offloading} offload");
    for d in &r.runs {
        // Served as planned: nothing fell back, every request answered where the plan says.
        let want = if d.offloads { [8, 0, 0] } else { [0, 8, 0] };
        assert_eq!(d.served, want, "{}", d.device_id);
        assert!(d.measured_ms.total.is_finite() && d.simulated_ms.total > 0.0);
        // The emulated edge slice held each answer to the simulator's tail time.
        assert!(d.measured_ms.edge >= d.simulated_ms.edge - 0.05, "{}", d.device_id);
        if d.offloads {
            // The frame the device sent is what the simulator counted, less gRPC's framing.
            let framing = d.request_bytes[0] - d.request_bytes[1];
            assert!((80.0..120.0).contains(&framing), "{}: {:?}", d.device_id, d.request_bytes);
        }
    }
    // Measured within 15 % of simulated (the target) for the typical device.
    let mut errors: Vec<f64> = r.runs.iter().map(|d| d.relative_error.abs()).collect();
    errors.sort_by(f64::total_cmp);
    assert!(errors[errors.len() / 2] < 0.15, "|errors| {errors:?}");
    let [sim, meas] = r.slot_utility[0];
    assert!((meas - sim).abs() < 0.05 * sim.abs(), "utility simulated {sim}, measured {meas}");
}

#[test]
fn bad_deployments_are_refused_with_a_clear_error() {
    let zero = DeployConfig { requests: 0, ..config() };
    let err = deploy(&zero, &mut NoProgress).unwrap_err().to_string();
    assert!(err.contains("requests must be ≥ 1"), "{err}");
    let none = DeployConfig { devices: Some(0), ..config() };
    let err = deploy(&none, &mut NoProgress).unwrap_err().to_string();
    assert!(err.contains("zero devices"), "{err}");
    // An agent trained on another version table.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.safetensors");
    let shape = coinfer_agents::VersionShape(vec![("other".into(), 3)]);
    coinfer_pipeline::mcia::MciaPpo::new(Default::default(), shape).unwrap().save(&path).unwrap();
    let other = DeployConfig { agent: path, ..config() };
    let err = deploy(&other, &mut NoProgress).unwrap_err().to_string();
    assert!(err.contains("trained for versions"), "{err}");
    let missing = DeployConfig { agent: dir.path().join("none.safetensors"), ..config() };
    assert!(deploy(&missing, &mut NoProgress).is_err());
}
