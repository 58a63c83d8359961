//! The environments through the `Env` trait: bad calls and bad actions are errors, never
//! panics, and the spaces describe what they accept.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use coinfer_sim::{
    Compute, CostWeights, DeviceAction, DeviceSpec, Env, EnvError, FiniteStateChannel, Iid,
    LayerTable, ModelVersion, MultiDeviceEnv, Radio, Space, SplitEnv, SplitSetup,
};

fn radio() -> Radio {
    Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 }
}

fn split_env() -> SplitEnv {
    let setup = SplitSetup {
        table: LayerTable::equal_width_mlp(3, 16, 16),
        device: Compute::throughput(1e7, 1.0),
        edge: Compute::throughput(1e10, 50.0),
        radio: radio(),
        weights: CostWeights { time: 1.0, energy: 0.5 },
        mean_gain: 0.01,
        transport: Default::default(),
    };
    let ch = FiniteStateChannel::new(vec![(0.01, 1.0)]).unwrap();
    SplitEnv::new(setup, Box::new(Iid(ch)), 1)
}

fn multi_env(horizon: usize) -> MultiDeviceEnv {
    let versions = vec![
        ModelVersion {
            name: "s".into(),
            accuracy: 0.8,
            table: LayerTable::equal_width_mlp(2, 16, 8),
        },
        ModelVersion {
            name: "l".into(),
            accuracy: 0.9,
            table: LayerTable::equal_width_mlp(4, 16, 32),
        },
    ];
    // Device 0 holds 8 kB of fp32 parameters: the large version's first three layers do not
    // fit.
    let devices = (0..2)
        .map(|i| DeviceSpec {
            transport: Default::default(),
            memory_bytes: if i == 0 { 8e3 } else { f64::INFINITY },
            ..DeviceSpec::new(
                Compute::throughput(1e8, 2.0),
                radio(),
                Box::new(Iid(FiniteStateChannel::new(vec![(0.01, 1.0)]).unwrap())),
                0.5,
                0.01,
            )
        })
        .collect();
    let edge = Compute::throughput(1e11, 70.0);
    MultiDeviceEnv::new(versions, devices, edge, vec![0.01; 2], horizon, 3)
}

fn act(version: usize, partition: usize, c: f64, b: f64) -> DeviceAction {
    DeviceAction { version, partition, compute_share: c, bandwidth_share: b }
}

#[test]
fn split_env_refuses_steps_out_of_turn_and_actions_out_of_its_space() {
    let mut env = split_env();
    assert_eq!(Env::step(&mut env, &0), Err(EnvError::NotReset));
    assert_eq!(env.action_space(), Space::Discrete(2));
    let obs = Env::reset(&mut env, Some(5));
    let Space::Box { low, high } = env.observation_space() else { panic!("a box") };
    assert_eq!((obs.len(), low.len(), high.len()), (3, 3, 3));
    assert!(
        matches!(Env::step(&mut env, &2), Err(EnvError::InvalidAction(m)) if m.contains("action 2"))
    );
    assert!(!Env::step(&mut env, &0).unwrap().done);
    assert!(Env::step(&mut env, &1).unwrap().done, "offloading ends the episode");
    assert_eq!(Env::step(&mut env, &0), Err(EnvError::Finished));
    Env::reset(&mut env, None);
    let dones: Vec<bool> = (0..3).map(|_| Env::step(&mut env, &0).unwrap().done).collect();
    assert_eq!(dones, [false, false, true], "computing every layer ends it too");
    assert_eq!(Env::step(&mut env, &1), Err(EnvError::Finished));
}

#[test]
fn multi_device_env_refuses_every_kind_of_bad_action_and_the_end() {
    let mut env = multi_env(2);
    let good = [act(0, 1, 0.5, 0.5), act(1, 4, 0.0, 0.0)];
    assert_eq!(env.step(&good), Err(EnvError::NotReset));
    env.reset(Some(1));
    let cases: Vec<(&str, Vec<DeviceAction>)> = vec![
        ("1 actions for 2 devices", vec![good[0]]),
        ("version 2 of 2", vec![good[0], act(2, 0, 0.5, 0.5)]),
        ("partition 3 beyond the 2 layers", vec![act(0, 3, 0.5, 0.5), good[1]]),
        ("compute share NaN", vec![act(0, 1, f64::NAN, 0.5), good[1]]),
        ("bandwidth share inf", vec![act(0, 1, 0.5, f64::INFINITY), good[1]]),
        ("compute share -0.1", vec![act(0, 1, -0.1, 0.5), good[1]]),
        (
            "device 0: the head of `l` up to partition 3 does not fit",
            vec![act(1, 3, 0.0, 0.0), good[1]],
        ),
    ];
    for (want, actions) in cases {
        match env.step(&actions) {
            Err(EnvError::InvalidAction(m)) => assert!(m.contains(want), "`{want}` not in `{m}`"),
            other => panic!("{want}: expected InvalidAction, got {other:?}"),
        }
    }
    // Refused actions did not advance the episode: two good steps still fit the horizon.
    assert!(!env.step(&good).unwrap().done);
    assert!(env.step(&good).unwrap().done);
    assert_eq!(env.step(&good), Err(EnvError::Finished));
    let Space::Tuple(per_device) = env.action_space() else { panic!("a tuple") };
    assert_eq!(per_device.len(), 2);
    assert_eq!(
        per_device[0],
        Space::Tuple(vec![
            Space::Discrete(2),
            Space::Discrete(5),
            Space::Box { low: vec![0.0; 2], high: vec![f64::INFINITY; 2] }
        ])
    );
}
