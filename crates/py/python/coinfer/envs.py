"""Gymnasium wrappers of coinfer's Rust environments: spaces, argument checks, and nothing
else (the dynamics, costs and rules live in Rust)."""

import json
import os
from importlib import resources
from pathlib import Path

import gymnasium
import numpy as np

from coinfer import _native


def _default_config(name: str) -> str:
    return resources.files("coinfer").joinpath("data", name).read_text()


def _check_seed(seed) -> None:
    """A seed is None or an integer in 0..2**64 (the Rust generator's); else a ValueError."""
    if seed is not None and not (isinstance(seed, (int, np.integer)) and 0 <= seed < 2**64):
        raise ValueError(f"seed {seed!r} must be an integer in 0..2**64")


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
        _check_seed(seed)
        super().reset(seed=seed)
        obs = self._env.reset(None if seed is None else int(seed))
        return obs, self._info()

    def step(self, action):
        a = _action_int(action, self.action_space.n)
        obs, reward, done = self._env.step(a)
        return obs, reward, done, False, self._info()


def _data_path(name: str) -> str:
    return str(resources.files("coinfer").joinpath("data", name))


def _scenario_path(scenario) -> str:
    if scenario is None:
        return _data_path("multi-device.toml")
    path = Path(scenario)
    if not path.is_file():
        raise FileNotFoundError(f"scenario {path} not found")
    return str(path)


def _int_array(x, n: int, name: str, high: int) -> np.ndarray:
    """n integers in 0..high, or a ValueError naming the problem."""
    a = np.asarray(x)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one per device), got {a.shape}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"{name} must hold integers, got {a}")
    elif a.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if np.any(a < 0) or np.any(a >= high):
        raise ValueError(f"{name} must be in 0..{high - 1}, got {a}")
    return a


def _check_min_share(x) -> float:
    """The share spaces' lower bound, a number in [0, 1)."""
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise ValueError(f"min_share must be a number in [0, 1), got {x!r}")
    if not 0.0 <= float(x) < 1.0:
        raise ValueError(f"min_share must be in [0, 1), got {x}")
    return float(x)


def _share_array(x, n: int, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind in "iuf" else None
    if a is None or a.shape != (n,):
        raise ValueError(f"{name} must be {n} numbers (one per device), got {np.asarray(x)!r}")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{name} must be finite and ≥ 0, got {a}")
    return a


class MultiDeviceEnv(gymnasium.Env):
    """Seed 001 (MCIA): many heterogeneous devices share one edge.

    Every slot each device picks a model version, a partition point (layers run on the
    device: 0 sends the input, the layer count answers locally) and — with
    ``shares="agent"`` — weights for its share of the edge's compute and of the uplink band,
    normalised over the devices that offload; with ``shares="exact"`` the exact allocation
    (seed 001's optimum for fixed choices) sets them.

    - Observation (float32, 4 per device): ``[ω, ln(h/h̄), ln(GMAC/s), backlog/slot]`` —
      the task's accuracy weight, the channel relative to its mean, the device's speed, its
      queue.
    - Action: ``Dict(version=MultiDiscrete, partition=MultiDiscrete[, compute_share=Box(0, 1),
      bandwidth_share=Box(0, 1)])``, one entry per device.
    - Reward: the sum of the devices' utilities ``ω·accuracy − (1 − ω)·latency/T_ref``
      (``info["utility"]`` per device, with latency, energy, shares, deadline misses).
    - Episodes end by truncation after the scenario's horizon.

    ``scenario``: a ``coinfer mcia`` scenario file; the default has four devices (two
    sensors, a Raspberry Pi 4, an MCU) on an edge CPU and a 4 MHz uplink. ``min_share``: the
    share boxes' lower bound (a weight of 0 beside others' starves a device that offloads:
    infinite latency, utility ``-inf``; RL libraries want a bound above 0).
    """

    metadata = {"render_modes": []}

    def __init__(self, scenario=None, shares: str = "agent", render_mode=None,
                 min_share: float = 0.0):
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r}: this environment does not render")
        min_share = _check_min_share(min_share)
        if shares not in ("agent", "exact"):
            raise ValueError(f"shares must be 'agent' or 'exact', not {shares!r}")
        self._env = _native.MultiDeviceEnv(_scenario_path(scenario), 0)
        self.shares = shares
        n = self.num_devices = self._env.num_devices()
        self.version_names = self._env.versions()
        self._versions, self._partitions = len(self.version_names), self._env.max_partition() + 1
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (4 * n,), np.float32)
        parts = {
            "version": gymnasium.spaces.MultiDiscrete([self._versions] * n),
            "partition": gymnasium.spaces.MultiDiscrete([self._partitions] * n),
        }
        if shares == "agent":
            parts["compute_share"] = gymnasium.spaces.Box(min_share, 1.0, (n,), np.float32)
            parts["bandwidth_share"] = gymnasium.spaces.Box(min_share, 1.0, (n,), np.float32)
        self.action_space = gymnasium.spaces.Dict(parts)

    def action_mask(self) -> np.ndarray:
        """``mask[d, v, p]``: whether device ``d`` may run version ``v`` split at ``p``."""
        return self._env.action_mask()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        _check_seed(seed)
        super().reset(seed=seed)
        return self._env.reset(None if seed is None else int(seed)), {}

    def step(self, action):
        # Arrays of the right dtype go straight to Rust, which checks lengths, ranges, memory
        # and finiteness and names what is wrong; anything else is converted (or refused) here.
        try:
            v, p = action["version"], action["partition"]
            if self.shares == "agent":
                c, b = action["compute_share"], action["bandwidth_share"]
        except KeyError as e:
            raise ValueError(f"action lacks {e}: keys {sorted(self.action_space.spaces)}") from None
        except TypeError:
            raise ValueError(
                f"action must be a dict with keys {sorted(self.action_space.spaces)}"
            ) from None
        n = self.num_devices
        if not (type(v) is np.ndarray and v.dtype == np.int64):
            v = _int_array(v, n, "version", self._versions)
        if not (type(p) is np.ndarray and p.dtype == np.int64):
            p = _int_array(p, n, "partition", self._partitions)
        if self.shares == "agent":
            if not (type(c) is np.ndarray and c.dtype == np.float64):
                c = _share_array(c, n, "compute_share")
            if not (type(b) is np.ndarray and b.dtype == np.float64):
                b = _share_array(b, n, "bandwidth_share")
        else:
            c, b = self._env.exact_shares(v, p)
        obs, reward, done, outcomes = self._env.step(v, p, c, b)
        return obs, reward, False, done, outcomes


def _default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "coinfer", "automl")


class AutoMLEnv(gymnasium.Env):
    """Seed 000 (AutoML co-inference): AMC's pruning search over a split model, at one cut.

    One episode walks the device head's prunable channel groups in topological order, then
    the width of the feature sent at the cut, then its quantization bits: each step's action
    is a keep ratio in ``[0, 1]`` (for the bits step, a position among ``bits``). An action
    wall lowers a choice until the budget stays reachable, so every episode ends inside it.
    The last step prunes the real model, re-estimates its BatchNorm statistics on training
    images, splits it, codes the feature and scores validation images (Fashion-MNIST, the
    Debian package ``setup.sh`` installs) — the accuracy proxy ``coinfer automl`` searches
    with, memoised per configuration in memory and in ``cache_dir``.

    - Observation (float32, 12, in [0, 1]): AMC's layer embedding (index, kind, channels in
      and out, stride, kernel, parameters, cost reduced so far, cost of the rest, previous
      action) plus the link rate and the feature's bits.
    - Action: ``Box(0, 1, (1,))``.
    - Reward: 0 until the last step; then the configuration's reward (``reward``: by default
      seed 000's aim, the fastest configuration within 1 point of the unpruned accuracy:
      ``−ln(latency in µs) − 100 · shortfall``). ``info["outcome"]`` on the last step holds
      the configuration, its accuracy, bytes and predicted latency.
    - The search is deterministic: ``reset(seed=…)`` seeds nothing.

    ``model`` defaults to the bundled Fashion-MNIST ResNet; ``cut`` is a tensor name or cut
    index (``None``: device-only, the whole model pruned on the device). ``device`` and
    ``edge`` are hardware profile names (:func:`coinfer.hardware_profiles`).
    """

    metadata = {"render_modes": []}

    def __init__(self, model: str | Path | None = None, cut: str | int | None = "stage1.block0.relu",
                 device: str = "mcu", edge: str = "edge-gpu", rate_mbps: float = 1.0,
                 rtt_ms: float = 5.0, budget_ms: float | None = None,
                 budget_mmacs: float | None = None, reward: dict | None = None,
                 multiple_of: int = 8, min_keep: float = 0.25, bits=(2, 3, 4, 6, 8),
                 val_images: int = 1000, recalibration_images: int = 1024,
                 input_shape: dict | None = None, cache_dir: str | Path | None = None,
                 engine: str = "tract", render_mode=None):
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r}: this environment does not render")
        if model is None:
            model = _data_path("fmnist-resnet.onnx")
        if not Path(model).is_file():
            raise FileNotFoundError(f"model {model} not found")
        if isinstance(cut, bool) or not (cut is None or isinstance(cut, (str, int, np.integer))):
            raise ValueError(f"cut must be a tensor name, a cut index or None, got {cut!r}")
        cache = str(cache_dir) if cache_dir is not None else _default_cache_dir()
        os.makedirs(cache, exist_ok=True)
        settings = {
            "model": str(model), "input_shape": dict(input_shape or {}),
            "cut": None if cut is None else str(cut), "device": device, "edge": edge,
            "rate_mbps": rate_mbps, "rtt_ms": rtt_ms, "budget_ms": budget_ms,
            "budget_mmacs": budget_mmacs,
            "reward": reward or {"kind": "latency-within-drop", "max_drop": 0.01},
            "multiple_of": multiple_of, "min_keep": min_keep, "bits": [int(b) for b in bits],
            "val_images": val_images, "recalibration_images": recalibration_images,
            "engine": engine, "cache_dir": cache,
        }
        try:
            text = json.dumps(settings, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"AutoML settings: {e}") from None
        self._env = _native.AutomlEnv(text)
        self.observation_space = _box(self._env.observation_space())
        self.action_space = _box(self._env.action_space())

    @property
    def steps(self) -> int:
        """Decisions per episode."""
        return self._env.steps()

    def space(self) -> dict:
        """The search space: the decisions (channel groups, the feature) and the bit options."""
        return json.loads(self._env.space_json())

    @property
    def evaluations(self) -> int:
        """Distinct configurations scored so far."""
        return self._env.evaluations()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        _check_seed(seed)
        super().reset(seed=seed)
        return self._env.reset(None if seed is None else int(seed)), {}

    def step(self, action):
        a = np.asarray(action)
        if a.dtype.kind not in "iuf":
            raise ValueError(f"action must be one number in [0, 1], got dtype {a.dtype}")
        a = a.astype(np.float32).reshape(-1)
        obs, reward, done = self._env.step(a)
        info = {"outcome": json.loads(self._env.last_outcome_json())} if done else {}
        return obs, reward, done, False, info
