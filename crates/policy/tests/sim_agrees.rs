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
    let device = Compute { macs_per_s: 5e7, power_w: 1.5 };
    let edge = Compute { macs_per_s: 1e11, power_w: 70.0 };
    let radio = Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 };
    let weights = CostWeights { time: 1.0, energy: 0.7 };
    let p = problem_from_table(&table, &device, &edge, radio, weights).unwrap();
    let ch = FiniteStateChannel::rayleigh_quantiles(0.01, 8).unwrap();
    let rule = backward_induction(&p, &ch, 6).rule;
    let setup = SplitSetup { table, device, edge, radio, weights, mean_gain: 0.01 };
    let mut env = SplitEnv::new(setup, Box::new(Iid(ch)), 42);
    for episode in 0..200 {
        env.reset(None);
        let mut stage = 0;
        let mut total = 0.0;
        loop {
            let h = env.gain();
            let stop = rule.stop(stage, h);
            let expected = if stop { p.offload_cost(stage, h) } else { p.local_cost[stage] };
            let step = env.step(stop);
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
