//! The AutoML environment: the action wall never lets an episode end over budget, costs scale
//! as pruning says, and bad input is an error.

use coinfer_sim::{
    AutomlEnv, AutomlSetup, Budget, Compute, Decision, DecisionKind, Env, EnvError, Evaluated,
    Evaluator, FeatureSpec, Layer, Link, PruneConfig, PruneSpace, Reward, ScaledLayer, Side,
    SpaceError,
};
use proptest::prelude::*;

/// Accuracy rises with every kept channel and every bit (a known optimum under the budget).
struct Synthetic;

impl Evaluator for Synthetic {
    fn evaluate(&mut self, c: &PruneConfig) -> Result<Evaluated, String> {
        let kept: f64 = c.kept.iter().map(|&k| (k as f64).sqrt()).sum();
        Ok(Evaluated { accuracy: 1.0 - 1.0 / (1.0 + kept + c.bits as f64), bytes_per_sample: None })
    }
}

fn decision(name: &str, kind: DecisionKind, channels: usize, in_channels: usize) -> Decision {
    Decision {
        name: name.into(),
        kind,
        channels,
        in_channels,
        stride: 1,
        kernel: 3,
        params: (channels * in_channels * 9) as f64,
    }
}

/// A chain of `widths.len()` convs on the device (the last one's output sent at `bits`), and
/// one edge layer reading it.
fn chain(widths: &[usize], bits: Vec<u8>, multiple_of: usize) -> PruneSpace {
    let mut decisions = vec![];
    let mut layers = vec![];
    let mut c_in = 1;
    for (i, &w) in widths.iter().enumerate() {
        let kind = if i + 1 == widths.len() { DecisionKind::Code } else { DecisionKind::Conv };
        decisions.push(decision(&format!("conv{i}"), kind, w, c_in));
        layers.push(ScaledLayer {
            layer: Layer::new((w * c_in * 9 * 196) as f64, (w * 196) as f64, (w * c_in * 9) as f64),
            side: Side::Device,
            out_group: Some(i),
            in_group: i.checked_sub(1),
        });
        c_in = w;
    }
    layers.push(ScaledLayer {
        layer: Layer::new((c_in * 10 * 196) as f64, 10.0, (c_in * 10 * 196) as f64),
        side: Side::Edge,
        out_group: None,
        in_group: Some(widths.len() - 1),
    });
    PruneSpace {
        decisions,
        layers,
        feature: Some(FeatureSpec {
            channels: c_in,
            values_per_channel: 196.0,
            group: Some(widths.len() - 1),
            bits,
            header_bytes: 8.0,
        }),
        multiple_of,
        min_keep: 0.2,
    }
}

fn setup(space: PruneSpace, budget: Budget, rate_bps: f64) -> AutomlSetup {
    AutomlSetup {
        space,
        device: Compute::throughput(2e8, 2.0),
        edge: Compute::throughput(5e9, 50.0),
        link: Link::simple(rate_bps, 0.002),
        budget,
        reward: Reward::AccuracyConstrained,
    }
}

fn limit(b: Budget) -> f64 {
    match b {
        Budget::LatencyS(x) | Budget::DeviceMacs(x) => x,
    }
}

fn cost_in(setup: &AutomlSetup, c: &PruneConfig) -> f64 {
    let cost = setup.space.cost(c, &setup.device, &setup.edge, &setup.link, None);
    match setup.budget {
        Budget::LatencyS(_) => cost.prediction.total_s,
        Budget::DeviceMacs(_) => cost.device_macs,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the agent does, every episode ends inside the budget.
    #[test]
    fn the_wall_keeps_every_episode_within_budget(
        widths in prop::collection::vec(4usize..64, 1..6),
        multiple_of in prop::sample::select(vec![1usize, 4, 8]),
        with_bits in any::<bool>(),
        latency in any::<bool>(),
        position in 0.0f64..1.0,
        rate_bps in 1e5f64..1e8,
        actions in prop::collection::vec(0.0f32..=1.0, 8),
    ) {
        let bits = if with_bits { vec![2, 4, 8] } else { vec![8] };
        let space = chain(&widths, bits, multiple_of);
        let probe = setup(space.clone(), Budget::DeviceMacs(1.0), rate_bps);
        let budget_of = |x: f64| if latency { Budget::LatencyS(x) } else { Budget::DeviceMacs(x) };
        let as_latency = setup(space.clone(), Budget::LatencyS(1.0), rate_bps);
        let scorer = if latency { &as_latency } else { &probe };
        let (lo, hi) = (cost_in(scorer, &space.smallest()), cost_in(scorer, &space.full()));
        let budget = budget_of(lo + position * (hi - lo));
        let mut env = AutomlEnv::new(setup(space.clone(), budget, rate_bps), Synthetic).unwrap();
        env.reset(Some(0));
        let mut i = 0;
        loop {
            let step = env.step(&[actions[i % actions.len()]]).unwrap();
            i += 1;
            if step.done { break; }
        }
        prop_assert_eq!(i, space.steps());
        let outcome = env.last_outcome().unwrap();
        let used = cost_in(scorer, &outcome.config);
        prop_assert!(used <= limit(budget) * (1.0 + 1e-9), "{used} > {budget:?}");
        for (k, d) in outcome.config.kept.iter().zip(&space.decisions) {
            prop_assert!(*k >= 1 && *k <= d.channels);
            let code = d.kind == DecisionKind::Code;
            prop_assert!(code || *k == d.channels || *k % multiple_of == 0);
        }
        prop_assert!(env.within_budget(&outcome.config));
    }
}

#[test]
fn a_generous_budget_lets_full_actions_through_and_a_tight_one_lowers_them() {
    let space = chain(&[16, 32, 8], vec![2, 4, 8], 8);
    let full_macs = cost_in(&setup(space.clone(), Budget::DeviceMacs(1.0), 1e6), &space.full());
    let mut env =
        AutomlEnv::new(setup(space.clone(), Budget::DeviceMacs(full_macs), 1e6), Synthetic)
            .unwrap();
    env.reset(None);
    for _ in 0..space.steps() {
        env.step(&[1.0]).unwrap();
    }
    assert_eq!(env.last_outcome().unwrap().config, space.full());
    // Half the MACs: the agent asks for everything, the wall gives less, within budget.
    let mut env =
        AutomlEnv::new(setup(space.clone(), Budget::DeviceMacs(full_macs / 2.0), 1e6), Synthetic)
            .unwrap();
    env.reset(None);
    for _ in 0..space.steps() {
        env.step(&[1.0]).unwrap();
    }
    let outcome = env.last_outcome().unwrap();
    assert_ne!(outcome.config.kept, space.full().kept);
    assert!(outcome.cost.device_macs <= full_macs / 2.0);
    assert_eq!(env.evaluations(), 1);
}

#[test]
fn costs_scale_with_both_groups_a_layer_touches() {
    let space = chain(&[16, 32], vec![8], 1);
    let s = setup(space.clone(), Budget::DeviceMacs(1e12), 1e6);
    let full = s.space.cost(&space.full(), &s.device, &s.edge, &s.link, None);
    let half = PruneConfig { kept: vec![8, 16], bits: 8 };
    let c = s.space.cost(&half, &s.device, &s.edge, &s.link, None);
    // conv0: 16·1·9·196 → half; conv1: 32·16·9·196 → a quarter.
    let expected = (8 * 9 * 196 + 16 * 8 * 9 * 196) as f64;
    assert_eq!(c.device_macs, expected);
    assert!(full.device_macs > c.device_macs);
    assert_eq!(c.feature_bytes, Some(16.0 * 196.0 + 8.0));
    assert!(c.prediction.total_s < full.prediction.total_s);
    // Options: 4..=16 and 7..=32 channels (min_keep 0.2), one bit width.
    assert_eq!(space.size(), 13.0 * 26.0);
    assert_eq!(space.enumerate().len(), 338);
}

#[test]
fn bad_spaces_budgets_and_actions_are_errors() {
    let space = chain(&[16, 32], vec![2, 8], 8);
    let tiny = setup(space.clone(), Budget::DeviceMacs(1.0), 1e6);
    assert!(matches!(AutomlEnv::new(tiny, Synthetic), Err(SpaceError::Unreachable { .. })));
    let nan = setup(space.clone(), Budget::LatencyS(f64::NAN), 1e6);
    assert!(AutomlEnv::new(nan, Synthetic).is_err());
    let empty = PruneSpace { decisions: vec![], layers: vec![], ..space.clone() };
    assert!(matches!(
        AutomlEnv::new(setup(empty, Budget::DeviceMacs(1e12), 1e6), Synthetic),
        Err(SpaceError::Invalid(_))
    ));
    let mut bits = space.clone();
    bits.feature.as_mut().unwrap().bits = vec![8, 2];
    assert!(AutomlEnv::new(setup(bits, Budget::DeviceMacs(1e12), 1e6), Synthetic).is_err());

    let mut env = AutomlEnv::new(setup(space, Budget::DeviceMacs(1e12), 1e6), Synthetic).unwrap();
    assert_eq!(env.step(&[0.5]), Err(EnvError::NotReset));
    env.reset(None);
    for bad in [&[f32::NAN][..], &[1.5], &[], &[0.5, 0.5]] {
        assert!(matches!(env.step(bad), Err(EnvError::InvalidAction(_))), "{bad:?}");
    }
    while !env.step(&[0.3]).unwrap().done {}
    assert_eq!(env.step(&[0.3]), Err(EnvError::Finished));

    struct Failing;
    impl Evaluator for Failing {
        fn evaluate(&mut self, _: &PruneConfig) -> Result<Evaluated, String> {
            Err("the pruned model would not run".into())
        }
    }
    let space = chain(&[16], vec![8], 8);
    let mut env = AutomlEnv::new(setup(space, Budget::DeviceMacs(1e12), 1e6), Failing).unwrap();
    env.reset(None);
    assert!(matches!(env.step(&[1.0]), Err(EnvError::Evaluation(m)) if m.contains("would not")));
}

#[test]
fn the_latency_reward_counts_only_the_accuracy_below_the_floor() {
    let r = Reward::LatencyWithinDrop { max_drop: 0.01 };
    let fast = -(1000.0f64).ln();
    // Within one point of the reference: latency alone.
    assert!((r.value(0.915, 1e-3, 1.0, 0.92) - fast).abs() < 1e-12);
    // Two points below the reference, one below the floor: one e-fold of latency lost.
    assert!((r.value(0.90, 1e-3, 1.0, 0.92) - (fast - 1.0)).abs() < 1e-9);
    assert!(r.needs_reference_accuracy() && !Reward::AccuracyLogLatency.needs_reference_accuracy());
    // In the environment, the reference is the unpruned configuration, evaluated once.
    let space = chain(&[16, 32], vec![2, 8], 8);
    let mut s = setup(space.clone(), Budget::DeviceMacs(1e12), 1e6);
    s.reward = r;
    let mut env = AutomlEnv::new(s, Synthetic).unwrap();
    let full = Synthetic.evaluate(&space.full()).unwrap().accuracy;
    assert_eq!(env.reference_accuracy().unwrap(), full);
    let small = env.score(&space.smallest()).unwrap();
    let floor = full - 0.01;
    let expected = -(small.cost.prediction.total_s * 1e6).ln()
        - 100.0 * (floor - small.evaluated.accuracy).max(0.0);
    assert!((small.reward - expected).abs() < 1e-9);
    assert_eq!(env.evaluations(), 2, "the reference and the configuration");
}
