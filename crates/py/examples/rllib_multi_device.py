"""Ray RLlib PPO on seed 001 as a multi-agent problem: every device of the bundled scenario an
agent (``coinfer.multi_agent.MultiDeviceParallelEnv``, PettingZoo), one policy shared by all,
episodes sampled by several env runners.

Outside CI (needs ray[rllib] and torch: ``scripts/setup-train.sh`` makes .venv-train).

On this machine (a local Ray cluster started by the script):

    .venv-train/bin/python crates/py/examples/rllib_multi_device.py \\
        --env-runners 2 --iterations 40 --out experiments/python/rllib-multi-device

Throughput with 1 and then 2 env runners (sampling only, same batch):

    .venv-train/bin/python crates/py/examples/rllib_multi_device.py --throughput 1,2 \\
        --out experiments/python/rllib-throughput

On several machines (the same script; every node needs this repository's .venv-train):

    head$   .venv-train/bin/ray start --head --port 6379
    node$   .venv-train/bin/ray start --address HEAD_IP:6379
    head$   .venv-train/bin/python crates/py/examples/rllib_multi_device.py --address auto \\
                --env-runners 16 --iterations 40 --out experiments/python/rllib-cluster

Writes ``curve.csv`` (per iteration: env steps, mean episode return of the sampling policy,
sampling and iteration seconds, env steps per second) and ``summary.json`` with the
baselines (random actions, the best constant action with equal shares) on the same episodes.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from coinfer.multi_agent import MultiDeviceParallelEnv

MIN_SHARE = 0.05


def make_env(config: dict | None = None):
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    config = config or {}
    return ParallelPettingZooEnv(MultiDeviceParallelEnv(config.get("scenario"), min_share=MIN_SHARE))


def episode_returns(policy, episodes: int, scenario=None) -> np.ndarray:
    """Sum over devices and slots of the utilities, per episode, of ``policy(env, obs)``."""
    env = MultiDeviceParallelEnv(scenario, min_share=MIN_SHARE)
    out = np.empty(episodes)
    for e in range(episodes):
        obs, _ = env.reset(seed=1_000_000 + e)
        total = 0.0
        while env.agents:
            obs, rewards, _, _, _ = env.step(policy(env, obs))
            total += sum(rewards.values())
        out[e] = total
    return out


def baselines(episodes: int, scenario=None) -> dict:
    env = MultiDeviceParallelEnv(scenario, min_share=MIN_SHARE)
    rng = np.random.default_rng(0)
    for a in env.possible_agents:
        env.action_space(a).seed(int(rng.integers(1 << 31)))

    def random_policy(env, obs):
        return {a: env.action_space(a).sample() for a in env.agents}

    def constant(v, p):
        act = {"version": v, "partition": p, "shares": np.ones(2, np.float32)}
        return lambda env, obs: {a: act for a in env.agents}

    space = env.action_space(env.possible_agents[0])
    stats = lambda r: {"mean": float(r.mean()), "se": float(r.std(ddof=1) / math.sqrt(len(r)))}  # noqa: E731
    result = {"random actions": stats(episode_returns(random_policy, episodes, scenario))}
    best = None
    for v in range(space["version"].n):
        for p in range(space["partition"].n):
            r = episode_returns(constant(v, p), episodes, scenario)
            if best is None or r.mean() > best[0].mean():
                best = (r, v, p)
    r, v, p = best
    result[f"best constant action (version {v}, partition {p}, equal shares)"] = stats(r)
    return result


def build(args, env_runners: int):
    from ray.rllib.algorithms.ppo import PPOConfig

    return (
        PPOConfig()
        .environment("coinfer-multi-device", env_config={"scenario": args.scenario})
        .env_runners(num_env_runners=env_runners, num_envs_per_env_runner=1,
                     rollout_fragment_length="auto")
        .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent_id, *a, **k: "shared")
        .training(train_batch_size_per_learner=args.batch, minibatch_size=min(256, args.batch),
                  num_epochs=args.epochs, lr=args.lr, gamma=0.99)
        .debugging(seed=args.seed)
        .build_algo()
    )


def train(args) -> int:
    algo = build(args, args.env_runners)
    curve, start = [], time.time()
    for i in range(1, args.iterations + 1):
        t0 = time.time()
        r = algo.train()
        wall = time.time() - t0  # RLlib's own timers are moving averages
        runners = r["env_runners"]
        sampled = runners.get("num_env_steps_sampled", float("nan"))
        row = {
            "iteration": i,
            "env_steps": int(r.get("num_env_steps_sampled_lifetime", 0)),
            "episode_return_mean": runners.get("episode_return_mean", float("nan")),
            "iteration_s": round(wall, 3),
            "env_steps_per_s": sampled / wall,
            "wall_s": round(time.time() - start, 1),
        }
        curve.append(row)
        print(json.dumps(row), flush=True)
        if args.checkpoint_every and i % args.checkpoint_every == 0:
            algo.save_to_path(str((args.out / "checkpoint").resolve()))
    algo.stop()
    with open(args.out / "curve.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(curve[0]))
        w.writeheader()
        w.writerows(curve)
    last = curve[-5:]
    summary = {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "env_runners": args.env_runners,
        "iterations": args.iterations,
        "train_batch": args.batch,
        "env_steps": curve[-1]["env_steps"],
        "wall_s": round(time.time() - start, 1),
        "first_return_mean": curve[0]["episode_return_mean"],
        "final_return_mean_last5": float(np.mean([c["episode_return_mean"] for c in last])),
        "env_steps_per_s_mean": float(np.mean([c["env_steps_per_s"] for c in curve[1:] or curve])),
        "baselines": baselines(args.baseline_episodes, args.scenario),
        "note": "episode return: the sum over the 4 devices and 50 slots of the utilities "
                "ω·accuracy − (1 − ω)·latency/T_ref, of the sampling (stochastic) policy",
        "versions": versions(),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def throughput(args) -> int:
    """Env steps per second with each number of env runners: sampling alone (the runners
    stepping the environment with the policy, as PPO collects a batch) and whole training
    iterations (sampling and the learner's update), both by wall clock."""
    from ray.rllib.execution.rollout_ops import synchronous_parallel_sample

    rows = []
    for n in [int(x) for x in args.throughput.split(",")]:
        algo = build(args, n)
        algo.train()  # warm-up: runners started, first weights synced
        steps, t0 = 0, time.time()
        for _ in range(args.iterations):
            episodes = synchronous_parallel_sample(
                worker_set=algo.env_runner_group, max_env_steps=args.batch,
                _uses_new_env_runners=True)
            steps += sum(e.env_steps() for e in episodes)
        sampling = steps / (time.time() - t0)
        trained, t0 = 0, time.time()
        for _ in range(args.iterations):
            trained += algo.train()["env_runners"].get("num_env_steps_sampled", 0)
        training = trained / (time.time() - t0)
        algo.stop()
        row = {"env_runners": n, "iterations": args.iterations, "batch_env_steps": args.batch,
               "sampling_env_steps_per_s": sampling, "training_env_steps_per_s": training}
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = rows[0]
    for r in rows:
        r["sampling_speedup"] = r["sampling_env_steps_per_s"] / base["sampling_env_steps_per_s"]
        r["training_speedup"] = r["training_env_steps_per_s"] / base["training_env_steps_per_s"]
    result = {"command": " ".join([Path(sys.executable).name] + sys.argv), "runs": rows,
              "cpus": args.num_cpus, "versions": versions()}
    (args.out / "throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def versions() -> dict:
    import gymnasium
    import ray
    import torch

    import coinfer
    return {"ray": ray.__version__, "torch": torch.__version__, "gymnasium": gymnasium.__version__,
            "coinfer": coinfer.__version__}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", help="a `coinfer mcia` scenario (default: the bundled 4 devices)")
    ap.add_argument("--env-runners", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--batch", type=int, default=4000, help="env steps per training batch")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline-episodes", type=int, default=50)
    ap.add_argument("--checkpoint-every", type=int, default=0)
    ap.add_argument("--throughput", help="comma-separated env-runner counts to time instead of training")
    ap.add_argument("--address", help="join a running Ray cluster (`auto`, or HEAD_IP:6379)")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local cluster")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import ray
    from ray.tune.registry import register_env

    if args.address:
        ray.init(address=args.address)
    else:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False)
    register_env("coinfer-multi-device", make_env)
    try:
        return throughput(args) if args.throughput else train(args)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
