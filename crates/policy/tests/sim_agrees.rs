//! The simulator and the policies share one cost model: playing a rule in `SplitEnv` costs
//! exactly what `StoppingProblem` says it costs.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use coinfer_policy::stopping::{backward_induction, StoppingRule};
use coinfer_policy::stopping_config::problem_from_table;
use coinfer_sim::{
    Compute, CostWeights, FiniteStateChannel, Iid, LayerTable, Radio, SplitEnv, SplitSetup,
};

#[test]
fn split_env_costs_equal_the_stopping_problem() {
    let table = LayerTable::equal_width_mlp(6, 128, 96);
    let device = Compute::throughput(5e7, 1.5);
    let edge = Compute::throughput(1e11, 70.0);
    let radio = Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 };
    let weights = CostWeights { time: 1.0, energy: 0.7 };
    let p =
        problem_from_table(&table, &device, &edge, (radio, Default::default()), weights).unwrap();
    let ch = FiniteStateChannel::rayleigh_quantiles(0.01, 8).unwrap();
    let rule = backward_induction(&p, &ch, 6).rule;
    let setup = SplitSetup {
        table,
        device,
        edge,
        radio,
        weights,
        mean_gain: 0.01,
        transport: Default::default(),
    };
    let mut env = SplitEnv::new(setup, Box::new(Iid(ch)), 42);
    for episode in 0..200 {
        env.reset(None);
        let mut stage = 0;
        let mut total = 0.0;
        loop {
            let h = env.gain();
            let stop = rule.stop(stage, h);
            let expected = if stop { p.offload_cost(stage, h) } else { p.local_cost[stage] };
            let step = env.step(stop).unwrap();
            assert!(
                (step.reward + expected).abs() <= 1e-12 * expected.max(1e-12),
                "episode {episode}"
            );
            total -= step.reward;
            if step.done {
                break;
            }
            stage += 1;
        }
        assert!(total > 0.0);
    }
}

/// The shared formulas against values worked out by hand, so a wrong formula used on both
/// sides of the test above cannot pass.
#[test]
fn cost_model_matches_hand_computed_values() {
    use coinfer_sim::Layer;
    // Input 1,000 values, then two layers: 1 M MACs → 500 values, 2 M MACs → 10 values.
    let table = LayerTable {
        input_values: 1000.0,
        bits_per_value: 32.0,
        layers: vec![Layer::new(1e6, 500.0, 0.0), Layer::new(2e6, 10.0, 0.0)],
    };
    let device = Compute::throughput(1e8, 2.0);
    let edge = Compute::throughput(1e9, 50.0);
    // B = 1 MHz, P = 0.2 W, N0 = 1e-9 W/Hz: at h = 0.005 the SNR is 0.2·0.005/(1e-9·1e6) = 1,
    // so r = 1e6·log2(2) = 1 Mbit/s.
    let radio = Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 };
    let weights = CostWeights { time: 1.0, energy: 0.5 };
    assert!((radio.rate_bps(0.005) - 1e6).abs() < 1e-6);
    let p =
        problem_from_table(&table, &device, &edge, (radio, Default::default()), weights).unwrap();
    // Offload the input: 32,000 bits in 32 ms, edge 3 M MACs in 3 ms, radio 0.2 W × 32 ms:
    // 1·(0.032 + 0.003) + 0.5·0.0064 = 0.0382.
    assert!((p.offload_cost(0, 0.005) - 0.0382).abs() < 1e-12, "{}", p.offload_cost(0, 0.005));
    // After layer 1: 16,000 bits in 16 ms, edge 2 ms: 0.018 + 0.5·0.0032 = 0.0196.
    assert!((p.offload_cost(1, 0.005) - 0.0196).abs() < 1e-12);
    // After layer 2 (only the 10-value result): 0.32 ms, no edge work: 0.00032 + 0.5·0.000064.
    assert!((p.offload_cost(2, 0.005) - 0.000352).abs() < 1e-12);
    // Layer 1 locally: 10 ms at 2 W: 0.01 + 0.5·0.02 = 0.02; layer 2: 20 ms: 0.04.
    assert!((p.local_cost[0] - 0.02).abs() < 1e-12 && (p.local_cost[1] - 0.04).abs() < 1e-12);
    // The simulator's environment prices offloading identically.
    let ch = FiniteStateChannel::rayleigh_quantiles(0.005, 4).unwrap();
    let setup = SplitSetup {
        table,
        device,
        edge,
        radio,
        weights,
        mean_gain: 0.005,
        transport: Default::default(),
    };
    let env = SplitEnv::new(setup, Box::new(Iid(ch)), 1);
    assert!((env.offload_cost(1, 0.005) - 0.0196).abs() < 1e-12);
}
