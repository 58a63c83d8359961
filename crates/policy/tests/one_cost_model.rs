//! One cost model: for random models, hardware, links and split points, the environment's
//! cost, the policy's cost, the planner's option, the scored plan and the prediction of
//! `coinfer_sim::predict` are the same number.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use coinfer_policy::stopping_config::problem_from_table;
use coinfer_sim::{
    predict, score_plan, split_options, Compute, CostWeights, DeviceAction, DeviceContext,
    DeviceSpec, Env, FiniteStateChannel, Framing, Iid, Layer, LayerTable, Link, ModelVersion,
    MultiDeviceEnv, Plan, Radio, SplitEnv, SplitSetup, Transport, Work,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Case {
    table: LayerTable,
    device: Compute,
    edge: Compute,
    radio: Radio,
    transport: Transport,
    weights: CostWeights,
    gain: f64,
    /// Layers on the device (`N` = all).
    stop: usize,
}

fn compute(macs: f64, power: f64, mem: f64, overhead: f64) -> Compute {
    Compute { mem_bytes_per_s: mem, op_overhead_s: overhead, ..Compute::throughput(macs, power) }
}

fn cases() -> impl Strategy<Value = Case> {
    let layer = (1e3..1e8f64, 1.0..1e5f64, 0.0..1e6f64, 1.0..8.0f64, 0.0..1e7f64).prop_map(
        |(macs, out, params, ops, mem)| Layer {
            ops: ops.floor(),
            mem_bytes: mem,
            ..Layer::new(macs, out.floor(), params.floor())
        },
    );
    let table = (1.0..1e5f64, prop::collection::vec(layer, 1..8)).prop_map(|(input, layers)| {
        LayerTable { input_values: input, bits_per_value: 32.0, layers }
    });
    let hardware = (1e6..1e12f64, 0.1..100.0f64, prop::bool::ANY, 1e8..1e12f64, 0.0..1e-4f64)
        .prop_map(|(m, p, roof, mem, o)| compute(m, p, if roof { mem } else { 0.0 }, o));
    let transport = (0.0..0.05f64, 0.0..1e-3f64, prop::bool::ANY, 0.0..1e8f64, 0.0..1.0f64)
        .prop_map(|(rtt_s, stack_s, grpc, down, rx)| Transport {
            rtt_s,
            stack_s,
            framing: if grpc { Framing::grpc() } else { Framing::none() },
            down_bps: if down < 1e6 { 0.0 } else { down },
            rx_power_w: rx,
        });
    let radio = (1e5..1e7f64, 0.01..1.0f64).prop_map(|(b, p)| Radio {
        bandwidth_hz: b,
        tx_power_w: p,
        noise_w_per_hz: 1e-9,
    });
    let weights = (0.0..2.0f64, 0.0..2.0f64).prop_map(|(t, e)| CostWeights { time: t, energy: e });
    (table, hardware.clone(), hardware, radio, transport, weights, 1e-4..1.0f64, 0..100usize)
        .prop_map(|(table, device, edge, radio, transport, weights, gain, stop)| {
            let stop = stop % (table.layers.len() + 1);
            Case { table, device, edge, radio, transport, weights, gain, stop }
        })
}

/// The prediction of the case's plan: `stop` layers on the device, the rest offloaded.
fn predicted(c: &Case) -> coinfer_sim::Prediction {
    let n = c.table.layers.len();
    let device_s: f64 = c.table.layers[..c.stop].iter().map(|l| c.device.layer_s(l)).sum();
    let work = if c.stop == n {
        Work::local(device_s, c.device.power_w)
    } else {
        let edge_s = c.table.edge_time_after(c.stop, &c.edge);
        Work::split(device_s, c.device.power_w, c.table.offload_bits(c.stop) / 8.0, edge_s)
    };
    predict(&work, &link(c))
}

fn link(c: &Case) -> Link {
    Link {
        up_bps: c.radio.rate_bps(c.gain),
        tx_power_w: c.radio.tx_power_w,
        transport: c.transport.clone(),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

fn channel(gain: f64) -> Iid<FiniteStateChannel> {
    Iid(FiniteStateChannel::new(vec![(gain, 1.0)]).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn environments_policies_planner_and_plans_agree(c in cases()) {
        let n = c.table.layers.len();
        let want = predicted(&c);
        let want_cost = want.weighted(&c.weights);

        // The online-splitting environment, played to the same decision.
        let setup = SplitSetup {
            table: c.table.clone(),
            device: c.device,
            edge: c.edge,
            radio: c.radio,
            weights: c.weights,
            mean_gain: c.gain,
            transport: c.transport.clone(),
        };
        let mut env = SplitEnv::new(setup, Box::new(channel(c.gain)), 1);
        env.reset(Some(1));
        let mut env_cost = 0.0;
        for stage in 0..=n {
            let offload = stage == c.stop && stage < n;
            if stage == n { break; }
            let step = env.step(offload).unwrap();
            env_cost -= step.reward;
            if offload || step.done { break; }
        }
        prop_assert!(close(env_cost, want_cost), "env {env_cost} vs model {want_cost}");

        // The stopping problem the policies solve.
        let p = problem_from_table(
            &c.table, &c.device, &c.edge, (c.radio, c.transport.clone()), c.weights,
        ).unwrap();
        let mut policy_cost: f64 = p.local_cost[..c.stop].iter().sum();
        if c.stop < n {
            policy_cost += p.offload_cost(c.stop, c.gain);
        }
        prop_assert!(close(policy_cost, want_cost), "policy {policy_cost} vs {want_cost}");

        // The planner's option for this split, and that option as a scored plan.
        let names: Vec<String> = (0..n - 1).map(|i| format!("t{i}")).collect();
        let options = split_options(&c.table, &names, &c.device, &c.edge).unwrap();
        let option = &options[if c.stop == n { options.len() - 1 } else { c.stop }];
        let planned = option.latency(&link(&c));
        prop_assert!(close(planned.prediction.total_s, want.total_s));
        prop_assert!(close(planned.prediction.device_j, want.device_j));
        let plan = Plan {
            note: String::new(),
            uplink_capacity_bps: 0.0,
            devices: vec![planned.device_plan("cam", "model")],
        };
        let context = DeviceContext {
            table: &c.table,
            device: &c.device,
            link: link(&c),
            upload_bytes: None,
        };
        let scored = score_plan(&plan, &c.edge, &[context]).unwrap();
        prop_assert!(close(scored[0].total_s, want.total_s), "{} vs {}", scored[0].total_s, want.total_s);

        // The multi-device environment with this device alone and the whole edge.
        let version = ModelVersion { name: "v".into(), accuracy: 0.9, table: c.table.clone() };
        let spec = DeviceSpec { transport: c.transport.clone(), ..DeviceSpec::new(c.device, c.radio, Box::new(channel(c.gain)), 0.5, 1.0) };
        let mut multi = MultiDeviceEnv::new(vec![version], vec![spec], c.edge, vec![c.gain], 1, 1);
        Env::reset(&mut multi, Some(1));
        let action = DeviceAction { version: 0, partition: c.stop, compute_share: 1.0, bandwidth_share: 1.0 };
        multi.step(&[action]).unwrap();
        prop_assert!(close(multi.outcomes[0].latency_s, want.total_s));
        prop_assert!(close(multi.outcomes[0].energy_j, want.device_j));
    }
}
