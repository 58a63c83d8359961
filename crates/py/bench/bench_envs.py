"""Throughput of coinfer's environments from Python (issue 17's targets), measured here:

- the batched multi-device environment (`VecMultiDeviceEnv`, copies stepped in Rust) in
  device-steps per second, with rayon on 1 and 2 threads;
- the same environment written in pure Python (`reference_multi_device.py`, checked equal to
  the Rust one by `tests/test_reference_env.py`), one copy stepped in a loop: the ratio of
  the batched environment's rate on one thread to it;
- one `step` of the native multi-device environment and of the Gymnasium wrapper, against
  the same step timed in Rust (`coinfer bench sim`'s per-slot time at the same device count,
  run by this script), so the Python overhead per call is a difference measured in one run.

    .venv/bin/python crates/py/bench/bench_envs.py [--copies 256] [--seconds 3]
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def vec_rate(threads: int, copies: int, seconds: float) -> float:
    """Device-steps/s of VecMultiDeviceEnv in a fresh process with RAYON_NUM_THREADS."""
    code = f"""
import time, numpy as np, coinfer
vec = coinfer.VecMultiDeviceEnv(coinfer.default_scenario(), {copies}, 0)
vec.reset(seed=0)
b, n = {copies}, vec.num_devices()
rng = np.random.default_rng(0)
acts = [(rng.integers(0, 4, (b, n)), rng.integers(0, 21, (b, n)), rng.random((b, n)), rng.random((b, n))) for _ in range(16)]
for a in acts: vec.step(*a)
steps, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < {seconds}:
    for a in acts: vec.step(*a)
    steps += len(acts)
print(steps * b * n / (time.perf_counter() - t0))
"""
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def reference_rate(seconds: float) -> float:
    """Device-steps/s of the pure-Python reference (one copy, random actions drawn up front)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import coinfer
    from reference_multi_device import ReferenceMultiDeviceEnv

    env = ReferenceMultiDeviceEnv(coinfer.default_scenario(), seed=0)
    env.reset(seed=0)
    n = len(env.devices)
    rng = np.random.default_rng(0)
    acts = [{"version": rng.integers(0, 4, n), "partition": rng.integers(0, 21, n),
             "compute_share": rng.random(n), "bandwidth_share": rng.random(n)} for _ in range(16)]
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for a in acts:
            if env.step(a)[3]:
                env.reset()
        steps += len(acts)
    return steps * n / (time.perf_counter() - t0)


def per_call_us(fn, seconds: float) -> float:
    for _ in range(1000):
        fn()
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(1000):
            fn()
        calls += 1000
    return (time.perf_counter() - t0) / calls * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--coinfer", default="target/release/coinfer", help="the CLI, for the Rust side")
    args = ap.parse_args()
    import gymnasium
    import coinfer

    native = coinfer._native.MultiDeviceEnv(coinfer.default_scenario(), 0)
    native.reset(0)
    n = native.num_devices()
    v, p = np.zeros(n, np.int64), np.full(n, 5, np.int64)
    c, b = np.ones(n), np.ones(n)

    def native_step():
        _, _, done, _ = native.step(v, p, c, b)
        if done:
            native.reset(None)

    wrapped = gymnasium.make("coinfer/MultiDevice-v0").unwrapped
    wrapped.reset(seed=0)
    action = {"version": v, "partition": p, "compute_share": c, "bandwidth_share": b}

    def wrapped_step():
        _, _, _, trunc, _ = wrapped.step(action)
        if trunc:
            wrapped.reset()

    native_us = per_call_us(native_step, args.seconds)
    wrapped_us = per_call_us(wrapped_step, args.seconds)
    rust = subprocess.run([args.coinfer, "--json", "bench", "sim", "--devices", str(n)],
                          capture_output=True, text=True, check=True)
    rust = json.loads(rust.stdout)
    result = {
        "devices": n,
        "copies": args.copies,
        "vec_device_steps_per_s_1_thread": vec_rate(1, args.copies, args.seconds),
        "vec_device_steps_per_s_2_threads": vec_rate(2, args.copies, args.seconds),
        "pure_python_device_steps_per_s": reference_rate(args.seconds),
        "native_step_us": native_us,
        "gymnasium_step_us": wrapped_us,
        "rust_step_us": n / rust["device_steps_per_s"] * 1e6,
    }
    result["vec_1_thread_over_pure_python"] = (
        result["vec_device_steps_per_s_1_thread"] / result["pure_python_device_steps_per_s"])
    result["native_overhead_us"] = native_us - result["rust_step_us"]
    result["gymnasium_overhead_us"] = wrapped_us - result["rust_step_us"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
