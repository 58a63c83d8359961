//! The fuzz smoke run: every committed seed, then a fixed number of seeded mutations of them,
//! through each target on stable Rust. Coverage-guided long runs use `cargo fuzz` (see
//! `fuzz/README.md`); this run keeps the targets and the corpus working in every CI run.
//!
//! `COINFER_FUZZ_ITERS` scales the mutation count (default: about a minute per target here);
//! `COINFER_FUZZ_SEED` picks another mutation stream. A panic writes the input to
//! `target/fuzz-failures/` and names the iteration, which replays alone with the same seed.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use coinfer_fuzz_targets::{corpus, decode_frame, mutate::Mutator, onnx_import, Reached};
use prost::Message;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

thread_local! {
    /// The last panic on this thread while a target ran: message and location.
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    /// Whether a target is running on this thread (its panics are kept, not printed).
    static IN_TARGET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Keeps the panic messages of running targets instead of printing them: tract panics on
/// some malformed models and the graph crate catches that (an error, not a failure),
/// thousands of times per run. A target's own panic is reported by [`run`] with its
/// message; every other panic (a failing assertion of the test) prints as usual.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_TARGET.with(|t| t.get()) {
                return default(info);
            }
            let at = info.location().map(|l| l.to_string()).unwrap_or_default();
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            LAST_PANIC.with(|p| *p.borrow_mut() = format!("{msg} (at {at})"));
        }));
    });
}

/// Runs `target` on `input`; on a panic saves the input and returns where and why.
fn run<T>(target: &str, f: impl Fn(&[u8]) -> T, input: &[u8], label: &str) -> Option<String> {
    quiet_panics();
    IN_TARGET.with(|t| t.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(|| f(input)));
    IN_TARGET.with(|t| t.set(false));
    if outcome.is_ok() {
        return None;
    }
    let why = LAST_PANIC.with(|p| p.borrow().clone());
    let dir = corpus::workspace_root().join("target/fuzz-failures");
    let path = dir.join(format!("{target}-{label}"));
    let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input));
    Some(match saved {
        Ok(()) => format!("{label}: {why}; saved to {}", path.display()),
        Err(e) => format!("{label}: {why}; could not save ({e})"),
    })
}

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dirs = corpus::seed_dirs(target);
    let seeds = corpus::read_seeds(&dirs)
        .unwrap_or_else(|e| panic!("{target}: reading the committed corpus {dirs:?}: {e}"));
    assert!(seeds.len() >= 3, "{target}: the committed corpus is missing");
    seeds
}

fn report(target: &str, failures: Vec<String>, runs: usize) {
    assert!(failures.is_empty(), "{target}: {} of {runs} inputs panicked:\n{}", failures.len(), {
        failures.join("\n")
    });
    eprintln!("{target}: {runs} inputs, no panic");
}

#[test]
fn frame_decoder_survives_the_corpus_and_its_mutations() {
    let seeds = seeds("decode_frame");
    let mut failures = vec![];
    for (path, bytes) in &seeds {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        failures.extend(run("decode_frame", decode_frame, bytes, &format!("seed-{name}")));
    }
    let (base, iters) = (env_u64("COINFER_FUZZ_SEED", 1), env_u64("COINFER_FUZZ_ITERS", 200_000));
    for k in 0..iters {
        let mut m = Mutator::new(base.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k);
        let seed = &seeds[m.below(seeds.len())].1;
        let other = &seeds[m.below(seeds.len())].1;
        let input = m.bytes(seed, other);
        failures.extend(run("decode_frame", decode_frame, &input, &format!("seed{base}-iter{k}")));
        if failures.len() >= 5 {
            break;
        }
    }
    report("decode_frame", failures, seeds.len() + iters as usize);
}

#[test]
fn onnx_import_and_cut_analysis_survive_the_corpus_and_its_mutations() {
    let seeds = seeds("onnx_import");
    let models: Vec<_> =
        seeds.iter().filter_map(|(_, b)| coinfer_graph::decode_model(b).ok()).collect();
    assert!(models.len() >= 7, "only {} seeds decode as ONNX", models.len());
    let mut failures = vec![];
    for (path, bytes) in &seeds {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        failures.extend(run("onnx_import", onnx_import, bytes, &format!("seed-{name}")));
    }
    // How far the mutants get: the smoke run is only worth its minute if many reach analysis
    // and the cut search, not just the protobuf decoder.
    let reached = std::cell::RefCell::new([0usize; 3]);
    let counted = |b: &[u8]| {
        let r = onnx_import(b);
        reached.borrow_mut()[match r {
            Reached::Decode => 0,
            Reached::Analysis => 1,
            Reached::Cuts(_) => 2,
        }] += 1;
    };
    let (base, iters) = (env_u64("COINFER_FUZZ_SEED", 1), env_u64("COINFER_FUZZ_ITERS", 200_000));
    // A structural edit costs an analysis (milliseconds), a byte edit mostly a decode error.
    let iters = (iters / 4).max(1);
    let in_flight = corpus::workspace_root().join("target/fuzz-failures/onnx_import-in-flight");
    std::fs::create_dir_all(in_flight.parent().unwrap()).unwrap();
    for k in 0..iters {
        let mut m = Mutator::new(base.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k);
        let input = if m.below(5) == 0 {
            let (seed, other) = (&seeds[m.below(seeds.len())].1, &seeds[m.below(seeds.len())].1);
            m.bytes(seed, other)
        } else {
            let pick = m.below(models.len());
            m.model(&models[pick]).encode_to_vec()
        };
        // An abort (not a panic) cannot be caught: the input in flight is kept on disk first.
        std::fs::write(&in_flight, &input).unwrap();
        failures.extend(run("onnx_import", counted, &input, &format!("seed{base}-iter{k}")));
        if failures.len() >= 5 {
            break;
        }
    }
    let [decode, analysis, cuts] = *reached.borrow();
    eprintln!(
        "onnx_import mutants: {decode} refused at decoding, {analysis} by analysis, {cuts} cut"
    );
    report("onnx_import", failures, seeds.len() + iters as usize);
    assert!(cuts * 20 >= iters as usize, "only {cuts} of {iters} mutants reached the cut search");
    assert!(
        analysis * 10 >= iters as usize,
        "only {analysis} of {iters} mutants were refused by analysis"
    );
}
