//! End-to-end tests of the `coinfer` binary.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The engines this test binary's `coinfer` was built with.
fn coinfer_engines() -> Vec<&'static str> {
    if cfg!(feature = "ort") {
        vec!["tract", "ort"]
    } else {
        vec!["tract"]
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn coinfer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coinfer"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("failed to start coinfer")
}

fn ok_json(args: &[&str]) -> serde_json::Value {
    let out = coinfer(args);
    assert!(
        out.status.success(),
        "coinfer {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// The command is refused (exit 1) with every needle in its message.
fn fails_with(args: &[&str], needles: &[&str]) {
    fails_with_code(args, 1, needles);
}

/// The command line does not parse (exit 2, clap's usage error) and says why.
fn usage_fails_with(args: &[&str], needles: &[&str]) {
    fails_with_code(args, 2, needles);
}

fn fails_with_code(args: &[&str], code: i32, needles: &[&str]) {
    let out = coinfer(args);
    assert_eq!(out.status.code(), Some(code), "coinfer {args:?} should exit {code}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "coinfer {args:?}: `{n}` not in: {err}");
    }
}

#[test]
fn every_subcommand_explains_itself() {
    for sub in [
        "demo", "cuts", "split", "run", "eval", "profile", "train", "bench", "profiles", "prune",
        "finetune", "versions", "codec", "edge", "device", "link", "automl", "stopping",
    ] {
        let out = coinfer(&[sub, "--help"]);
        assert!(out.status.success(), "{sub} --help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:") && text.len() > 200, "{sub}: {text}");
    }
}

#[test]
fn cuts_lists_the_resnet18_separators() {
    let v = ok_json(&["cuts", "models/test/resnet18-cifar.onnx", "--json"]);
    let cuts = v["cuts"].as_array().unwrap();
    assert_eq!(cuts.len(), 20);
    assert_eq!(cuts[0]["shape"], serde_json::json!([1, 16, 32, 32]));
    assert_eq!(cuts[0]["feature_bytes"], 16 * 32 * 32 * 4);
}

#[test]
fn split_then_run_halves_equals_running_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f).display().to_string();
    let model = "models/test/resnet18-cifar.onnx";
    let input = "models/test/resnet18-cifar.input.npy";
    let v = ok_json(&["split", model, "--at", "5", "--out", &d("s"), "--json"]);
    let diff = v["verification"]["max_abs_diff"].as_f64().unwrap();
    let scale = v["verification"]["output_scale"].as_f64().unwrap();
    assert!(diff <= 1e-5 * scale, "{diff} vs {scale}");
    ok_json(&["run", model, "--input", input, "--output", &d("full.npy"), "--json"]);
    ok_json(&["run", &d("s/head.onnx"), "--input", input, "--output", &d("f.npy"), "--json"]);
    ok_json(&["run", &d("s/tail.onnx"), "--input", &d("f.npy"), "--output", &d("y.npy"), "--json"]);
    let full = coinfer_engine_free::read_f32_npy(Path::new(&d("full.npy")));
    let split = coinfer_engine_free::read_f32_npy(Path::new(&d("y.npy")));
    assert_eq!(full.len(), 20);
    coinfer_approx::compare_slices(&full, &split, coinfer_approx::Approximation::Close).unwrap();
}

#[test]
fn several_outputs_are_numbered() {
    use coinfer_graph::builder::ModelBuilder;
    let dir = tempfile::tempdir().unwrap();
    let mut b = ModelBuilder::new("two_outputs");
    let x = b.input("x", &[None, Some(3)]);
    let r = b.named_node("r", "Relu", &[&x], vec![]);
    let n = b.named_node("n", "Neg", &[&x], vec![]);
    b.output(&r, &[None, Some(3)]);
    b.output(&n, &[None, Some(3)]);
    let model = dir.path().join("two.onnx");
    coinfer_graph::save_model(&b.build(), &model).unwrap();
    // A (4, 3) float32 input written by hand.
    let input = dir.path().join("x.npy");
    let header =
        format!("{:<117}\n", "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    let values: Vec<f32> = (0..12).map(|i| i as f32 - 6.0).collect();
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(&input, bytes).unwrap();
    let out = dir.path().join("y.npy");
    ok_json(&[
        "run",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--json",
    ]);
    let relu = coinfer_engine_free::read_f32_npy(&dir.path().join("y.0.npy"));
    let neg = coinfer_engine_free::read_f32_npy(&dir.path().join("y.1.npy"));
    assert_eq!(relu, values.iter().map(|v| v.max(0.0)).collect::<Vec<_>>());
    assert_eq!(neg, values.iter().map(|v| -v).collect::<Vec<_>>());
}

/// Minimal .npy reader for the test (independent of the code under test).
mod coinfer_engine_free {
    /// Writes a float32 .npy file (format 1.0, C order).
    pub fn write_f32_npy(path: &std::path::Path, shape: &[usize], values: &[f32]) {
        let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
        let mut header = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
            dims.join(", ")
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        std::fs::write(path, bytes).unwrap();
    }

    pub fn read_f32_npy(path: &std::path::Path) -> Vec<f32> {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = String::from_utf8_lossy(&bytes[10..10 + header_len]);
        assert!(header.contains("'<f4'"), "{header}");
        bytes[10 + header_len..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }
}

#[test]
fn a_model_with_symbolic_dims_and_constant_weights_splits_runs_and_prunes() {
    // paddle2onnx-style text classifier: input [-1, 3, 48, -1], every weight a Constant node.
    let model = "models/corpus/ppocr-cls-const.onnx";
    fails_with(
        &["cuts", model],
        &["`x`", "[?, 3, 48, ?]", "D3 (dim 3)", "--input-shape x:1,3,48,<D3>"],
    );
    fails_with(&["cuts", model, "--input-shape", "x:1,3,48"], &["rank 4"]);
    fails_with(&["cuts", model, "--input-shape", "image:1,3,48,192"], &["no input `image`"]);
    usage_fails_with(&["cuts", model, "--input-shape", "x:1,3,0,192"], &["positive"]);
    let shape = ["--input-shape", "x:1,3,48,192"];
    let v = ok_json(&[&["cuts", model, "--json"][..], &shape].concat());
    assert_eq!(v["input_bytes"], 3 * 48 * 192 * 4);
    assert!(v["param_bytes"].as_u64().unwrap() > 100_000, "Constant weights are parameters");
    assert_eq!(v["cuts"][0]["shape"], serde_json::json!([1, 16, 24, 96]));

    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f).display().to_string();
    let split = ok_json(
        &[&["split", model, "--at", "20", "--out", &d("s"), "--json"][..], &shape].concat(),
    );
    assert_eq!(split["input_shape"], serde_json::json!({"x": [1, 3, 48, 192]}));
    let x: Vec<f32> = (0..3 * 48 * 192).map(|i| (i % 97) as f32 / 97.0).collect();
    coinfer_engine_free::write_f32_npy(&dir.path().join("x.npy"), &[1, 3, 48, 192], &x);
    let run = |m: &str, i: &str, o: &str| {
        ok_json(&["run", m, "--input", &d(i), "--output", &d(o), "--json"])
    };
    run(model, "x.npy", "full.npy");
    run(&d("s/head.onnx"), "x.npy", "f.npy");
    run(&d("s/tail.onnx"), "f.npy", "y.npy");
    let full = coinfer_engine_free::read_f32_npy(Path::new(&d("full.npy")));
    let split = coinfer_engine_free::read_f32_npy(Path::new(&d("y.npy")));
    assert_eq!((full.len(), split.len()), (2, 2));
    coinfer_approx::compare_slices(&full, &split, coinfer_approx::Approximation::Close).unwrap();

    let pruned = ok_json(
        &[&["prune", model, "--uniform", "0.3", "--out", &d("p.onnx"), "--json"][..], &shape]
            .concat(),
    );
    let (before, after) = (&pruned["param_bytes"]["before"], &pruned["param_bytes"]["after"]);
    assert!(after.as_u64().unwrap() < before.as_u64().unwrap() * 3 / 4, "{before} -> {after}");
    assert!(
        std::fs::metadata(d("p.onnx")).unwrap().len()
            < std::fs::metadata(root().join(model)).unwrap().len()
    );
    run(&d("p.onnx"), "x.npy", "py.npy");
    assert_eq!(coinfer_engine_free::read_f32_npy(Path::new(&d("py.npy"))).len(), 2);
}

#[test]
fn split_verification_fails_on_nan_outputs() {
    // y = sqrt(-(relu(x) + 1)): NaN everywhere, on both sides of any cut. A tolerance must not
    // let that pass as "equal".
    use coinfer_graph::builder::ModelBuilder;
    let mut b = ModelBuilder::new("nan");
    let x = b.input("x", &[None, Some(4)]);
    let one = b.weight("one", &[1], &[1.0]);
    let a = b.named_node("a", "Relu", &[&x], vec![]);
    let p = b.named_node("p", "Add", &[&a, &one], vec![]);
    let n = b.named_node("n", "Neg", &[&p], vec![]);
    let y = b.named_node("y", "Sqrt", &[&n], vec![]);
    b.output(&y, &[None, Some(4)]);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("nan.onnx");
    coinfer_graph::save_model(&b.build(), &model).unwrap();
    let out = dir.path().join("s").display().to_string();
    fails_with(
        &["split", &model.display().to_string(), "--at", "a", "--out", &out],
        &["verification failed", "NaN"],
    );
}

/// Every benchmark runs once in a short mode and reports what it measured (speed is not
/// asserted here: benchmarks measure it, tests do not).
#[test]
fn every_bench_runs_in_a_short_mode() {
    let positive = |v: &serde_json::Value, key: &str| {
        let x = v[key].as_f64().unwrap_or(f64::NAN);
        assert!(x.is_finite() && x > 0.0, "{key} = {x} in {v}");
    };
    let v = ok_json(&["bench", "stopping", "--json"]);
    for key in [
        "backward_induction_50x1000_ms",
        "monte_carlo_inferences_per_s",
        "osla_decision_ns",
        "markov_induction_50x64_ms",
        "markov_decision_ns",
        "placement_1000_layers_ms",
    ] {
        positive(&v, key);
    }
    let v = ok_json(&["bench", "sim", "--devices", "4", "--json"]);
    positive(&v, "device_steps_per_s");
    let v = ok_json(&["bench", "codec", "--json"]);
    assert!(v["rows"].as_array().is_some_and(|r| r.len() >= 4), "{v}");
    let v = ok_json(&["bench", "engine", "--seconds", "0.05", "--batches", "1,4", "--json"]);
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 4 * coinfer_engines().len(), "2 models × 2 batch sizes per engine");
    for r in rows {
        positive(r, "full_img_s");
        positive(r, "split_img_s");
    }
    let v = ok_json(&[
        "bench",
        "edge",
        "--devices",
        "4",
        "--requests",
        "40",
        "--seconds",
        "0.5",
        "--idle",
        "10",
        "--json",
    ]);
    assert_eq!(
        (v["failed_devices"].as_u64(), v["idle_errors"].as_u64()),
        (Some(0), Some(0)),
        "{v}"
    );
    assert_eq!(v["request_during_idle_ok"], true);
    positive(&v, "served_per_s");
}

#[test]
fn default_model_reaches_its_accuracy() {
    // The model is fixed and inference deterministic: an exact count on a fixed image set
    // (92.95 %; 92.41 % on all 10,000, see the model card), on every engine.
    for engine in coinfer_engines() {
        let v = ok_json(&[
            "eval",
            "--data",
            "fashion-mnist",
            "--split",
            "test",
            "--limit",
            "2000",
            "--engine",
            engine,
            "--json",
        ]);
        assert_eq!(v["samples"], 2000);
        assert_eq!(v["correct"], 1859, "{engine}: correct answers on the first 2,000 test images");
    }
}

/// `--engine auto` (the default) runs ONNX Runtime when its library loads and tract when it
/// does not, says which on stderr without `-v`, and both give the same answers.
#[test]
fn default_engine_is_onnx_runtime_when_found_else_tract() {
    let eval = |dylib: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_coinfer"));
        cmd.args(["eval", "--limit", "2000", "--json"]).current_dir(root());
        if let Some(p) = dylib {
            cmd.env("ORT_DYLIB_PATH", p);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{err}");
        (serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), err)
    };
    let (fallback, log) = eval(Some("/nonexistent/libonnxruntime.so"));
    assert_eq!(fallback["engine"], "tract");
    assert!(log.contains("engine: tract (ONNX Runtime unavailable"), "{log}");
    assert!(log.contains("/nonexistent/libonnxruntime.so"), "the cause is named: {log}");
    if cfg!(feature = "ort") {
        let (fast, log) = eval(None);
        assert_eq!(fast["engine"], "ort", "setup installs ONNX Runtime: {log}");
        assert!(log.contains("engine: ort (ONNX Runtime from"), "{log}");
        assert_eq!(fast["correct"], fallback["correct"], "same answers on both engines");
        // Asked for by name, a missing library is an error, not a silent fallback.
        let out = Command::new(env!("CARGO_BIN_EXE_coinfer"))
            .args(["eval", "--limit", "10", "--engine", "ort"])
            .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot load"));
    }
}

#[test]
fn demo_executes_its_splits_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let v = ok_json(&[
        "demo",
        "--images",
        "300",
        "--runtime-images",
        "10",
        "--no-seeds",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(v.get("seeds").is_none(), "--no-seeds");
    let runs = v["runtime"]["checks"].as_array().unwrap();
    assert_eq!(runs.len(), 4, "one runtime run per link rate");
    for r in runs {
        assert_eq!(r["measured"]["edge"], 10, "served by the edge over gRPC: {r}");
        // Seen here with the one cost model (periodic-regime host profile, framing, calibrated
        // stack time): +2 % to +7 % at 100 requests; the bound is twice the issue's 15 %, for
        // 10 requests on a loaded machine. The test runs alone (nextest).
        let err = r["relative_error"].as_f64().unwrap();
        assert!(err.abs() < 0.3, "measured {err:+.2} off the cost model: {r}");
    }
    let plans = v["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 4);
    let total = |o: &serde_json::Value| o["prediction"]["total_s"].as_f64().unwrap();
    for p in plans {
        let best = total(&p["best"]);
        for o in p["options"].as_array().unwrap() {
            assert!(best <= total(o) + 1e-15, "best is not minimal");
        }
    }
    // Edge-only as a camera sends its image: lossless codecs agree with the model everywhere,
    // and each sends less than the float32 input (3,136 B) — PNG and ANS less than raw uint8.
    let inputs = v["input_baselines"].as_array().unwrap();
    let bytes = |name: &str| {
        let b = inputs.iter().find(|b| b["codec"] == name).unwrap();
        b["bytes_per_image"].as_f64().unwrap()
    };
    for b in inputs.iter().filter(|b| b["lossless"] == true) {
        assert_eq!(b["differing_from_full_model"], 0, "{b}");
        assert_eq!(b["total_s"].as_array().unwrap().len(), 4);
    }
    assert!(bytes("raw uint8") < 3136.0 * 0.3, "{}", bytes("raw uint8"));
    assert!(bytes("png") < bytes("raw uint8") && bytes("uint8 + per-pixel ANS") < bytes("png"));
    // The best baseline per rate is the fastest of the baselines offered.
    for (r, best) in v["best_baselines"].as_array().unwrap().iter().enumerate() {
        let t = best["total_s"].as_f64().unwrap();
        assert!(t <= plans[r]["device_only_s"].as_f64().unwrap() + 1e-12, "{best}");
        assert!(t <= total(&plans[r]["best"]) + 1e-12, "{best}");
        for b in inputs.iter().filter(|b| b["lossless"] == true) {
            assert!(t <= b["total_s"][r].as_f64().unwrap() + 1e-12, "{best} vs {b}");
        }
    }
    // Plans come from the hardware models, not from this host's timings: a second run, with
    // other timing noise, plans exactly the same.
    let again_dir = dir.path().join("again");
    let again_out = again_dir.to_str().unwrap();
    let again = ok_json(&[
        "demo",
        "--images",
        "10",
        "--runtime-images",
        "0",
        "--no-seeds",
        "--json",
        "--out",
        again_out,
    ]);
    assert_eq!(again["plans"], v["plans"], "plans flipped between runs");
    let execs = v["executions"].as_array().unwrap();
    assert!(!execs.is_empty());
    for e in execs {
        assert_eq!(e["predictions_differing_from_full_model"], 0, "{e}");
        assert_eq!(e["accuracy"], e["full_model_accuracy"]);
        assert_eq!(e["images"], 300);
    }
    for f in ["demo.json", "latency.svg", "profile.svg", "runtime.svg", "index.html"] {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(text.len() > 500, "{f}");
    }
}

#[test]
fn profile_heads_nest_and_never_cost_less_than_the_model_they_cover() {
    let v = ok_json(&["profile", "--runs", "3", "--device", "jetson-nano", "--json"]);
    let cuts = v["cuts"].as_array().unwrap();
    assert_eq!(cuts.len(), 19, "the default model's cut points (its model card)");
    let f = |c: &serde_json::Value, k: &str| c[k].as_f64().unwrap();
    let (device_full, edge_full) = (f(&v, "device_full_s"), f(&v, "edge_full_s"));
    let (mut head, mut fit) = (0.0, 0.0);
    for c in cuts {
        // On the hardware models and on this host's robust fit, a longer head never costs
        // less, and no head or tail is free (a per-operator launch at least).
        assert!(f(c, "device_head_s") >= head && f(c, "host_head_fit_s") >= fit, "{c}");
        (head, fit) = (f(c, "device_head_s"), f(c, "host_head_fit_s"));
        assert!(head > 0.0 && f(c, "edge_tail_s") > 0.0, "{c}");
        assert!(head <= device_full && f(c, "edge_tail_s") <= edge_full, "{c}");
    }
    // Feature sizes vary by more than 10× across the cuts.
    let sizes: Vec<u64> = cuts.iter().map(|c| c["feature_bytes"].as_u64().unwrap()).collect();
    assert!(sizes.iter().max().unwrap() / sizes.iter().min().unwrap() >= 10, "{sizes:?}");
}

#[test]
fn bad_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x07garbage that is not protobuf\xff\xff").unwrap();
    fails_with(&["cuts", garbage.to_str().unwrap()], &["not a valid ONNX model", "garbage.onnx"]);
    fails_with(
        &[
            "split",
            "models/test/resnet18-cifar.onnx",
            "--at",
            "/layers/layers.0/Relu_output_0",
            "--out",
            "/tmp/x",
        ],
        &["not a valid cut point", "bypasses", "nearest valid cuts"],
    );
    let f64_npy = dir.path().join("x.npy");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }";
    let padded = format!("{header:<117}\n");
    bytes.extend((padded.len() as u16).to_le_bytes());
    bytes.extend(padded.as_bytes());
    bytes.extend(0f64.to_le_bytes());
    std::fs::write(&f64_npy, bytes).unwrap();
    fails_with(
        &[
            "run",
            "models/test/resnet18-cifar.onnx",
            "--input",
            f64_npy.to_str().unwrap(),
            "--output",
            "/tmp/y.npy",
        ],
        &["float32", "<f8"],
    );
    fails_with(
        &[
            "run",
            "models/fmnist-resnet.onnx",
            "--input",
            "models/test/resnet18-cifar.input.npy",
            "--output",
            "/tmp/y.npy",
        ],
        &["shape", "[2, 3, 32, 32]", "[?, 1, 28, 28]"],
    );
    fails_with(&["profile", "--device", "cray-1"], &["unknown hardware `cray-1`", "rpi4"]);
    fails_with(&["eval", "--data", "imagenet"], &["unknown data set", "fashion-mnist"]);
    let out = Command::new(env!("CARGO_BIN_EXE_coinfer"))
        .args(["eval", "--data", "digits"])
        .env("COINFER_SITE_PACKAGES", dir.path())
        .current_dir(root())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("install it with") && err.contains("setup.sh"), "{err}");
    // A command line that does not parse is a usage error (2), not a refused input (1).
    usage_fails_with(&["cuts", "models/fmnist-resnet.onnx", "--no-such-flag"], &["--no-such-flag"]);
    usage_fails_with(&["split", "models/fmnist-resnet.onnx", "--out", "/tmp/x"], &["--at"]);
}

#[test]
fn stopping_examples_run_and_the_optimal_rule_wins() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for args in [
        vec!["stopping", "--config", "examples/stopping-mlp.toml", "--out", out, "--json"],
        vec![
            "stopping",
            "--config",
            "examples/stopping-cnn.toml",
            "--model",
            "models/fmnist-resnet.onnx",
            "--json",
        ],
    ] {
        let v = ok_json(&args);
        let rules = v["rules"].as_array().unwrap();
        let optimal = rules[0]["expected_cost"].as_f64().unwrap();
        for r in rules {
            let exact = r["expected_cost"].as_f64().unwrap();
            assert!(optimal <= exact * (1.0 + 1e-12), "{args:?}: {r}");
            let mc = &r["monte_carlo"];
            let (mean, ci) = (mc["mean"].as_f64().unwrap(), mc["ci95"].as_f64().unwrap());
            assert!((mean - exact).abs() <= 3.0 * ci + 1e-6 * exact, "{args:?}: {r}");
        }
        let all = v["placement"]["all"].as_array().unwrap();
        let best = v["placement"]["best"]["total"].as_f64().unwrap();
        assert!(all.iter().all(|c| best <= c["total"].as_f64().unwrap()));
    }
    assert!(std::fs::read_to_string(dir.path().join("stopping.svg")).unwrap().len() > 1000);
    // The page: the rules' table and the figure inline.
    let page = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(page.contains("one-stage look-ahead") && page.contains("<svg"), "{page}");
}

/// Correlated fading: at ρ = 0 the Markov and i.i.d. rules coincide; from ρ = 0.9 the
/// Markov rule is cheaper; every Markov cost is confirmed by Monte Carlo on the chain, the
/// rule runs as rate thresholds, and a chain fitted to the bundled trace works too.
#[test]
fn the_markov_rule_beats_the_iid_rule_on_correlated_fading() {
    let v = ok_json(&[
        "stopping",
        "--config",
        "examples/stopping-mlp.toml",
        "--correlation",
        "0,0.9,0.99",
        "--states",
        "32",
        "--markov-trace",
        "examples/uplink-trace.csv",
        "--json",
    ]);
    let rows = v["markov"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let get = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap();
    for r in rows {
        let (markov, iid) = (get(r, "markov_optimal"), get(r, "iid_optimal"));
        assert!(markov <= iid * (1.0 + 1e-12), "{r}");
        for other in ["markov_osla", "iid_osla", "best_fixed_split"] {
            assert!(markov <= get(r, other) * (1.0 + 1e-12), "{other}: {r}");
        }
        let mc = &r["markov_monte_carlo"];
        assert!((get(mc, "mean") - markov).abs() <= 3.0 * get(mc, "ci95") + 1e-9, "{r}");
        // A quantised Gauss–Markov chain is monotone: the rule is a rate threshold per stage
        // (a chain fitted to 600 trace samples need not be).
        if r["rho"].is_f64() {
            assert_eq!(r["threshold_form"], true, "{r}");
        }
    }
    assert!(get(&rows[0], "gap").abs() < 1e-12, "ρ = 0: {}", rows[0]);
    assert!(get(&rows[1], "gap") > 0.01, "ρ = 0.9: {}", rows[1]);
    assert!(get(&rows[2], "gap") > get(&rows[1], "gap"), "ρ = 0.99: {}", rows[2]);
    assert!(rows[3]["channel"].as_str().unwrap().contains("uplink-trace.csv"));
    // The trace's held-out replay: the learned rule (fitted continuation values) and the
    // fitted Markov rule both beat the i.i.d. optimum on data none of them saw.
    let replayed = rows[3]["held_out"]["replayed"].as_array().unwrap();
    let cost = |name: &str| {
        replayed.iter().find(|r| r[0].as_str().unwrap().starts_with(name)).unwrap()[1]
            .as_f64()
            .unwrap()
    };
    assert!(cost("learned") < cost("i.i.d. optimal"), "{replayed:?}");
    assert!(cost("Markov optimal") < cost("i.i.d. optimal"), "{replayed:?}");
    assert_eq!(replayed.len(), 6);
    // The Markov rule in runtime form, for a real model: one minimum rate per stage.
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("markov-rule.json");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "stopping",
            "--config",
            "examples/stopping-cnn.toml",
            "--model",
            "models/fmnist-resnet.onnx",
            "--markov-online-rule",
            rule.to_str().unwrap(),
        ];
        v.extend_from_slice(extra);
        v.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let one: Vec<String> = args(&["--correlation", "0.9", "--json"]);
    ok_json(&one.iter().map(String::as_str).collect::<Vec<_>>());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rule).unwrap()).unwrap();
    let (cuts, rates) =
        (written["cuts"].as_array().unwrap(), written["min_rate_bps"].as_array().unwrap());
    assert!(!rates.is_empty() && rates.len() <= cuts.len() + 1, "{written}");
    let two: Vec<String> = args(&["--correlation", "0.5,0.9"]);
    fails_with(&two.iter().map(String::as_str).collect::<Vec<_>>(), &["exactly one"]);
    // Bad correlation and a trace too short for its lag: clear errors.
    fails_with(
        &["stopping", "--config", "examples/stopping-mlp.toml", "--correlation", "1.0"],
        &["rho"],
    );
    fails_with(
        &[
            "stopping",
            "--config",
            "examples/stopping-mlp.toml",
            "--markov-trace",
            "examples/uplink-trace.csv",
            "--lag",
            "100000",
        ],
        &["no transitions at lag 100000"],
    );
}

#[test]
fn stopping_config_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(root().join("examples/stopping-mlp.toml")).unwrap();
    for (from, to, needle) in [
        ("tx_power_w = 0.2", "tx_power_w = nan", "tx_power_w"),
        (
            "kind = \"rayleigh-quantiles\"\nmean_gain = 1e-13         # path loss ~ -130 dB: mean SNR ≈ 4 dB\nlevels = 32",
            "kind = \"finite-state\"\nstates = [[1e-13, 0.5], [2e-13, 0.4]]",
            "sum to 0.9",
        ),
        ("download_rate_bps = 20e6", "download_rate_bps = -1.0", "download_rate_bps"),
        ("download_rate_bps = 20e6", "download_rate_bps = 0", "must be a finite number > 0"),
        ("layers = 10", "layers = 0", "no layers"),
        // Unknown keys are refused everywhere, not only at the top.
        ("tx_power_w = 0.2 ", "tx_powr_w = 0.3\ntx_power_w = 0.2 ", "tx_powr_w"),
        ("energy = 0.5 ", "energi = 1.0\nenergy = 0.5 ", "energi"),
        // A negative weight is named as the weight, not as the first local cost.
        ("time = 1.0 ", "time = -1.0 ", "weights.time"),
        // Two forms of a device: refused, naming both.
        ("profile = \"rpi4\"", "profile = \"rpi4\"\nmacs_per_s = 1e9", "not a mix of `profile`, `macs_per_s`"),
        ("levels = 32", "levels = 0", "levels"),
        ("profile = \"rpi4\"", "macs_per_s = 0\npower_w = 1", "[device] `macs_per_s` = 0"),
        ("kind = \"mlp\"\nlayers = 10\ninput = 512\nwidth = 512", "kind = \"table\"\ninput_values = 4\nbits_per_value = 32\nlayers = [{ macs = 1, output_values = 2, params = 3, flops = 9 }]", "flops"),
        ("samples = 200000", "samples = 0", "monte_carlo.samples"),
    ] {
        assert!(base.contains(from), "{from}");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, base.replace(from, to)).unwrap();
        fails_with(&["stopping", "--config", path.to_str().unwrap()], &[needle]);
    }
    // A horizon beyond the network.
    fails_with(
        &["stopping", "--config", "examples/stopping-mlp.toml", "--horizon", "11"],
        &["horizon 11", "10 layers"],
    );
}

#[test]
fn codec_sweep_reports_real_frame_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let v = ok_json(&[
        "codec",
        "sweep",
        "--cut",
        "8",
        "--images",
        "200",
        "--calibration",
        "100",
        "--out",
        out,
        "--json",
    ]);
    let fp32 = v["fp32_feature_bytes"].as_f64().unwrap();
    let rows = v["rows"].as_array().unwrap();
    let row = |name: &str| rows.iter().find(|r| r["codec"] == name).unwrap();
    // Raw float32: the feature plus the frame header (magic, version, shape, lengths, CRC).
    let raw = row("raw-f32")["bytes_per_sample"].as_f64().unwrap();
    assert!(raw > fp32 && raw < fp32 + 64.0, "{raw} vs {fp32}");
    assert_eq!(row("raw-f32")["accuracy_drop"], 0.0);
    // Packed uniform sizes grow with the bit width; 8 bits costs about a quarter of fp32.
    let size =
        |b: u8| row(&format!("uniform-{b}b-per-tensor"))["bytes_per_sample"].as_f64().unwrap();
    assert!(size(1) < size(2) && size(2) < size(4) && size(4) < size(8));
    // Same header as raw plus 14 bytes of quantizer parameters (bits, mode, count, lo, hi).
    assert_eq!(size(8), fp32 / 4.0 + (raw - fp32) + 14.0);
    let csv = std::fs::read_to_string(dir.path().join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), rows.len() + 1);
    // The input baseline: PNG is lossless (no accuracy change), JPEG shrinks with quality.
    assert_eq!(row("input-png")["accuracy_drop"], 0.0);
    let jpeg = |q: u8| row(&format!("input-jpeg-q{q}"))["bytes_per_sample"].as_f64().unwrap();
    assert!(jpeg(10) < jpeg(50) && jpeg(50) < jpeg(90));
}

#[test]
fn prune_writes_a_smaller_model_that_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.onnx");
    let v = ok_json(&[
        "prune",
        "--uniform",
        "0.5",
        "--until",
        "9",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        v["head"]["macs_after"].as_u64().unwrap() < v["head"]["macs_before"].as_u64().unwrap() / 2
    );
    assert!(v["macs"]["after"].as_u64().unwrap() < v["macs"]["before"].as_u64().unwrap());
    let e = ok_json(&["eval", out.to_str().unwrap(), "--limit", "200", "--json"]);
    assert!(e["accuracy"].as_f64().is_some());
    fails_with(&["prune", "--uniform", "1.0", "--out", out.to_str().unwrap()], &["outside [0, 1)"]);
    let m = "models/fmnist-resnet.onnx";
    fails_with(&["compose", m, m, "--out", out.to_str().unwrap()], &["does not fit", "image"]);
    let ratios = dir.path().join("r.toml");
    std::fs::write(&ratios, "logits = 0.5\n").unwrap();
    fails_with(
        &["prune", "--ratios", ratios.to_str().unwrap(), "--out", out.to_str().unwrap()],
        &["cannot be pruned", "graph output"],
    );
    // The sweep: more pruning, fewer head MACs; CSV and SVG written.
    let rep = dir.path().join("rep");
    let v = ok_json(&[
        "prune",
        "--sweep",
        "0,0.3,0.6",
        "--until",
        "9",
        "--images",
        "200",
        "--report",
        rep.to_str().unwrap(),
        "--json",
    ]);
    let macs: Vec<u64> =
        v["rows"].as_array().unwrap().iter().map(|r| r["head_macs"].as_u64().unwrap()).collect();
    assert!(macs[0] > macs[1] && macs[1] > macs[2], "{macs:?}");
    assert!(rep.join("prune-sweep.csv").exists() && rep.join("prune-sweep.svg").exists());
    std::fs::write(&ratios, "nothing = 0.5\n").unwrap();
    fails_with(
        &["prune", "--ratios", ratios.to_str().unwrap(), "--out", out.to_str().unwrap()],
        &["names no channel group", "stem.conv"],
    );
}

#[test]
fn finetune_recovers_a_pruned_model() {
    let dir = tempfile::tempdir().unwrap();
    let pruned = dir.path().join("p.onnx");
    let tuned = dir.path().join("ft.onnx");
    ok_json(&["prune", "--uniform", "0.5", "--out", pruned.to_str().unwrap(), "--json"]);
    let v = ok_json(&[
        "finetune",
        pruned.to_str().unwrap(),
        "--epochs",
        "1",
        "--limit",
        "1024",
        "--lr",
        "3e-3",
        "--out",
        tuned.to_str().unwrap(),
        "--json",
    ]);
    let (before, after) =
        (v["test_accuracy_before"].as_f64().unwrap(), v["test_accuracy_after"].as_f64().unwrap());
    assert!(after > before, "{before} → {after}");
    assert_eq!(v["history"].as_array().unwrap().len(), 1);
    assert!(dir.path().join("ft.finetune.json").exists());
    // Without --json and with stderr redirected (not a terminal: no bar), the run still says
    // what it does: its stages and every epoch, as plain lines.
    let out = coinfer(&[
        "finetune",
        pruned.to_str().unwrap(),
        "--epochs",
        "1",
        "--limit",
        "256",
        "--out",
        tuned.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("epoch  1: loss"), "{err}");
    assert!(err.contains("done in"), "{err}");
}

#[test]
fn versions_table_reads_as_simulator_model_versions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    ok_json(&[
        "versions", "--widths", "1,0.5", "--epochs", "1", "--limit", "256", "--out", out, "--json",
    ]);
    let text = std::fs::read_to_string(dir.path().join("versions.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let versions: Vec<coinfer_sim::ModelVersion> =
        serde_json::from_value(v["versions"].clone()).unwrap();
    assert_eq!(versions.len(), 2);
    let macs = |i: usize| versions[i].table.layers.iter().map(|l| l.macs).sum::<f64>();
    assert!(macs(1) < 0.5 * macs(0), "width 0.5 has about a quarter of the MACs");
    assert!(versions[0].accuracy > 0.9);
    for e in v["versions"].as_array().unwrap() {
        assert!(dir.path().join(e["file"].as_str().unwrap()).exists());
    }
}

#[test]
fn bottleneck_trains_exports_and_decodes_its_own_frames() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let v = ok_json(&[
        "codec",
        "bottleneck",
        "--cut",
        "9",
        "--channels",
        "2",
        "--bits",
        "3",
        "--epochs",
        "1",
        "--limit",
        "512",
        "--images",
        "200",
        "--out",
        out,
        "--json",
    ]);
    // 2 channels × 7 × 7 at 3 bits, entropy coded: far below the 6272 B fp32 feature.
    assert!(v["compression_vs_fp32"].as_f64().unwrap() > 40.0, "{v}");
    for f in ["encoder.onnx", "decoder.onnx", "device.onnx", "edge.onnx", "codec.json"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    // The sweep evaluates the deployed bottleneck from its directory.
    let s = ok_json(&[
        "codec",
        "sweep",
        "--cut",
        "9",
        "--images",
        "100",
        "--calibration",
        "50",
        "--bottleneck",
        out,
        "--no-input-baseline",
        "--out",
        out,
        "--json",
    ]);
    let rows = s["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["family"] == "bottleneck"));
    // Re-coded without retraining: session frames carry 6 bytes beyond the payload where a
    // full frame carries its shape and fingerprint; same accuracy (same symbols).
    let calibrate = |frames: &str| {
        let args = ["codec", "calibrate", out, "--frames", frames, "--calibration", "500"];
        ok_json(&[&args[..], &["--images", "200", "--json"]].concat())
    };
    let full = calibrate("full");
    let session = calibrate("session-context");
    assert!(full["header_bytes"].as_f64().unwrap() > 30.0, "{full}");
    assert_eq!(session["header_bytes"].as_f64(), Some(6.0), "{session}");
    let bytes = |v: &serde_json::Value| v["bytes_per_sample"].as_f64().unwrap();
    assert!(bytes(&session) + 25.0 < bytes(&full), "{session} vs {full}");
    assert_eq!(session["accuracy"], full["accuracy"]);
    assert!(dir.path().join("calibration.json").exists());
    fails_with(&["codec", "calibrate", "models"], &["no trained bottleneck", "codec bottleneck"]);
    // The same bottleneck behind the codec trait: feature → frame → feature.
    use coinfer_compress::{DecodeLimits, Feature, FeatureCodec};
    let engine = coinfer_engine::engine_for_name("tract").unwrap();
    let codec = coinfer_engine::LearnedCodec::load(dir.path(), engine.as_ref()).unwrap();
    let x = Feature::new(vec![1, 32, 7, 7], (0..1568).map(|i| (i % 7) as f32 / 3.0).collect());
    let x = x.unwrap();
    let frame = codec.encode(&x).unwrap();
    assert!(frame.len() < 6272 / 40, "{} bytes", frame.len());
    let y = codec.decode(&frame, &DecodeLimits::default()).unwrap();
    assert_eq!(y.shape, x.shape);
    assert!(y.values.iter().all(|v| v.is_finite() && *v >= 0.0), "decoder ends in a ReLU");
    let wrong = Feature::new(vec![1, 3, 7, 7], vec![0.0; 147]).unwrap();
    assert!(codec.encode(&wrong).is_err(), "a feature of the wrong shape is an error");
    assert!(codec.decode(&frame[..frame.len() - 1], &DecodeLimits::default()).is_err());
    // The code width is itself prunable: in device∘edge the encoder's output channels form a
    // group; pruning half of them halves the feature at the `code` cut.
    let load = |f: &str| coinfer_graph::load_model(&dir.path().join(f)).unwrap();
    let full = coinfer_graph::compose(&load("device.onnx"), &load("edge.onnx"), "edge.").unwrap();
    let full = coinfer_graph::Graph::analyse(full).unwrap();
    let ratios = coinfer_prune::Ratios::PerGroup([("encoder.conv".to_string(), 0.5)].into());
    let pruned = coinfer_prune::prune(&full, &ratios, coinfer_prune::Criterion::L1).unwrap();
    let bytes = |g: &coinfer_graph::Graph| g.find_cut("code").unwrap().feature_bytes;
    assert_eq!(bytes(&pruned.graph) * 2, bytes(&full));
}

/// A free loopback port (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An edge server process, killed when dropped (also when a test fails).
struct EdgeProcess(std::process::Child);

impl EdgeProcess {
    fn kill(&mut self) {
        let _ = self.0.kill(); // SIGKILL: no goodbye
        let _ = self.0.wait();
    }
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `coinfer edge serve` on `port` (token `t0k`) with `extra` flags.
fn spawn_edge(port: u16, metrics: u16, extra: &[&str]) -> EdgeProcess {
    spawn_edge_with(port, metrics, &[&["--token", "t0k"], extra].concat())
}

/// `coinfer edge serve` with TLS (the edge certificate `edge tls-init` wrote in `pki`), the
/// `credentials` file and `extra` flags.
fn spawn_tls_edge(
    port: u16,
    metrics: u16,
    pki: &std::path::Path,
    credentials: &std::path::Path,
    extra: &[&str],
) -> EdgeProcess {
    let p = |f: &str| pki.join(f).to_str().unwrap().to_string();
    let (cert, key) = (p("edge.pem"), p("edge-key.pem"));
    let base =
        ["--credentials", credentials.to_str().unwrap(), "--tls-cert", &cert, "--tls-key", &key];
    spawn_edge_with(port, metrics, &[&base[..], extra].concat())
}

/// `coinfer edge serve` on `port` with exactly `extra` flags.
fn spawn_edge_with(port: u16, metrics: u16, extra: &[&str]) -> EdgeProcess {
    let child = Command::new(env!("CARGO_BIN_EXE_coinfer"))
        .args(["edge", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics", &format!("127.0.0.1:{metrics}")])
        .args(extra)
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Ready when it accepts connections.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    EdgeProcess(child)
}

/// The edge's Prometheus text (empty if it does not answer).
fn metrics_text(metrics: u16) -> String {
    use std::io::{Read, Write};
    let mut text = String::new();
    if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", metrics)) {
        let _ = s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
        let _ = s.read_to_string(&mut text);
    }
    text
}

/// Requests the edge on `metrics` has answered.
fn edge_answered(metrics: u16) -> u64 {
    let text = metrics_text(metrics);
    let line = text.lines().find(|l| l.starts_with("coinfer_edge_requests_total{outcome=\"ok\"}"));
    line.and_then(|l| l.split_whitespace().last()?.parse().ok()).unwrap_or(0)
}

/// Polls until the edge on `metrics` has answered `n` requests (or fails after 60 s).
fn wait_for_answers(metrics: u16, n: u64, what: &str) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while edge_answered(metrics) < n {
        assert!(std::time::Instant::now() < give_up, "{what}: the edge never answered {n}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sequenced by what the processes report, not by sleeps: the first edge is killed once it
/// has answered 10 requests; it is restarted once the device has logged that it fell back;
/// the device must come back to the restarted edge.
/// A device given two edges: the first is killed mid-run; every request is still answered by
/// an edge (the second), none on the device, and both edges answered some.
#[test]
fn devices_fail_over_to_a_second_edge_before_answering_locally() {
    let (port_a, metrics_a) = (free_port(), free_port());
    let (port_b, metrics_b) = (free_port(), free_port());
    let mut edge_a = spawn_edge(port_a, metrics_a, &[]);
    let _edge_b = spawn_edge(port_b, metrics_b, &[]);
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("r.csv");
    let edges = format!("http://127.0.0.1:{port_a},http://127.0.0.1:{port_b}");
    let device = Command::new(env!("CARGO_BIN_EXE_coinfer"))
        .args(["device", "run", "--edge", &edges, "--plan", "examples/plan-two-devices.json"])
        .args(["--device", "cam-1", "--n", "200", "--interval-ms", "8", "--json"])
        .args(["--retry-after-ms", "100", "--token", "t0k", "--records"])
        .arg(&records)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_answers(metrics_a, 20, "before the kill");
    edge_a.kill();
    let out = device.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["summary"];
    assert_eq!(s["requests"], 200);
    assert_eq!(
        (s["edge"].as_u64(), s["fallback"].as_u64(), s["local"].as_u64()),
        (Some(200), Some(0), Some(0)),
        "no request left for the device while the second edge was up: {s}"
    );
    let csv = std::fs::read_to_string(&records).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "edge_index").unwrap();
    let ts = header.iter().position(|h| *h == "unix_ms").unwrap();
    let rows: Vec<Vec<String>> =
        lines.map(|l| l.split(',').map(str::to_string).collect()).collect();
    let stamps: Vec<f64> = rows.iter().map(|r| r[ts].parse().unwrap()).collect();
    assert!(stamps.windows(2).all(|w| w[1] >= w[0]), "records carry increasing timestamps");
    assert!(stamps[0] > 1.7e12, "wall-clock ms since the epoch: {}", stamps[0]);
    let used: std::collections::BTreeSet<String> = rows.iter().map(|r| r[col].clone()).collect();
    assert_eq!(used.into_iter().collect::<Vec<_>>(), ["0", "1"], "both edges answered");
    assert!(edge_answered(metrics_b) > 0);
}

#[test]
fn devices_survive_the_edge_process_being_killed_and_restarted() {
    let (port, metrics) = (free_port(), free_port());
    let mut edge = spawn_edge(port, metrics, &[]);
    let url = format!("http://127.0.0.1:{port}");
    let device = Command::new(env!("CARGO_BIN_EXE_coinfer"))
        .args(["device", "run", "--edge", &url, "--plan", "examples/plan-two-devices.json"])
        .args(["--device", "cam-1", "--n", "300", "--interval-ms", "8", "--json"])
        .args(["--retry-after-ms", "100", "--token", "t0k"])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut device = device;
    let stderr = device.stderr.take().unwrap();
    let (tx, fell_back) = std::sync::mpsc::channel();
    let log = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = vec![];
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("edge unavailable") {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines.join("\n")
    });
    wait_for_answers(metrics, 10, "before the kill");
    edge.kill();
    let noticed = fell_back.recv_timeout(std::time::Duration::from_secs(60));
    assert!(noticed.is_ok(), "the device never reported falling back");
    // Restarted with a multi-threaded I/O runtime: the same protocol, the same answers.
    let (metrics2, _edge) = {
        let m = free_port();
        (m, spawn_edge(port, m, &["--io-threads", "2"]))
    };
    wait_for_answers(metrics2, 5, "after the restart (did the device finish first?)");
    let out = device.wait_with_output().unwrap();
    let log = log.join().unwrap();
    assert!(out.status.success(), "{log}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["summary"];
    assert_eq!(s["requests"], 300);
    let (e, f, l) = (
        s["edge"].as_u64().unwrap(),
        s["fallback"].as_u64().unwrap(),
        s["local"].as_u64().unwrap(),
    );
    assert_eq!(e + f + l, 300, "every request accounted for: {s}");
    assert!(f > 0, "the kill was noticed: {s}");
    // Every answer of the restarted edge reached the device, and some of the first edge's.
    let after = edge_answered(metrics2);
    assert!(
        after >= 5 && e > after,
        "served before ({}) and after ({after}) the kill: {s}",
        e - after
    );
    assert!(s["accuracy"].as_f64().unwrap() > 0.85, "{s}");
}

#[test]
fn edge_refuses_devices_without_the_token_and_reports_metrics() {
    let (port, metrics) = (free_port(), free_port());
    let _edge = spawn_edge(port, metrics, &["--pin-workers", "--busy-poll-us", "300"]);
    let url = format!("http://127.0.0.1:{port}");
    // Without the token every request falls back to the device, with the reason: the run
    // fails (exit 1) saying so, its JSON and records written all the same.
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("r.csv");
    let out = coinfer(&[
        "device",
        "run",
        "--edge",
        &url,
        "--plan",
        "examples/plan-two-devices.json",
        "--device",
        "cam-2",
        "--n",
        "5",
        "--json",
        "--records",
        records.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no request reached the edge") && err.contains("--allow-fallback"),
        "{err}"
    );
    assert!(err.contains("Unauthenticated") || err.contains("token"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["fallback"], 5, "{v}");
    let csv = std::fs::read_to_string(&records).unwrap();
    assert!(csv.contains("Unauthenticated"), "{csv}");
    // With it, through an emulated 5 Mbit/s link, the edge answers.
    let v = ok_json(&[
        "device",
        "run",
        "--edge",
        &url,
        "--plan",
        "examples/plan-two-devices.json",
        "--device",
        "cam-2",
        "--n",
        "5",
        "--json",
        "--token",
        "t0k",
        "--rate-mbps",
        "5",
        "--delay-ms",
        "2",
        "--records",
        records.to_str().unwrap(),
    ]);
    assert_eq!(v["summary"]["edge"], 5, "{v}");
    let network = v["summary"]["stage_means_ms"]["transmit"].as_f64().unwrap();
    assert!(network > 4.0, "3.2 kB at 5 Mbit/s + 4 ms RTT takes > 4 ms, measured {network}");
    // The stage columns add up to the end-to-end mean ("other" included) ...
    let m = &v["summary"]["stage_means_ms"];
    let stages: f64 = ["head", "encode", "transmit", "edge_shaping", "edge_decode", "edge_queue"]
        .iter()
        .chain(&["edge_tail", "other"])
        .map(|k| m[k].as_f64().unwrap())
        .sum();
    assert!((stages - m["e2e"].as_f64().unwrap()).abs() < 1e-6, "{m}");
    // ... and per request, after the first (when the fresh edge prepares the tail, which no
    // stage counts), the stages account for all but a fraction of a millisecond.
    let csv = std::fs::read_to_string(&records).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |row: &[&str], k: &str| -> f64 {
        row[header.iter().position(|h| *h == k).unwrap()].parse().unwrap()
    };
    for line in lines.skip(1) {
        let row: Vec<&str> = line.split(',').collect();
        let parts: f64 =
            ["head_ms", "encode_ms", "transmit_ms", "edge_shaping_ms", "edge_decode_ms"]
                .iter()
                .chain(&["edge_queue_ms", "edge_tail_ms"])
                .map(|k| col(&row, k))
                .sum();
        let e2e = col(&row, "e2e_ms");
        assert!(e2e - parts < 0.5 && e2e >= parts, "{e2e} ms vs stages {parts} ms: {line}");
    }
    let health = ok_json(&["edge", "health", "--edge", &url, "--json"]);
    assert_eq!(health["status"], "SERVING");
    let text = metrics_text(metrics);
    // One refusal; the device then leaves the edge alone for --retry-after-ms.
    assert!(text.contains("coinfer_edge_requests_total{outcome=\"unauthenticated\"} 1"), "{text}");
    assert!(text.contains("coinfer_edge_requests_total{outcome=\"ok\"} 5"), "{text}");
    // A bad plan is refused with the reason.
    fails_with(&["device", "run", "--plan", "Cargo.toml"], &["plan"]);
}

/// The edge over TLS with per-device credentials, set up with the CLI alone: a device with
/// its client certificate and one with its token are answered through an emulated link; a
/// device using another's credential, a revoked one, and a plaintext client are refused (and
/// answered locally, saying why); only the operator sets shares.
#[test]
fn edge_over_tls_serves_each_device_only_as_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, cred) = (dir.path().join("pki"), dir.path().join("credentials.toml"));
    let (pki_s, cred_s) = (pki.to_str().unwrap(), cred.to_str().unwrap());
    let init = ok_json(&[
        "edge",
        "tls-init",
        "--dir",
        pki_s,
        "--device",
        "cam-1",
        "--credentials",
        cred_s,
        "--json",
    ]);
    assert_eq!(init["devices"]["cam-1"]["sha256"].as_str().unwrap().len(), 64, "{init}");
    let token = |id: &str, extra: &[&str]| -> String {
        let v = ok_json(
            &[
                &["edge", "credentials", "--file", cred_s, "add", "--id", id][..],
                extra,
                &["--json"],
            ]
            .concat(),
        );
        v["token"].as_str().unwrap().to_string()
    };
    let (cam2, ops) = (token("cam-2", &[]), token("ops", &["--operator"]));
    let p = |f: &str| pki.join(f).to_str().unwrap().to_string();
    let (port, metrics) = (free_port(), free_port());
    let _edge = spawn_tls_edge(
        port,
        metrics,
        &pki,
        &cred,
        &["--tls-client-ca", &p("ca.pem"), "--tls-client-cert-optional"],
    );
    let url = format!("https://localhost:{port}");
    let ca = p("ca.pem");
    let run = |device: &str, auth: &[&str], url: &str| -> serde_json::Value {
        ok_json(&[
            &["device", "run", "--edge", url, "--plan", "examples/plan-two-devices.json"][..],
            // Some of these runs are refused on purpose: all fallback is expected.
            &["--device", device, "--n", "4", "--json", "--tls-ca", &ca, "--allow-fallback"][..],
            &["--rate-mbps", "20", "--delay-ms", "1"][..],
            auth,
        ]
        .concat())
    };
    let (c1, k1) = (p("cam-1.pem"), p("cam-1-key.pem"));
    let v = run("cam-1", &["--tls-cert", &c1, "--tls-key", &k1], &url);
    assert_eq!(v["summary"]["edge"], 4, "cam-1 by its certificate: {v}");
    let v = run("cam-2", &["--token", &cam2], &url);
    assert_eq!(v["summary"]["edge"], 4, "cam-2 by its token: {v}");
    // cam-1's certificate used for cam-2: refused, the reason in the records.
    let v = run("cam-2", &["--tls-cert", &c1, "--tls-key", &k1], &url);
    assert_eq!(v["summary"]["fallback"], 4, "{v}");
    assert!(v.to_string().contains("may not send as device"), "{v}");
    // Only the operator sets shares.
    let set = |t: &str, extra: &[&str]| {
        let args = ["edge", "shares", "--edge", &url, "--tls-ca", &ca, "--token", t, "--plan"];
        coinfer(&[&args[..], &["examples/plan-two-devices.json"], extra].concat())
    };
    let denied = set(&cam2, &[]);
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("only an operator"), "{denied:?}");
    assert!(set(&ops, &[]).status.success());
    // `--json` answers in JSON: the shares the plan grants, every device set.
    let out = set(&ops, &["--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["devices_set"], 3, "{v}");
    assert_eq!(v["shares"][1]["device_id"], "cam-2", "{v}");
    assert_eq!(v["shares"][1]["bandwidth_bps"], 8e6, "40 % of 20 Mbit/s: {v}");
    // Revoked with the CLI: refused within a second, no restart.
    let out = coinfer(&["edge", "credentials", "--file", cred_s, "revoke", "--id", "cam-2"]);
    assert!(out.status.success(), "{out:?}");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let v = run("cam-2", &["--token", &cam2], &url);
    assert_eq!(v["summary"]["fallback"], 4, "{v}");
    assert!(v.to_string().contains("revoked"), "{v}");
    // A plaintext client gets nothing from the TLS edge.
    let plain = format!("http://127.0.0.1:{port}");
    let v = ok_json(&[
        "device",
        "run",
        "--edge",
        &plain,
        "--plan",
        "examples/plan-two-devices.json",
        "--device",
        "cam-2",
        "--n",
        "2",
        "--json",
        "--token",
        &cam2,
        "--allow-fallback",
    ]);
    assert_eq!(v["summary"]["fallback"], 2, "{v}");
    let health = ok_json(&["edge", "health", "--edge", &url, "--tls-ca", &ca, "--json"]);
    assert_eq!(health["status"], "SERVING");
}

/// The project's Python (scripts/setup.sh makes it).
fn venv_python() -> PathBuf {
    let py = root().join(".venv/bin/python");
    assert!(py.exists(), "{} missing: run scripts/setup.sh", py.display());
    py
}

/// A client written from docs/protocol.md alone — Python grpcio, frames built by hand with
/// numpy, a head fetched and run in onnxruntime, metrics parsed by prometheus_client — drives
/// a plaintext edge with a shared token and a TLS edge with per-device credentials.
#[test]
fn a_python_grpc_client_follows_the_protocol_spec() {
    let conformance = |edge: &str, metrics: &str, extra: &[&str]| {
        let out = Command::new(venv_python())
            .arg("clients/python/conformance.py")
            .args(["--edge", edge, "--metrics", metrics])
            .args(extra)
            .current_dir(root())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
        let last = text.lines().last().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(last).unwrap();
        assert_eq!(v["passed"], true);
        assert!(v["checks"].as_array().unwrap().len() >= 30, "{v}");
    };
    let (port, metrics) = (free_port(), free_port());
    {
        let _edge = spawn_edge(port, metrics, &[]);
        conformance(
            &format!("127.0.0.1:{port}"),
            &format!("http://127.0.0.1:{metrics}/metrics"),
            &["--token", "t0k"],
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (pki, cred) = (dir.path().join("pki"), dir.path().join("credentials.toml"));
    ok_json(&["edge", "tls-init", "--dir", pki.to_str().unwrap(), "--json"]);
    let add = ok_json(&[
        "edge",
        "credentials",
        "--file",
        cred.to_str().unwrap(),
        "add",
        "--id",
        "py-1",
        "--json",
    ]);
    let p = |f: &str| pki.join(f).to_str().unwrap().to_string();
    let (port, metrics) = (free_port(), free_port());
    let _edge = spawn_tls_edge(port, metrics, &pki, &cred, &[]);
    conformance(
        &format!("localhost:{port}"),
        &format!("https://localhost:{metrics}/metrics"),
        &["--token", add["token"].as_str().unwrap(), "--tls-ca", &p("ca.pem")],
    );
}

/// CPU time (s) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Started with 64 descriptors and offered 200 connections, the edge backs off instead of
/// spinning on accept errors, and serves again once clients leave.
#[test]
fn edge_out_of_descriptors_does_not_spin_and_recovers() {
    let (port, metrics) = (free_port(), free_port());
    let bin = env!("CARGO_BIN_EXE_coinfer");
    let cmd = format!(
        "ulimit -n 64 && exec {bin} edge serve --listen 127.0.0.1:{port} --metrics 127.0.0.1:{metrics} --max-connections 1000"
    );
    let child = Command::new("sh")
        .args(["-c", &cmd])
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _edge = EdgeProcess(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Beyond the accept backlog a connect waits for SYN retries: give each 0.5 s, stop there.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let wait = std::time::Duration::from_millis(500);
    let held: Vec<std::net::TcpStream> =
        (0..200).map_while(|_| std::net::TcpStream::connect_timeout(&addr, wait).ok()).collect();
    assert!(
        held.len() > 100,
        "only {} connections: the edge must be out of descriptors",
        held.len()
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let before = cpu_seconds(pid);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let used = cpu_seconds(pid) - before;
    assert!(used < 0.1, "the edge used {used:.2} s of CPU in 2 s while out of descriptors");
    drop(held);
    // Serves again: its health answers within a few seconds of the clients leaving.
    let url = format!("http://127.0.0.1:{port}");
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = coinfer(&["edge", "health", "--edge", &url]);
        if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("SERVING") {
            break;
        }
        assert!(std::time::Instant::now() < give_up, "the edge did not recover");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The edge publishes two versions 1.5 s apart; the device places each (downloads and
/// verifies its head while it keeps serving) and answers every request throughout.
#[test]
fn devices_place_the_versions_the_edge_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics) = (free_port(), free_port());
    let _edge = spawn_edge(
        port,
        metrics,
        &[
            "--publish",
            "versions/fmnist-resnet-w050,versions/fmnist-resnet-w025",
            "--publish-every-s",
            "1.5",
        ],
    );
    let device_models = dir.path().join("device");
    let v = ok_json(&[
        "device",
        "run",
        "--edge",
        &format!("http://127.0.0.1:{port}"),
        "--plan",
        "examples/plan-placed.json",
        "--token",
        "t0k",
        "--place",
        "examples/placement-runtime.toml",
        "--models",
        device_models.to_str().unwrap(),
        "--poll-ms",
        "200",
        "--n",
        "160",
        "--interval-ms",
        "20",
        "--down-mbps",
        "5",
        "--rate-mbps",
        "8",
        "--json",
    ]);
    let s = &v["summary"];
    assert_eq!(s["requests"], 160);
    assert_eq!((s["fallback"].as_u64(), s["unanswered"].as_u64()), (Some(0), Some(0)), "{s}");
    assert!(s["accuracy"].as_f64().unwrap() > 0.8, "{s}");
    let placements = v["placements"].as_array().unwrap();
    let versions: Vec<&str> = placements.iter().map(|p| p["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["fmnist-resnet-w050", "fmnist-resnet-w025"], "{v}");
    for p in placements {
        let k = p["k"].as_u64().unwrap();
        let [predicted, measured] = [0, 1].map(|i| p["download_s"][i].as_f64().unwrap());
        if k > 0 {
            // On the device's disk, and downloaded at close to the link's rate.
            let file = format!("{}.k{k}.onnx", p["version"].as_str().unwrap());
            assert!(device_models.join("versions").join(&file).is_file(), "{file}");
            assert!(measured > 0.0 && (measured / predicted - 1.0).abs() < 0.5, "{p}");
        }
        let served: u64 = (0..3).map(|i| p["served"][i].as_u64().unwrap()).sum();
        assert!(served > 0, "each placement served requests: {p}");
        assert!(
            p["mean_cost"].as_f64().unwrap() > 0.0 && p["expected_cost"].as_f64().unwrap() > 0.0
        );
    }
}

#[test]
fn the_optimal_stopping_rule_drives_online_splitting_on_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    // The rule goes into the study's --out folder, which does not exist yet.
    let study = dir.path().join("study");
    let rule_path = study.join("rule.json");
    ok_json(&[
        "stopping",
        "--config",
        "examples/stopping-cnn.toml",
        "--model",
        "models/fmnist-resnet.onnx",
        "--online-rule",
        rule_path.to_str().unwrap(),
        "--out",
        study.to_str().unwrap(),
        "--json",
    ]);
    assert!(study.join("stopping.json").is_file());
    let rule: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rule_path).unwrap()).unwrap();
    let plan = serde_json::json!({"devices": [{
        "device_id": "roamer", "model": "fmnist-resnet", "split": {"kind": "edge-only"}, "online": rule,
    }]});
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let (port, metrics) = (free_port(), free_port());
    let _edge = spawn_edge(port, metrics, &[]);
    let records = dir.path().join("r.csv");
    let v = ok_json(&[
        "device",
        "run",
        "--edge",
        &format!("http://127.0.0.1:{port}"),
        "--plan",
        plan_path.to_str().unwrap(),
        "--token",
        "t0k",
        "--n",
        "40",
        "--fading-mbps",
        "2",
        "--rho",
        "0.3",
        "--step-ms",
        "3",
        "--seed",
        "4",
        "--records",
        records.to_str().unwrap(),
        "--json",
    ]);
    let s = &v["summary"];
    assert_eq!(s["requests"], 40);
    assert_eq!(s["fallback"], 0, "{s}");
    assert!(s["accuracy"].as_f64().unwrap() > 0.8, "{s}");
    // The fading rate moved the decision: more than one split point (or local) was used.
    let csv = std::fs::read_to_string(&records).unwrap();
    let mut rdr = csv.lines();
    let header: Vec<&str> = rdr.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "cut").unwrap();
    let cuts: std::collections::BTreeSet<String> =
        rdr.map(|l| l.split(',').nth(col).unwrap_or("").to_string()).collect();
    assert!(cuts.len() > 1, "one split point only: {cuts:?}");
}

#[test]
fn automl_proxy_study_measures_every_proxy_and_resumes_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let tiny = [
        "automl",
        "proxies",
        "--until",
        "9",
        "--short-steps",
        "2",
        "--limit",
        "256",
        "--val-images",
        "200",
        "--recalibration-images",
        "256",
        "--json",
        "--out",
        out,
    ];
    let first = ok_json(&[&tiny[..], &["--configs", "2"]].concat());
    assert_eq!(first["rows"].as_array().unwrap().len(), 2);
    let full_macs = 2_948_800.0; // the default model's card
    for r in first["rows"].as_array().unwrap() {
        assert!(r["macs"].as_f64().unwrap() < full_macs, "{r}");
        for k in ["as_pruned", "adaptive_bn", "short_finetune", "full_finetune"] {
            let acc = r[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&acc), "{k} = {acc}");
        }
    }
    // Resumed with one more configuration: the first two are read back, not measured again.
    let second = ok_json(&[&tiny[..], &["--configs", "3"]].concat());
    let rows = second["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[..2], first["rows"].as_array().unwrap()[..]);
    assert!(second["spearman"][1].as_f64().is_some(), "three rows give a correlation");
    let lines = std::fs::read_to_string(dir.path().join("proxies.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 3);
}

#[test]
fn automl_searches_deploys_and_compares_with_the_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let small = [
        "--cut",
        "9",
        "--episodes",
        "4",
        "--warmup",
        "2",
        "--bits",
        "2,8",
        "--val-images",
        "100",
        "--recalibration-images",
        "128",
        "--json",
    ];
    let v = ok_json(
        &[
            &["automl"][..],
            &small,
            &["--finetune-epochs", "0", "--test-images", "100", "--out", out.to_str().unwrap()],
        ]
        .concat(),
    );
    let done = &v["final"];
    assert!(done["accuracy"].as_f64().unwrap() > 0.0, "{done}");
    // The better of the searched split, device-only and edge-only is deployed.
    let deployed = done["deployed"].as_str().unwrap();
    assert!(["searched", "device-only", "edge-only"].contains(&deployed), "{done}");
    let reward = |k: &str| done[k].as_f64().unwrap();
    assert!(reward("deployed_reward") >= reward("searched_reward"), "{done}");
    assert!(done["prediction"]["total_s"].as_f64().unwrap() > 0.0);
    // The link as given: the default 5 ms round trip and the runtime's gRPC framing.
    assert_eq!(done["prediction"]["rtt_s"].as_f64(), Some(0.005), "{done}");
    let wire = done["prediction"]["wire_up_bytes"].as_f64().unwrap();
    assert!(wire >= done["bytes_per_sample"].as_f64().unwrap() + 88.0, "{done}");
    for f in [
        "plan.json",
        "automl.onnx",
        "automl-codec.json",
        "automl.json",
        "episodes.jsonl",
        "best.json",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let episodes = std::fs::read_to_string(out.join("episodes.jsonl")).unwrap();
    assert_eq!(episodes.lines().count(), 4);

    // The comparison, on the cache the search filled: every baseline has a finite reward.
    let c = ok_json(
        &[
            &["automl", "compare"][..],
            &small,
            &["--seeds", "1", "--exhaustive-limit", "0", "--out", out.to_str().unwrap()],
        ]
        .concat(),
    );
    let methods: Vec<&str> =
        c["methods"].as_array().unwrap().iter().map(|m| m["method"].as_str().unwrap()).collect();
    for m in
        ["ddpg", "random", "uniform + 8-bit", "three-step", "device-only", "neurosurgeon (fp32)"]
    {
        assert!(methods.contains(&m), "{m} missing from {methods:?}");
    }
    assert!(methods.iter().any(|m| m.starts_with("edge-only (")), "{methods:?}");
    // What `coinfer automl` would deploy per seed, and which plan that is.
    let plan = c["methods"].as_array().unwrap().iter().find(|m| m["method"] == "automl plan");
    assert!(plan.is_some_and(|p| p["note"].is_string()), "{c}");
    for m in c["methods"].as_array().unwrap() {
        assert!(m["reward"].as_f64().unwrap().is_finite(), "{m}");
    }
    assert!(out.join("compare.svg").is_file());

    // The sweep over rates and devices, from the same cache, writes its page.
    let sweep_out = dir.path().join("sweep");
    let sweep = coinfer(
        &[
            &["automl", "sweep"][..],
            &small,
            &["--seeds", "1", "--exhaustive-limit", "0", "--rates-mbps", "1,10"],
            &["--devices", "mcu", "--out", sweep_out.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(sweep.status.success(), "{}", String::from_utf8_lossy(&sweep.stderr));
    let page = std::fs::read_to_string(sweep_out.join("index.html")).unwrap();
    assert!(page.contains("automl plan") && page.contains("<svg"), "{page}");
}

/// `mcia sweep` writes its report page: the evaluation per device count and the figure.
#[test]
fn mcia_sweep_writes_its_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let v = ok_json(&[
        "mcia",
        "sweep",
        "experiments/mcia/scenarios/contended-4.toml",
        "--agent",
        "experiments/mcia/contended-4/agent.safetensors",
        "--devices",
        "2,4",
        "--slots",
        "20",
        "--out",
        out,
        "--json",
    ]);
    assert_eq!(v.as_array().unwrap().len(), 2);
    let page = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(page.contains("ppo agent") && page.contains("<svg"), "{page}");
    assert_eq!(page.matches("<table>").count(), 2, "one table per device count");
}

#[test]
fn automl_refuses_bad_budgets_bottlenecks_and_hardware_tables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    fails_with(
        &["automl", "--cut", "9", "--budget-ms", "0.001", "--out", out],
        &["no configuration meets the budget"],
    );
    fails_with(&["automl", "--bottleneck", "models", "--out", out], &["no trained bottleneck"]);
    let table = dir.path().join("times.csv");
    std::fs::write(&table, "layer,seconds\n0,0.001\n").unwrap();
    fails_with(
        &["automl", "--device", table.to_str().unwrap(), "--out", out],
        &["needs a hardware profile"],
    );
    fails_with(&["automl", "compare", "--out", out], &["one --cut or a --bottleneck"]);
    usage_fails_with(
        &["automl", "--budget-ms", "5", "--budget-mmacs", "1", "--out", out],
        &["cannot be used with"],
    );
}

#[test]
fn a_closed_output_pipe_ends_the_run_quietly() {
    // `coinfer … | head`: stdout's reader is gone before the first line is printed.
    for args in
        [vec!["profiles"], vec!["cuts", "models/fmnist-resnet.onnx"], vec!["--json", "profiles"]]
    {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_coinfer"))
            .args(&args)
            .current_dir(root())
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn train_and_versions_refuse_to_overwrite_the_shipped_model_and_versions() {
    let model = root().join("models/fmnist-resnet.onnx");
    let before = std::fs::read(&model).unwrap();
    fails_with(&["train", "--epochs", "1", "--limit", "64"], &["fmnist-resnet.onnx", "--force"]);
    fails_with(&["versions", "--epochs", "1", "--limit", "64"], &["versions.json", "--force"]);
    assert_eq!(std::fs::read(&model).unwrap(), before, "the shipped model is untouched");
    // Any existing file is protected the same way.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.onnx");
    std::fs::write(&out, b"old").unwrap();
    fails_with(&["train", "--epochs", "1", "--out", out.to_str().unwrap()], &["m.onnx", "--force"]);
}

#[test]
fn device_run_says_why_when_nothing_reaches_the_edge() {
    // No edge listens on this port: exit 1 with the cause; --allow-fallback accepts it.
    let url = format!("http://127.0.0.1:{}", free_port());
    let base = ["device", "run", "--plan", "examples/plan-two-devices.json", "--device", "cam-2"];
    let args = [&base[..], &["--n", "3", "--edge", &url, "--health-check-ms", "0"][..]].concat();
    let out = coinfer(&args);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no request reached the edge") && err.contains("3 of 3"), "{err}");
    assert!(err.to_lowercase().contains("connect") || err.contains("refused"), "{err}");
    // The table still prints, with the first error.
    assert!(String::from_utf8_lossy(&out.stdout).contains("first edge error"), "{out:?}");
    let ok = coinfer(&[&args[..], &["--allow-fallback"][..]].concat());
    assert!(ok.status.success(), "{ok:?}");
    // A URL without its scheme is refused up front, naming the fix.
    let bare = url.trim_start_matches("http://").to_string();
    let out = coinfer(&[&base[..], &["--n", "1", "--edge", &bare][..]].concat());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("http://"), "{err}");
}

/// `coinfer plan` on the bundled model with real test images as unlabelled samples: every
/// option is tried and checked, the chosen one is the fastest that meets the agreement floor,
/// exact (raw float32) splits agree everywhere, and the folder holds the model and the plan.
#[test]
fn plan_chooses_the_fastest_option_that_agrees_with_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let data =
        coinfer_data::load(coinfer_data::DatasetName::FashionMnist, coinfer_data::Split::Test)
            .unwrap();
    let (x, _) = data.slice(0, 64);
    let samples = dir.path().join("x.npy");
    coinfer_engine::write_npy(&samples, &x).unwrap();
    let out = dir.path().join("plan");
    let plan = |rate: &str, floor: &str| {
        let v = ok_json(&[
            "plan",
            "models/fmnist-resnet.onnx",
            "--rate-mbps",
            rate,
            "--inputs",
            samples.to_str().unwrap(),
            "--min-agreement",
            floor,
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        v["report"].clone()
    };
    let r = plan("20", "0.99");
    assert_eq!(r["samples_given"], true);
    assert_eq!(
        (r["calibration_samples"].as_u64(), r["check_samples"].as_u64()),
        (Some(32), Some(32))
    );
    let candidates = r["candidates"].as_array().unwrap();
    let cuts = coinfer_graph::Graph::load(&root().join("models/fmnist-resnet.onnx"))
        .unwrap()
        .cut_points()
        .len();
    assert_eq!(candidates.len(), 1 + 6 * (cuts + 1), "device-only, then 6 codecs per option");
    let total = |c: &serde_json::Value| c["prediction"]["total_s"].as_f64().unwrap();
    let chosen = &candidates[r["chosen"].as_u64().unwrap() as usize];
    assert!(chosen["agreement"].as_f64().unwrap() >= 0.99);
    for c in candidates {
        let agreement = c["agreement"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&agreement));
        assert_eq!(c["meets_floor"], agreement >= 0.99);
        if c["meets_floor"] == true {
            assert!(total(chosen) <= total(c), "{} is faster than the chosen {}", c, chosen);
        }
        if c["codec"] == "raw-f32" {
            assert_eq!(agreement, 1.0, "an exact split agrees everywhere: {c}");
        }
    }
    // Offloading pays at 20 Mbit/s from a microcontroller; the plan sends less than fp32.
    assert_ne!(chosen["split"], "DeviceOnly", "{chosen}");
    assert_ne!(chosen["codec"], "raw-f32", "{chosen}");
    let written = std::fs::read_to_string(out.join("plan.json")).unwrap();
    let written = coinfer_sim::Plan::from_json(&written).unwrap();
    assert_eq!(written.devices[0].model, "fmnist-resnet");
    assert_eq!(
        std::fs::read(out.join("fmnist-resnet.onnx")).unwrap(),
        std::fs::read(root().join("models/fmnist-resnet.onnx")).unwrap()
    );
    // A floor of 100 %: only options that agree on every sample.
    let strict = plan("20", "1");
    let chosen = &strict["candidates"][strict["chosen"].as_u64().unwrap() as usize];
    assert_eq!(chosen["agreement"], 1.0);

    // Bad input: a clear refusal.
    let bad = dir.path().join("bad.npy");
    coinfer_engine::write_npy(&bad, &coinfer_engine::Tensor::zeros(vec![4, 3, 28, 28])).unwrap();
    let model = "models/fmnist-resnet.onnx";
    fails_with(
        &["plan", model, "--rate-mbps", "1", "--inputs", bad.to_str().unwrap()],
        &["shape [4, 3, 28, 28]", "(N, 1, 28, 28)"],
    );
    fails_with(&["plan", model, "--rate-mbps", "0"], &["--rate-mbps"]);
    fails_with(&["plan", model, "--rate-mbps", "1", "--min-agreement", "1.5"], &["[0, 1]"]);
    fails_with(&["plan", model, "--rate-mbps", "1", "--samples", "1"], &["at least 2"]);
}

/// A third-party model with symbolic input dims, planned on random inputs (and saying so),
/// then served and run as planned on the real runtime from the folder `plan` wrote.
#[test]
fn plan_of_a_model_from_the_wild_runs_on_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan");
    let model = "models/corpus/mbv3-dynhw.onnx";
    let args = ["plan", model, "--input-shape", "image:1,3,128,160", "--rate-mbps", "50"];
    let v = ok_json(
        &[&args[..], &["--samples", "16", "--out", out.to_str().unwrap(), "--json"]].concat(),
    );
    assert_eq!(v["report"]["samples_given"], false);
    let plan: coinfer_sim::Plan =
        coinfer_sim::Plan::from_json(&std::fs::read_to_string(out.join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(plan.devices[0].input_shape["image"], vec![1, 3, 128, 160]);
    // Without --json it says that agreement was measured on noise.
    let text = coinfer(&[&args[..], &["--samples", "4", "--out", out.to_str().unwrap()]].concat());
    assert!(String::from_utf8_lossy(&text.stdout).contains("random inputs"));

    let x = coinfer_engine::Tensor::from_shape_fn(vec![4, 3, 128, 160], |i| {
        ((i[1] * 7 + i[2] * 3 + i[3]) % 11) as f32 / 11.0
    });
    let inputs = dir.path().join("x.npy");
    coinfer_engine::write_npy(&inputs, &x).unwrap();
    let (port, metrics) = (free_port(), free_port());
    let (plan_file, models) = (out.join("plan.json"), out.to_str().unwrap().to_string());
    let _edge = spawn_edge_with(
        port,
        metrics,
        &["--models", &models, "--plan", plan_file.to_str().unwrap()],
    );
    let v = ok_json(&[
        "device",
        "run",
        "--plan",
        plan_file.to_str().unwrap(),
        "--models",
        &models,
        "--edge",
        &format!("http://127.0.0.1:{port}"),
        "--inputs",
        inputs.to_str().unwrap(),
        "--n",
        "8",
        "--json",
    ]);
    let s = &v["summary"];
    assert!(
        !matches!(plan.devices[0].split, coinfer_sim::SplitChoice::DeviceOnly),
        "at 50 Mbit/s the microcontroller offloads: {:?}",
        plan.devices[0]
    );
    assert_eq!(s["requests"], 8);
    assert_eq!(s["labelled"], 0, "unlabelled inputs");
    assert_eq!(s["edge"], 8, "every request served by the edge: {v}");
}

/// Opens `page` in headless Chromium (scripts/check_report.py) with a screenshot to `shot`;
/// the checker's JSON and whether it passed.
fn browser_check(page: &Path, shot: &Path) -> (serde_json::Value, bool) {
    let out = Command::new(venv_python())
        .arg(root().join("scripts/check_report.py"))
        .arg(page)
        .arg("--screenshot")
        .arg(shot)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "checker said: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.success())
}

/// The demo's report, `index.html`, opened in a real browser with the network cut off: it
/// loads with no console message, fetches nothing, and every figure has a box. The screenshot
/// is kept in target/report-check/ to look at. A page with each fault is caught.
#[test]
fn demo_report_renders_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let demo = coinfer(&[
        "demo",
        "--images",
        "200",
        "--runtime-images",
        "5",
        "--seed-requests",
        "6",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("coinfer demo --images 200"), "the command that reproduces it");

    // The three papers, executed: seed 000's shipped plans run on the demo's images and
    // compared with the best baseline; seed 002 and 001 on the real runtime.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("demo.json")).unwrap()).unwrap();
    let seeds = &v["seeds"];
    let automl = seeds["automl"].as_array().unwrap();
    assert_eq!(automl.len(), 3, "plans for 0.1, 1 and 10 Mbit/s");
    for r in automl {
        let speedup = r["speedup"].as_f64().unwrap();
        assert!(speedup > 0.5 && speedup < 3.0, "{r}");
        assert!(r["accuracy"].as_f64().unwrap() > 0.85, "executed here: {r}");
        assert_eq!(r["images"], 200);
    }
    // At 1 Mbit/s the searched split beats every baseline (docs/results.md § AutoML).
    assert_eq!(automl[1]["shipped"]["deployed"], "searched");
    assert!(automl[1]["speedup"].as_f64().unwrap() > 1.0, "{}", automl[1]);
    let checks: Vec<_> = seeds["automl_runtime"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["checks"].as_array().unwrap().clone())
        .collect();
    assert_eq!(checks.len(), 3);
    for c in &checks {
        assert_eq!(c["measured"]["requests"], 6, "{c}");
    }
    let rules = seeds["placement"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["rule"].as_str().unwrap().contains("look-ahead")), "{rules:?}");
    for r in rules {
        assert!(r["measured_cost"]["mean"].as_f64().unwrap() > 0.0, "{r}");
    }
    let methods = seeds["mcia_eval"]["methods"].as_array().unwrap();
    assert!(methods.iter().any(|m| m["method"] == "ppo agent"), "{methods:?}");
    let runs = seeds["mcia_deploy"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 8, "4 devices × 2 slots");
    for r in runs {
        let served: u64 = r["served"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).sum();
        assert_eq!(served, 6, "every request answered: {r}");
    }
    let shots = root().join("target/report-check");
    let (v, ok) = browser_check(&out.join("index.html"), &shots.join("demo.png"));
    assert!(ok, "{v:#}");
    let figures = v["figures"].as_array().unwrap();
    assert_eq!(figures.len(), 4, "baselines per rate, latency per split, profile, runtime: {v}");
    for f in figures {
        assert!(f[0].as_f64().unwrap() > 100.0 && f[1].as_f64().unwrap() > 100.0, "{v}");
    }
    assert!(v["tables"].as_u64().unwrap() >= 10, "settings and every result table: {v}");
    assert!(std::fs::metadata(shots.join("demo.png")).unwrap().len() > 10_000);

    // The checker can fail: a console error, a request off the file, an empty figure.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><title>bad</title><figure><svg width=\"0\" height=\"0\"></svg></figure>\
         <img src=\"http://198.51.100.1/x.png\"><script>console.error('boom')</script>",
    )
    .unwrap();
    let (v, ok) = browser_check(&bad, &dir.path().join("bad.png"));
    assert!(!ok);
    assert!(v["console_errors"].to_string().contains("boom"), "{v}");
    assert_eq!(v["requests"][0], "http://198.51.100.1/x.png");
    assert_eq!(v["empty_figures"][0], 0);
}
