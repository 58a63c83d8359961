"""The training examples' learning curves, for the README and docs/results.md:

    .venv/bin/python crates/py/examples/plot_curves.py   # reads experiments/python/*, writes learning-curves.svg

Left: SB3 PPO on coinfer/OnlineSplit-v0, the greedy policy's mean cost per inference on 10,000
held-out episodes above the optimal stopping rule's on the same episodes (± 1 paired standard
error), and the best fixed split's. Right: RLlib PPO on the multi-device environment, the sampling
policy's mean episode return against random actions, the best constant action and the
per-slot optimum (`coinfer mcia eval`, × 50 slots).
"""

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[3] / "experiments" / "python"


def main():
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    sb3 = json.loads((ROOT / "sb3-online-split" / "summary.json").read_text())
    rows = list(csv.DictReader(open(ROOT / "sb3-online-split" / "curve.csv")))
    steps = [int(r["timesteps"]) / 1e3 for r in rows]
    opt = sb3["baselines"]["optimal stopping (backward induction)"]["mean"]
    gap = [100 * float(r["excess_over_optimal"]) / opt for r in rows]
    se = [100 * float(r["excess_se"]) / opt for r in rows]
    a.errorbar(steps, gap, yerr=se, marker="o", ms=3, capsize=2, label="PPO (SB3), greedy policy")
    a.axhline(0, color="k", ls="--", lw=1, label="optimal stopping rule")
    fixed = min(v["mean"] for v in sb3["fixed_splits"].values())
    a.text(0.97, 0.9, f"best fixed split: +{100 * (fixed / opt - 1):.0f} %", ha="right",
           transform=a.transAxes, fontsize=8, color="tab:red")
    a.set_xlabel("PPO environment steps (thousands)")
    a.set_ylabel("cost above the optimal rule (%)")
    a.set_title("Seed 002: online splitting (10,000 held-out episodes)")
    a.legend(fontsize=7, loc="center right")
    rl = list(csv.DictReader(open(ROOT / "rllib-multi-device" / "curve.csv")))
    summ = json.loads((ROOT / "rllib-multi-device" / "summary.json").read_text())
    ref = json.loads((ROOT / "rllib-multi-device" / "mcia-eval-reference.json").read_text())
    b.plot([int(r["env_steps"]) / 1e3 for r in rl], [float(r["episode_return_mean"]) for r in rl],
           lw=1, label="PPO (RLlib, 2 env runners), sampling policy")
    optimum = next(m for m in ref["methods"] if m["method"].startswith("exhaustive"))["mean_utility"] * 50
    b.axhline(optimum, color="k", ls="--", lw=1, label="per-slot optimum (exhaustive)")
    for name, v in summ["baselines"].items():
        style = ("tab:red", "-.") if name.startswith("best") else ("tab:gray", ":")
        b.axhline(v["mean"], color=style[0], ls=style[1], lw=1, label=name.split(" (")[0])
    b.set_xlabel("environment steps (thousands)")
    b.set_ylabel("episode return (Σ utilities, 50 slots)")
    b.set_title("Seed 001: 4 devices, one shared policy")
    b.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out = ROOT / "learning-curves.svg"
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
