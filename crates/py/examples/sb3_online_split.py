"""Stable-Baselines3 PPO on seed 002's online splitting (``coinfer/OnlineSplit-v0``), compared
with the optimal stopping rule (backward induction, exact expected cost) and the fixed rules.

Outside CI (needs torch and stable-baselines3: ``scripts/setup-train.sh`` makes .venv-train):

    .venv-train/bin/python crates/py/examples/sb3_online_split.py \\
        --timesteps 200000 --out experiments/python/sb3-online-split

Writes ``curve.csv`` (mean cost per inference of the greedy policy on the same held-out
episodes at every checkpoint, with its standard error) and ``summary.json``; prints both.
Every cost is minus the environment's reward: ``w_T · seconds + w_E · joules`` per inference.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import gymnasium
import numpy as np

import coinfer  # noqa: F401  (registers the environments)


def rollout(env: gymnasium.Env, act, seeds: list[int]) -> np.ndarray:
    """Cost per episode of the rule ``act(obs, info) -> action`` on episodes seeded ``seeds``."""
    costs = np.empty(len(seeds))
    for i, seed in enumerate(seeds):
        obs, info = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(act(obs, info))
            total -= reward
            done = terminated or truncated
        costs[i] = total
    return costs


def summary(costs: np.ndarray) -> dict:
    return {"mean": float(costs.mean()), "se": float(costs.std(ddof=1) / math.sqrt(len(costs)))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="a `coinfer stopping` TOML (default: the bundled MLP setup)")
    ap.add_argument("--timesteps", type=int, default=200_000, help="PPO environment steps")
    ap.add_argument("--checkpoints", type=int, default=10, help="evaluations along training")
    ap.add_argument("--eval-episodes", type=int, default=5000, help="held-out episodes per evaluation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    make = lambda: gymnasium.make("coinfer/OnlineSplit-v0", config=args.config)  # noqa: E731
    env, eval_env = make(), make()
    layers = env.unwrapped.layers
    exact = env.unwrapped.optimal_expected_cost()
    # Held-out episodes: seeds far from the training ones.
    seeds = [10_000_000 + i for i in range(args.eval_episodes)]
    optimal = rollout(eval_env, lambda o, info: info["optimal_action"], seeds)
    baselines = {"optimal stopping (backward induction)": summary(optimal)}
    # Fixed splits: offload right after layer k whatever the channel (k = 0: send the input;
    # k = N: never offload, all on the device).
    fixed = {}
    for k in range(layers + 1):
        rule = lambda o, info, k=k: int(info["stage"] >= k)  # noqa: E731
        fixed[k] = summary(rollout(eval_env, rule, seeds))
    best_k = min(fixed, key=lambda k: fixed[k]["mean"])
    baselines[f"best fixed split (k = {best_k} of {layers} layers on the device)"] = fixed[best_k]

    model = PPO("MlpPolicy", env, seed=args.seed, verbose=0, n_steps=2048, batch_size=256,
                gamma=1.0, device="cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    curve, start = [], time.time()
    per = max(1, args.timesteps // args.checkpoints)
    greedy = lambda o, info: int(model.predict(o, deterministic=True)[0])  # noqa: E731
    for c in range(args.checkpoints + 1):
        if c > 0:
            model.learn(total_timesteps=per, reset_num_timesteps=False)
        costs = rollout(eval_env, greedy, seeds)
        s, paired = summary(costs), summary(costs - optimal)
        row = {"timesteps": model.num_timesteps, "wall_s": round(time.time() - start, 1),
               "cost_mean": s["mean"], "cost_se": s["se"],
               # Same episodes as the optimal rule: the gap's standard error is paired.
               "excess_over_optimal": paired["mean"], "excess_se": paired["se"],
               "gap_to_optimal": paired["mean"] / optimal.mean()}
        curve.append(row)
        print(json.dumps(row), flush=True)
    with open(args.out / "curve.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(curve[0]))
        w.writeheader()
        w.writerows(curve)
    final = curve[-1]
    result = {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "environment": "coinfer/OnlineSplit-v0", "layers": layers,
        "config": args.config or "bundled online-split.toml (examples/stopping-mlp.toml)",
        "timesteps": model.num_timesteps, "eval_episodes": args.eval_episodes,
        "exact_optimal_expected_cost": exact,
        "baselines": baselines,
        "fixed_splits": {str(k): v for k, v in fixed.items()},
        "ppo_final": {"mean": final["cost_mean"], "se": final["cost_se"]},
        "ppo_excess_over_optimal": {"mean": final["excess_over_optimal"], "se": final["excess_se"]},
        "ppo_gap_to_optimal": final["gap_to_optimal"],
        "versions": {"stable_baselines3": __import__("stable_baselines3").__version__,
                     "torch": torch.__version__, "gymnasium": gymnasium.__version__,
                     "coinfer": coinfer.__version__},
        "wall_s": round(time.time() - start, 1),
    }
    (args.out / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
