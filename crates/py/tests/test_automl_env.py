"""Seed 000's AutoML search from Python (coinfer/AutoML-v0): Gymnasium's checker, episodes
that prune the real model and are scored on real images, the reward the configuration's,
memoised and cached, and bad input as named exceptions."""

import math
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import coinfer


def make(tmp_path, **kw):
    settings = dict(val_images=200, recalibration_images=128, cache_dir=tmp_path / "cache")
    settings.update(kw)
    return gymnasium.make("coinfer/AutoML-v0", **settings).unwrapped


def episode(env, a):
    env.reset()
    done, steps = False, 0
    while not done:
        obs, reward, done, truncated, info = env.step(np.array([a], np.float32))
        assert env.observation_space.contains(obs) and not truncated
        steps += 1
    assert steps == env.steps
    return reward, info["outcome"]


def test_checker_passes(tmp_path):
    env = make(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)


def test_episodes_prune_the_real_model_and_score_it(tmp_path):
    env = make(tmp_path)
    space = env.space()
    full = [d["channels"] for d in space["decisions"]]
    r_all, keep_all = episode(env, 1.0)
    assert keep_all["config"]["kept"] == full and keep_all["config"]["bits"] == max(space["feature"]["bits"])
    acc = keep_all["evaluated"]["accuracy"]
    assert 0.6 < acc <= 1.0  # the trained model, unpruned, on 200 validation images
    latency = keep_all["cost"]["prediction"]["total_s"]
    # Seed 000's reward: −ln(latency in µs), no shortfall for the unpruned configuration.
    assert r_all == pytest.approx(-math.log(latency * 1e6), rel=1e-9)
    r_min, smallest = episode(env, 0.0)
    assert all(k < f for k, f in zip(smallest["config"]["kept"], full))
    assert smallest["cost"]["prediction"]["total_s"] < latency
    assert smallest["evaluated"]["bytes_per_sample"] < keep_all["evaluated"]["bytes_per_sample"]
    # Pruned to the minimum the accuracy collapses: more than a point below, so penalised.
    assert smallest["evaluated"]["accuracy"] < acc - 0.01 and r_min < r_all
    # Memoised: the same configuration again costs no evaluation and scores the same.
    n = env.evaluations
    assert episode(env, 1.0)[0] == r_all and env.evaluations == n
    # Cached on disk: a new environment over the same cache gives the same scores.
    again = make(tmp_path)
    assert episode(again, 1.0)[1]["evaluated"] == keep_all["evaluated"]


def test_bad_input_names_the_problem(tmp_path):
    env = make(tmp_path)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([0.5], np.float32))
    env.reset()
    for bad, match in [([float("nan")], "keep ratio"), ([1.5], "keep ratio"),
                       ([0.5, 0.5], "keep ratio"), (["x"], "dtype")]:
        with pytest.raises(ValueError, match=match):
            env.step(np.array(bad))
    for _ in range(env.steps):
        env.step(np.array([1.0], np.float32))
    with pytest.raises(RuntimeError, match="ended"):
        env.step(np.array([1.0], np.float32))
    with pytest.raises(FileNotFoundError):
        make(tmp_path, model=tmp_path / "none.onnx")
    with pytest.raises(ValueError, match="unknown hardware"):
        make(tmp_path, device="toaster")
    with pytest.raises(ValueError, match="nothing for the search to decide"):
        make(tmp_path, cut="stem.relu")
    with pytest.raises(ValueError, match="rlu|cut"):
        make(tmp_path, cut="stage1.block0.rlu")
    with pytest.raises(ValueError, match="needs a budget"):
        make(tmp_path, reward={"kind": "accuracy-constrained"})
    with pytest.raises(ValueError, match="unknown variant|kind"):
        make(tmp_path, reward={"kind": "vibes"})
    with pytest.raises(ValueError, match="not both"):
        make(tmp_path, budget_ms=10, budget_mmacs=1)
    with pytest.raises(ValueError, match="link rate"):
        make(tmp_path, rate_mbps=0)
    with pytest.raises(ValueError, match="round-trip"):
        make(tmp_path, rtt_ms=-1)
    with pytest.raises(ValueError, match="budget must be"):
        make(tmp_path, budget_ms=-1)
    with pytest.raises(ValueError, match="colour"):
        coinfer._native.AutomlEnv('{"colour": 1}')
