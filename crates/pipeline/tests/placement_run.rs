//! Seed 002 on the real runtime, small: two versions, K* against placing nothing, and the
//! stopping rules, each measured against its exact expected cost. Runs alone (it times the
//! wire; see .config/nextest.toml).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;

use coinfer_pipeline::placement_run::{placement_run, PlacementRunConfig, Strategy};
use coinfer_pipeline::NoProgress;
use coinfer_policy::stopping_config::StoppingConfig;
use coinfer_runtime::device::Percentiles;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn placement_and_rules_on_the_runtime_match_their_expected_costs() {
    let text = std::fs::read_to_string(root().join("examples/placement-runtime.toml")).unwrap();
    // A 30 MHz device instead of 120 MHz: the device's layers run on this host, held to the
    // device's time, which only works while the host is faster at every layer. After a slot
    // idle this host's per-layer call costs 0.2-0.5 ms (cold caches, a VM's halted vCPUs),
    // more than the 120 MHz device spends on the small layers of the quarter-width version.
    assert!(text.contains("freq_hz = 120e6"));
    let text = text.replace("freq_hz = 120e6", "freq_hz = 30e6");
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
    // Each inference's measured cost against the model's cost of the same decision at its
    // state, as the median ratio of a rule's or a period's requests: with eight requests a
    // mean is one host hiccup away from any bound (this VM stalls a request by 10-20 ms now
    // and then), a median is not, and it still fails if the model is off for most requests.
    // The 15 % is claimed for a quiet host, asserted with COINFER_QUIET_HOST=1 (bare
    // metal, or a VM with its cores kept awake). Elsewhere the bound is 50 %: loose enough for
    // a VM's wake-ups, tight enough to catch a broken model (without the 5 ms RTT an
    // offloading request's measured/model is about 2.2; without its transfer time, more). Measured on the 2-vCPU VMs of 2026-12-03: offloading rules' medians +7 … +21 %
    // over the model (+15 … +33 % on an earlier VM), rules that finish locally +0 … +2 %,
    // periods +1 … +17 % — with the idle-wake round trip below at 14–235 µs, which therefore no
    // longer decides: a run measuring 58 µs had +17 %.
    let wake_us = idle_wake_round_trip_us();
    let quiet = std::env::var("COINFER_QUIET_HOST").is_ok_and(|v| v == "1");
    let bound = if quiet { 0.15 } else { 0.50 };
    eprintln!("idle wake round trip: {wake_us:.0} µs; fidelity bound {:.0} %", bound * 100.0);
    let median_ratio = |context: &str| {
        let q: Vec<f64> = r
            .requests
            .iter()
            .filter(|q| q.context == context && q.new_placement)
            .map(|q| q.measured_cost / q.model_cost)
            .collect();
        assert!(!q.is_empty(), "no requests of {context}");
        let m = Percentiles::of(q).p50;
        eprintln!("{context}: median measured/model {m:.3}");
        m
    };
    assert_eq!(r.rules.len(), 6);
    for rule in &r.rules {
        assert!(rule.expected_cost > 0.0 && rule.measured_cost.mean > 0.0, "{rule:?}");
        let m = median_ratio(&rule.rule);
        assert!(
            (m - 1.0).abs() < bound,
            "{}: median measured/model {m:.3} (mean measured {:.4e} vs exact {:.4e})",
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
        let m = median_ratio(&format!("{} / {}", p.strategy, p.version));
        assert!(
            (m - 1.0).abs() < bound,
            "{} {}: median measured/model {m:.3}",
            p.strategy,
            p.version
        );
    }
    // K* minimises the predicted period cost, so it beats placing nothing in prediction. (In
    // measurement the two are 1 % apart here, within this VM's noise: not asserted.)
    let total = |s: &str| r.totals.iter().find(|t| t.strategy == s).unwrap().total;
    let (opt, none) = (total("optimal K*"), total("always none"));
    assert!(opt[0] <= none[0], "{opt:?} vs {none:?}");
    assert!(opt[1].is_finite() && none[1].is_finite() && opt[1] > 0.0);
    // Every inference was answered (edge or device), none lost in the switches.
    assert!(r.requests.iter().all(|q| q.measured_cost.is_finite() && q.e2e_ms > 0.0));
}

/// Median time (µs) for a thread blocked on a channel to answer a message sent after 40 ms of
/// idleness: how much waking a sleeping thread costs on this host (a VM's halted vCPUs,
/// power states), the cost every hop of a slot's first request pays.
fn idle_wake_round_trip_us() -> f64 {
    use std::sync::mpsc::channel;
    use std::time::{Duration, Instant};
    let (ping, pinged) = channel::<()>();
    let (pong, ponged) = channel::<()>();
    let echo = std::thread::spawn(move || {
        while pinged.recv().is_ok() {
            if pong.send(()).is_err() {
                break;
            }
        }
    });
    let t: Vec<f64> = (0..15)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(40));
            let t0 = Instant::now();
            ping.send(()).unwrap();
            ponged.recv().unwrap();
            t0.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    drop(ping);
    echo.join().unwrap();
    Percentiles::of(t).p50
}
