"""Seed 001 from Python: the single-agent Gymnasium environment (agent or exact shares), the
PettingZoo parallel environment, the batched environment stepped in Rust, conformance with
the Rust environment, and bad input."""

import json
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

import coinfer
from coinfer.multi_agent import MultiDeviceParallelEnv

FIXTURE = Path(__file__).with_name("multi_device_trajectory.json")


@pytest.mark.parametrize("shares", ["agent", "exact"])
def test_gymnasium_checker_passes(shares):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded observation boxes: by design
        check_env(gymnasium.make("coinfer/MultiDevice-v0", shares=shares).unwrapped,
                  skip_render_check=True)


def test_pettingzoo_parallel_api():
    parallel_api_test(MultiDeviceParallelEnv(), num_cycles=120)


def test_same_seed_same_trajectory_as_the_rust_environment():
    """crates/policy/tests/python_fixtures.rs wrote the fixture from the Rust env."""
    fixture = json.loads(FIXTURE.read_text())
    env = gymnasium.make("coinfer/MultiDevice-v0").unwrapped
    for run in fixture["runs"]:
        obs, _ = env.reset(seed=run["seed"])
        np.testing.assert_array_equal(obs, np.array(run["first"], dtype=np.float32))
        for step in run["steps"]:
            action = {k: np.array(step[k]) for k in
                      ("version", "partition", "compute_share", "bandwidth_share")}
            obs, reward, terminated, truncated, info = env.step(action)
            np.testing.assert_array_equal(obs, np.array(step["observation"], dtype=np.float32))
            assert reward == step["reward"]
            np.testing.assert_array_equal(info["utility"], np.array(step["utility"]))
            assert truncated == step["done"] and not terminated


def test_agents_rewards_add_up_to_the_single_agent_reward():
    single = gymnasium.make("coinfer/MultiDevice-v0").unwrapped
    multi = MultiDeviceParallelEnv()
    single.reset(seed=9)
    obs, _ = multi.reset(seed=9)
    rng = np.random.default_rng(0)
    n = single.num_devices
    for _ in range(5):
        v, p = rng.integers(0, 4, n), rng.integers(0, 21, n)
        c, b = rng.random(n), rng.random(n)
        _, reward, *_ = single.step({"version": v, "partition": p, "compute_share": c,
                                     "bandwidth_share": b})
        acts = {a: {"version": v[i], "partition": p[i], "shares": np.array([c[i], b[i]])}
                for i, a in enumerate(multi.possible_agents)}
        _, rewards, *_ = multi.step(acts)
        assert sum(rewards.values()) == pytest.approx(reward, rel=1e-12)


def test_exact_shares_beat_equal_shares_on_average():
    """The exact allocation is optimal for fixed choices: never worse than equal weights."""
    agent = gymnasium.make("coinfer/MultiDevice-v0").unwrapped
    exact = gymnasium.make("coinfer/MultiDevice-v0", shares="exact").unwrapped
    agent.reset(seed=5)
    exact.reset(seed=5)
    n = agent.num_devices
    for t in range(20):
        v, p = np.full(n, 3), np.full(n, t % 21)
        _, r_equal, *_ = agent.step({"version": v, "partition": p, "compute_share": np.ones(n),
                                     "bandwidth_share": np.ones(n)})
        _, r_exact, *_ = exact.step({"version": v, "partition": p})
        assert r_exact >= r_equal - 1e-9


def test_batched_copies_equal_single_environments():
    b, seed = 8, 100
    vec = coinfer.VecMultiDeviceEnv(coinfer.default_scenario(), b, seed)
    singles = [gymnasium.make("coinfer/MultiDevice-v0").unwrapped for _ in range(b)]
    obs = vec.reset(seed=seed)
    for k, s in enumerate(singles):
        o, _ = s.reset(seed=seed + k)
        np.testing.assert_array_equal(obs[k], o)
    n = vec.num_devices()
    rng = np.random.default_rng(1)
    for _ in range(60):  # past the horizon (50): copies reset themselves
        v, p = rng.integers(0, 4, (b, n)), rng.integers(0, 21, (b, n))
        c, w = rng.random((b, n)), rng.random((b, n))
        obs, rewards, dones, finals = vec.step(v, p, c, w)
        for k, s in enumerate(singles):
            o, r, _, trunc, _ = s.step({"version": v[k], "partition": p[k],
                                        "compute_share": c[k], "bandwidth_share": w[k]})
            assert rewards[k] == r and dones[k] == trunc
            np.testing.assert_array_equal(finals[k], o)
            if trunc:
                o, _ = s.reset()
            np.testing.assert_array_equal(obs[k], o)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(version=a["version"][:2]), "2 entries for 4 devices"),
        (lambda a: a.update(version=list(a["version"][:2])), "shape"),
        (lambda a: a.update(version=a["version"] + 10), "version 10 of 4"),
        (lambda a: a.update(version=[9, 0, 0, 0]), "version must be in"),
        (lambda a: a.update(partition=-a["partition"] - 1), "partition -1 must be ≥ 0"),
        (lambda a: a.update(partition=a["partition"] + 50), "partition 50 beyond"),
        (lambda a: a.update(partition=a["partition"] + 0.5), "integers"),
        (lambda a: a.update(compute_share=np.full(4, np.nan)), "finite"),
        (lambda a: a.update(bandwidth_share=-np.ones(4)), "≥ 0"),
        (lambda a: a.update(version=np.array(["a", "b", "c", "d"])), "integers"),
        (lambda a: a.pop("compute_share"), "lacks"),
    ],
)
def test_bad_actions_raise_a_clear_value_error_and_change_nothing(change, message):
    env = gymnasium.make("coinfer/MultiDevice-v0").unwrapped
    env.reset(seed=2)
    good = {"version": np.zeros(4, int), "partition": np.zeros(4, int),
            "compute_share": np.ones(4), "bandwidth_share": np.ones(4)}
    bad = {k: v.copy() for k, v in good.items()}
    change(bad)
    with pytest.raises(ValueError, match=message):
        env.step(bad)
    env.step(good)


def test_batched_bad_input_changes_no_copy():
    vec = coinfer.VecMultiDeviceEnv(coinfer.default_scenario(), 2, 0)
    vec.reset(seed=0)
    z, o = np.zeros((2, 4), np.int64), np.ones((2, 4))
    with pytest.raises(ValueError, match="shape"):
        vec.step(z[:1], z, o, o)
    bad = z.copy()
    bad[1, 2] = 99
    with pytest.raises(ValueError, match="copy 1, device 2"):
        vec.step(bad, z, o, o)
    with pytest.raises(ValueError, match="num_envs"):
        coinfer.VecMultiDeviceEnv(coinfer.default_scenario(), 0, 0)


def test_missing_or_bad_scenarios_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        coinfer.MultiDeviceEnv(scenario=tmp_path / "nope.toml")
    text = Path(coinfer.default_scenario()).read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text)  # its version table is relative to it, and not there
    with pytest.raises(ValueError, match="versions"):
        coinfer.MultiDeviceEnv(scenario=bad)
    table = Path(coinfer.default_scenario()).with_name("versions.json")
    bad.write_text(text.replace('"versions.json"', json.dumps(str(table)))
                   .replace("slot_ms = 100", "slot_ms = -1"))
    with pytest.raises(ValueError, match="slot_ms"):
        coinfer.MultiDeviceEnv(scenario=bad)
    with pytest.raises(ValueError, match="shares"):
        coinfer.MultiDeviceEnv(shares="greedy")
    env = MultiDeviceParallelEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


def test_a_share_floor_keeps_sampled_actions_finite():
    # With weights from [0, 1] a device offloading beside others gets nothing when its weight
    # is 0: -inf. The floor bounds the spaces, so actions sampled from them stay finite.
    env = gymnasium.make("coinfer/MultiDevice-v0", min_share=0.05)
    assert env.action_space["compute_share"].low.min() == np.float32(0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    env.action_space.seed(0)
    env.reset(seed=0)
    for _ in range(50):
        _, reward, _, truncated, _ = env.step(env.action_space.sample())
        assert np.isfinite(reward)
        if truncated:
            env.reset()
    starved = {"version": np.zeros(4, np.int64), "partition": np.zeros(4, np.int64),
               "compute_share": np.array([0.0, 1, 1, 1]), "bandwidth_share": np.array([0.0, 1, 1, 1])}
    env.reset(seed=0)
    assert env.step(starved)[1] == -np.inf
    par = MultiDeviceParallelEnv(min_share=0.05)
    parallel_api_test(par, num_cycles=60)
    assert par.action_space("device_0")["shares"].low.min() == np.float32(0.05)
    for bad in (1.0, -0.1, float("nan"), "0.1", True):
        with pytest.raises(ValueError, match="min_share"):
            coinfer.MultiDeviceEnv(min_share=bad)
        with pytest.raises(ValueError, match="min_share"):
            MultiDeviceParallelEnv(min_share=bad)
