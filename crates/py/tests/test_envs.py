"""coinfer's Python package: Gymnasium's checker on every environment, step-by-step
conformance with the Rust environment, bad input, and the optimal rule's cost reproduced."""

import json
import math
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import coinfer

FIXTURE = Path(__file__).with_name("split_trajectory.json")


def make():
    return gymnasium.make("coinfer/OnlineSplit-v0").unwrapped


def test_gymnasium_checker_passes():
    env = make()
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (3,) and env.action_space.n == 2


def test_same_seed_same_trajectory_as_the_rust_environment():
    """crates/policy/tests/split_env_trajectory.rs wrote the fixture from the Rust env."""
    fixture = json.loads(FIXTURE.read_text())
    env = make()
    compared = 0
    for run in fixture["runs"]:
        for e, episode in enumerate(run["episodes"]):
            obs, _ = env.reset(seed=run["seed"] if e == 0 else None)
            assert obs.dtype == np.float32
            np.testing.assert_array_equal(obs, np.array(episode["first"], dtype=np.float32))
            for step in episode["steps"]:
                obs, reward, terminated, truncated, _ = env.step(step["action"])
                np.testing.assert_array_equal(obs, np.array(step["observation"], dtype=np.float32))
                assert reward == step["reward"]
                assert terminated == step["done"] and not truncated
                compared += 1
    assert compared >= 12


@pytest.mark.parametrize(
    "action, message",
    [(2, "outside"), (-1, "outside"), (0.5, "integer"), (float("nan"), "integer"),
     ("offload", "dtype"), ([0, 1], "shape"), (None, "dtype")],
)
def test_bad_actions_raise_a_clear_value_error(action, message):
    env = make()
    env.reset(seed=1)
    with pytest.raises(ValueError, match=message):
        env.step(action)
    env.step(np.int64(1))  # still usable: numpy integers are actions too


def test_stepping_out_of_order_raises_runtime_error():
    env = make()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=3)
    _, _, done, _, _ = env.step(1)
    assert done, "offloading ends the episode"
    with pytest.raises(RuntimeError, match="ended"):
        env.step(0)


def test_bad_configurations_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        coinfer.OnlineSplitEnv(config=str(tmp_path / "missing.toml"))
    text = (Path(coinfer.__file__).parent / "data" / "online-split.toml").read_text()
    with pytest.raises(ValueError, match="stopping configuration"):
        coinfer.OnlineSplitEnv(config=text.replace("[device]", "[devise]"))
    with pytest.raises(ValueError, match="stopping configuration"):
        coinfer.OnlineSplitEnv(config=text.replace("bandwidth_hz = 2e6", "bandwidth_hz = -1"))
    with pytest.raises(ValueError):
        make().reset(seed=-1)


def test_playing_the_optimal_rule_costs_what_backward_induction_says():
    env = make()
    n = 4000
    costs = []
    env.reset(seed=11)
    for _ in range(n):
        total, done, info = 0.0, False, env._info()
        while not done:
            _, reward, done, _, info = env.step(info["optimal_action"])
            total -= reward
        costs.append(total)
        env.reset()
    mean, se = float(np.mean(costs)), float(np.std(costs) / math.sqrt(n))
    exact = env.optimal_expected_cost()
    assert abs(mean - exact) <= 4 * se + 1e-12 * exact, (mean, se, exact)
    # Always offloading at once costs more in expectation on this configuration.
    always = []
    env.reset(seed=11)
    for _ in range(1000):
        _, reward, _, _, _ = env.step(1)
        always.append(-reward)
        env.reset()
    assert np.mean(always) > exact
