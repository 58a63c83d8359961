//! MCIA scenario files: the bundled ones build, and every kind of bad input is an error that
//! names its field.

use coinfer_sim::{exhaustive, Scenario};
use std::path::Path;

fn bundled(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/mcia/scenarios").join(name)
}

#[test]
fn bundled_scenarios_build_and_rescale() {
    for (name, n) in [("contended-4.toml", 4), ("campus-16.toml", 16)] {
        let (scenario, versions) = Scenario::load(&bundled(name)).unwrap();
        assert_eq!(versions.len(), 4, "{name}: the four width versions");
        assert!(versions.iter().all(|v| v.table.bits_per_value == 8.0));
        let mut env = scenario.build(versions.clone(), 1).unwrap();
        assert_eq!(env.num_devices(), n);
        env.reset(Some(1));
        if n <= 4 {
            assert!(exhaustive(&env).unwrap().utility.is_finite());
        }
        for m in [1, 2, 7, 64] {
            let scaled = scenario.with_devices(m);
            assert_eq!(scaled.num_devices(), m, "{name} × {m}");
            assert_eq!(scaled.build(versions.clone(), 1).unwrap().num_devices(), m);
        }
    }
}

#[test]
fn memory_masks_the_full_width_version_on_small_sensors() {
    let (scenario, versions) = Scenario::load(&bundled("campus-16.toml")).unwrap();
    let env = scenario.build(versions, 1).unwrap();
    // Device 0 has 256 kB for weights: width 1.00 (353 kB) cannot run locally, 0.50 can.
    assert!(!env.fits(0, 0, 20));
    assert!(env.fits(0, 2, 20));
    assert!(env.fits(0, 0, 0), "sending the input needs no weights");
}

#[test]
fn bad_scenarios_name_the_field() {
    let (good, versions) = Scenario::load(&bundled("contended-4.toml")).unwrap();
    let text = std::fs::read_to_string(bundled("contended-4.toml")).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (text.replace("bandwidth_mhz = 1.0", "bandwidth_mhz = -1.0"), "edge.bandwidth_mhz"),
        (text.replace("count = 2", "count = 0"), "zero devices"),
        (text.replace("task = \"latency\"", "task = \"fast\""), "devices[1].task"),
        (
            text.replace("accuracy_weight = 0.9", "accuracy_weight = 1.5"),
            "accuracy.accuracy_weight",
        ),
        (text.replace("slot_ms = 100", "slot_ms = 0"), "slot_ms"),
        (text.replace("memory_kb = 512", "memory_kb = -3"), "devices[0].memory_kb"),
        (text.replace("rho = 0.9", "rho = 1.5"), "devices[0].channel"),
        (text.replace("slot_ms = 100", "slot_ms = 100\nbogus = 1"), "unknown field `bogus`"),
        (text.replace("mean_snr_db = 5", "mean_snr_db = nan"), "channel.mean_snr_db"),
    ];
    for (bad, field) in cases {
        let err = Scenario::parse(&bad)
            .and_then(|s| s.build(versions.clone(), 1).map(|_| ()))
            .expect_err(field)
            .to_string();
        assert!(err.contains(field), "`{field}` not in `{err}`");
    }
    // A version the table lacks.
    let missing = Scenario { use_versions: vec!["width-2.00".into()], ..good.clone() };
    let err = missing.select_versions(&versions).unwrap_err().to_string();
    assert!(err.contains("use_versions") && err.contains("width-2.00"), "{err}");
    // A version table that is not there.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, &text).unwrap();
    let err = Scenario::load(&path).unwrap_err().to_string();
    assert!(err.contains("versions"), "{err}");
}

#[test]
fn a_plan_whose_bandwidth_shares_sum_above_one_is_refused() {
    let (scenario, versions) = Scenario::load(&bundled("contended-4.toml")).unwrap();
    let mut env = scenario.build(versions, 1).unwrap();
    env.reset(Some(1));
    let opt = exhaustive(&env).unwrap();
    let ids: Vec<String> = (0..4).map(|i| format!("sensor-{i}")).collect();
    let mut plan = env.plan(&opt.actions, "fmnist-resnet", &ids).unwrap();
    let total: f64 = plan.devices.iter().map(|d| d.bandwidth_share).sum();
    assert!((total - 1.0).abs() < 1e-9, "the optimum's shares fill the band: {total}");
    // A hand-edited plan granting more band than there is.
    plan.devices.iter_mut().for_each(|d| d.bandwidth_share = 0.4);
    let err = plan.validate().unwrap_err().to_string();
    assert!(err.contains("bandwidth shares sum to 1.600 > 1"), "{err}");
}

/// `--set` / `--vary`: fields set by dotted path (indices, `*`), numbers or strings, several
/// at once; what the scenario does not have is refused by name.
#[test]
fn fields_set_by_path_change_the_scenario_or_are_refused_by_name() {
    let (scenario, _) = Scenario::load(&bundled("contended-4.toml")).unwrap();
    let set = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(f, v)| (f.to_string(), v.to_string())).collect();
        scenario.with_fields(&pairs)
    };
    let wider = scenario.with_field("edge.bandwidth_mhz", "2.5").unwrap();
    assert_eq!(wider.edge.bandwidth_mhz, 2.5);
    let more = scenario.with_field("devices.1.count", "5").unwrap();
    assert_eq!((more.devices[0].count, more.devices[1].count), (2, 5));
    // Every channel made Gauss–Markov with one correlation: a kind and its field at once.
    let gm = set(&[("devices.*.channel.kind", "gauss-markov"), ("devices.*.channel.rho", "0.5")])
        .unwrap();
    let text = serde_json::to_string(&gm.devices).unwrap();
    assert_eq!(text.matches("\"rho\":0.5").count(), 2, "{text}");
    // Refused, naming the field.
    for (pairs, needle) in [
        (vec![("devices.*.channel.rho", "0.5")], "rho"),
        (vec![("edge.bandwith_mhz", "2")], "bandwith_mhz"),
        (vec![("devices.7.count", "1")], "index 7"),
        (vec![("devices.x.count", "1")], "index or `*`"),
        (vec![("devices", "1")], "not a single value"),
        (vec![("edge.bandwidth_mhz", "wide")], "edge.bandwidth_mhz"),
    ] {
        let err = set(&pairs).unwrap_err().to_string();
        assert!(err.contains(needle) && err.contains(pairs[0].0), "{pairs:?}: {err}");
    }
}
