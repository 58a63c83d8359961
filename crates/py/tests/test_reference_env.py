"""The pure-Python reference of the multi-device environment (the benchmark's baseline) is
the same environment as the Rust one: given the same channel gains and actions, the same
utility for every device. Otherwise the speed ratio would compare different work."""

import math
import sys
from pathlib import Path

import numpy as np

import coinfer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from reference_multi_device import ReferenceMultiDeviceEnv  # noqa: E402


def test_the_reference_gives_the_rust_utilities_for_the_same_gains_and_actions():
    native = coinfer._native.MultiDeviceEnv(coinfer.default_scenario(), 0)
    ref = ReferenceMultiDeviceEnv(coinfer.default_scenario(), seed=0)
    n = native.num_devices()
    assert len(ref.devices) == n
    parts = native.max_partition() + 1
    rng = np.random.default_rng(5)
    ref.reset(seed=0)
    obs = native.reset(7)
    checked = 0
    for step in range(200):
        # The Rust gains, from its observation's ln(h / mean h).
        ref._gains = [d["mean"] * math.exp(float(obs[4 * i + 1])) for i, d in enumerate(ref.devices)]
        v = rng.integers(0, len(native.versions()), n)
        p = rng.integers(0, parts, n)
        c, b = rng.uniform(0.05, 1, n), rng.uniform(0.05, 1, n)
        expected = ref.outcomes(v, p, c, b)
        obs, reward, done, outcomes = native.step(v, p, c, b)
        got = outcomes["utility"]
        np.testing.assert_allclose([o["utility"] for o in expected], got, rtol=1e-5, atol=1e-9)
        assert reward == sum(got)
        # Observations agree on everything but the gain (drawn by different generators).
        ref_obs = ref._observe()
        np.testing.assert_allclose(ref_obs[0::4], obs[0::4])
        np.testing.assert_allclose(ref_obs[2::4], obs[2::4], rtol=1e-6)
        checked += 1
        if done:
            obs = native.reset(None)
    assert checked == 200


def test_the_reference_runs_as_a_gymnasium_environment():
    ref = ReferenceMultiDeviceEnv(coinfer.default_scenario(), seed=0)
    obs, _ = ref.reset(seed=1)
    assert ref.observation_space.contains(obs)
    ref.action_space.seed(0)
    total, steps, done = 0.0, 0, False
    while not done:
        a = ref.action_space.sample()
        a["compute_share"] = np.maximum(a["compute_share"], 0.05)
        a["bandwidth_share"] = np.maximum(a["bandwidth_share"], 0.05)
        obs, r, _, done, _ = ref.step(a)
        total += r
        steps += 1
    assert steps == ref.horizon and math.isfinite(total)
