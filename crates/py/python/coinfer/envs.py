"""Gymnasium wrappers of coinfer's Rust environments: spaces, argument checks, and nothing
else (the dynamics, costs and rules live in Rust)."""

from importlib import resources
from pathlib import Path

import gymnasium
import numpy as np

from coinfer import _native


def _default_config(name: str) -> str:
    return resources.files("coinfer").joinpath("data", name).read_text()


def _box(space: dict) -> gymnasium.spaces.Box:
    low = np.array(space["low"], dtype=np.float32)
    high = np.array(space["high"], dtype=np.float32)
    return gymnasium.spaces.Box(low=low, high=high, dtype=np.float32)


def _action_int(action, n: int) -> int:
    """An integer action in 0..n, or a ValueError saying what was wrong."""
    a = np.asarray(action)
    if a.shape not in ((), (1,)):
        raise ValueError(f"action must be one integer in 0..{n - 1}, got shape {a.shape}")
    a = a.reshape(())
    if a.dtype.kind == "f":
        if not np.isfinite(a) or a != np.round(a):
            raise ValueError(f"action must be an integer in 0..{n - 1}, got {a.item()!r}")
    elif a.dtype.kind not in "iub":
        raise ValueError(f"action must be an integer in 0..{n - 1}, got dtype {a.dtype}")
    v = int(a)
    if not 0 <= v < n:
        raise ValueError(f"action {v} is outside 0..{n - 1}")
    return v


class OnlineSplitEnv(gymnasium.Env):
    """Seed 002: one inference per episode, split online under fading.

    At stage ``n`` the device has computed ``n`` of the network's ``N`` layers and sees the
    uplink's channel gain ``h``; it either offloads the current feature (action 1: transmit
    it and let the edge finish) or computes one more layer (action 0). After the last layer
    the device has answered. Gains are i.i.d. per stage from the configuration's channel.

    - Observation (float32, 3): ``[n / N, ln(h / mean h), ln(Φ_n(h) / ψ_mean)]`` — progress,
      the channel relative to its mean, and the cost of offloading now relative to the mean
      offload cost.
    - Action: ``Discrete(2)``.
    - Reward: minus the step's weighted cost ``w_T · seconds + w_E · joules`` (the device's
      compute, or the offload: transmission, edge compute, and the configured transport).
    - ``info``: ``stage``, ``gain``, ``optimal_action`` (what backward induction's optimal
      rule does here).

    ``config`` is a ``coinfer stopping`` TOML file (path) or its text; the default is a
    10-layer MLP on a Raspberry Pi 4 with an edge GPU and a 2 MHz Rayleigh-faded uplink.
    """

    metadata = {"render_modes": []}

    def __init__(self, config: str | Path | None = None, render_mode=None):
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r}: this environment does not render")
        if config is None:
            text = _default_config("online-split.toml")
        elif isinstance(config, Path) or (isinstance(config, str) and "\n" not in config):
            path = Path(config)
            if not path.is_file():
                raise FileNotFoundError(f"stopping configuration {path} not found")
            text = path.read_text()
        else:
            text = config
        self._env = _native.SplitEnv(text, 0)
        self.observation_space = _box(self._env.observation_space())
        self.action_space = gymnasium.spaces.Discrete(self._env.action_space()["n"])

    @property
    def layers(self) -> int:
        """Layers N of the network."""
        return self._env.layers()

    def optimal_expected_cost(self) -> float:
        """The optimal stopping rule's exact expected cost per inference (episode)."""
        return self._env.optimal_expected_cost()

    def _info(self) -> dict:
        return {
            "stage": self._env.stage(),
            "gain": self._env.gain(),
            "optimal_action": self._env.optimal_action(),
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None and not (isinstance(seed, (int, np.integer)) and 0 <= seed < 2**64):
            raise ValueError(f"seed {seed!r} must be an integer in 0..2**64")
        super().reset(seed=seed)
        obs = self._env.reset(None if seed is None else int(seed))
        return obs, self._info()

    def step(self, action):
        a = _action_int(action, self.action_space.n)
        obs, reward, done = self._env.step(a)
        return obs, reward, done, False, self._info()
