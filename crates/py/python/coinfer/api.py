"""coinfer's models, plans, hardware profiles and channels from Python.

    import numpy as np, coinfer
    m = coinfer.Model("models/fmnist-resnet.onnx")
    m.cuts()[9]["tensor"]                        # "stage1.block0.relu"
    head, tail = m.split("stage1.block0.relu")
    y = tail.run(head.run(np.zeros((1, 1, 28, 28), np.float32))[0])[0]
    plan = coinfer.Plan.load("examples/plan-two-devices.json")
    plan.predict("models", device="rpi4", edge="edge-gpu", rate_mbps=20, rtt_ms=2)

Every call goes to the Rust crates (`coinfer_graph`, `coinfer_engine`, `coinfer_pipeline`,
`coinfer_sim`): the same analysis, engine and cost model as the `coinfer` CLI, whose `--json`
forms the dicts here follow. A bad argument raises `ValueError` (or `FileNotFoundError` for a
missing file) naming the problem.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from coinfer import _native


class Model:
    """An ONNX model analysed at its input shapes (batch 1 unless given).

    ``input_shape`` maps input names to concrete dims (batch first) for models whose inputs
    have symbolic dims besides the batch, e.g. ``{"x": [1, 3, 224, 224]}``.
    """

    def __init__(self, path: str | os.PathLike, input_shape: Mapping[str, Sequence[int]] | None = None):
        shapes = None
        if input_shape is not None:
            if not isinstance(input_shape, Mapping):
                raise ValueError(f"input_shape must map input names to dims, got {type(input_shape).__name__}")
            shapes = {}
            for name, dims in input_shape.items():
                dims = list(dims)
                if not dims or not all(isinstance(d, (int, np.integer)) and d > 0 for d in dims):
                    raise ValueError(f"input_shape[{name!r}] = {dims}: dims must be positive integers")
                shapes[str(name)] = [int(d) for d in dims]
        self._m = _native.Model(os.fspath(path), shapes)
        self._summary = json.loads(self._m.summary_json())

    @classmethod
    def _wrap(cls, native: Any) -> "Model":
        m = cls.__new__(cls)
        m._m = native
        m._summary = json.loads(native.summary_json())
        return m

    def __repr__(self) -> str:
        where = self.path or "<in memory>"
        return f"Model({where!r}, {self.macs:,} MACs, {len(self.cuts())} cuts)"

    @property
    def path(self) -> str:
        """Where the model was loaded from ("" for a head or tail of :meth:`split`)."""
        return self._m.path

    @property
    def inputs(self) -> list[str]:
        """Input names, in order."""
        return list(self._summary["inputs"])

    @property
    def input_shape(self) -> dict[str, list[int]]:
        """The shape each input was analysed at (batch first)."""
        return dict(self._summary["input_shape"])

    @property
    def outputs(self) -> list[str]:
        """Output names, in order."""
        return list(self._summary["outputs"])

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample."""
        return int(self._summary["macs"])

    @property
    def param_bytes(self) -> int:
        """Bytes of the weights."""
        return int(self._summary["param_bytes"])

    def cuts(self) -> list[dict]:
        """Every valid cut point, nearest the input first: ``index``, ``tensor``, ``op_type``,
        ``shape``, ``feature_bytes``, ``head_macs``, ``tail_macs``, ``head_param_bytes`` (batch 1).
        """
        return json.loads(self._m.cuts_json())

    def split(self, cut: str | int) -> tuple["Model", "Model"]:
        """The device head and the edge tail at ``cut`` (a tensor name or a cut index)."""
        if isinstance(cut, bool) or not isinstance(cut, (str, int, np.integer)):
            raise ValueError(f"cut must be a tensor name or a cut index, got {type(cut).__name__}")
        head, tail = self._m.split(str(cut))
        return Model._wrap(head), Model._wrap(tail)

    def save(self, path: str | os.PathLike) -> None:
        """Writes the model as ONNX."""
        self._m.save(os.fspath(path))

    def run(self, *inputs: np.ndarray, engine: str = "tract") -> list[np.ndarray]:
        """Runs the model on float32 arrays (one per input, batch first); its outputs.

        ``engine`` is ``"tract"`` (built in) or ``"ort"`` where the extension was built with it.
        """
        arrays = []
        for i, x in enumerate(inputs):
            a = np.asarray(x)
            if a.dtype != np.float32:
                raise ValueError(f"input {i} is {a.dtype}; the model takes float32 (x.astype(np.float32))")
            arrays.append(np.ascontiguousarray(a))
        return list(self._m.run(arrays, engine))

    def profile(self, device: str = "rpi4", edge: str = "edge-gpu", runs: int = 20,
                batch: int = 1, engine: str = "tract") -> dict:
        """Times the model, every head and every tail on this host and predicts each head on
        ``device`` and tail on ``edge`` (profile names, see :func:`hardware_profiles`, or a
        measured per-layer table file): the ``coinfer profile --json`` report.
        """
        return json.loads(self._m.profile_json(device, edge, int(runs), int(batch), engine))

    def layer_table(self) -> dict:
        """The simulator's view of the model: one layer per segment between cuts (MACs, output
        values, parameters, operators, memory traffic)."""
        return json.loads(self._m.layer_table_json())


class Plan:
    """A deployment plan (the JSON ``coinfer device run --plan`` executes), validated by Rust.

    ``plan.data`` is the plain dict; edit it and call :meth:`validate` again.
    """

    def __init__(self, data: Mapping[str, Any]):
        self.data = json.loads(json.dumps(data))
        self.validate()

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        """A plan from JSON text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"plan: {e}") from None
        return cls(data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Plan":
        """A plan from a JSON file."""
        return cls.from_json(Path(path).read_text())

    def to_json(self) -> str:
        """The plan as JSON text."""
        return json.dumps(self.data, indent=2)

    def save(self, path: str | os.PathLike) -> None:
        """Writes the plan as JSON."""
        Path(path).write_text(self.to_json() + "\n")

    @property
    def devices(self) -> list[dict]:
        """One dict per device."""
        return self.data.get("devices", [])

    def validate(self) -> None:
        """Raises ``ValueError`` naming the problem (unknown keys, duplicate device ids, shares
        out of range, a non-increasing online rule...)."""
        _native.plan_validate(json.dumps(self.data))

    def predict(self, models: str | os.PathLike, device: str = "rpi4", edge: str = "edge-gpu",
                rate_mbps: float = 10.0, rtt_ms: float = 0.0, tx_power_w: float = 0.0,
                devices: Mapping[str, str] | None = None) -> list[dict]:
        """Every device's predicted latency (s) and energy (J) under the one cost model, for the
        models the plan names in directory ``models``: all devices on ``device`` hardware (or
        their entry in ``devices``), tails on ``edge``, each uplink at ``rate_mbps`` (capped by a
        bandwidth share) with ``rtt_ms`` round trip and ``tx_power_w`` radio power.
        """
        for name, v in (("rate_mbps", rate_mbps), ("rtt_ms", rtt_ms), ("tx_power_w", tx_power_w)):
            if not isinstance(v, (int, float, np.floating, np.integer)) or isinstance(v, bool):
                raise ValueError(f"{name} must be a number, got {type(v).__name__}")
        text = _native.plan_predict(json.dumps(self.data), os.fspath(models), device, edge,
                                    float(rate_mbps) * 1e6, float(rtt_ms) / 1e3, float(tx_power_w),
                                    dict(devices) if devices is not None else None)
        return json.loads(text)


def hardware_profiles() -> list[dict]:
    """The built-in hardware profiles (name, role, throughput, memory bandwidth, power, source)."""
    return json.loads(_native.hardware_profiles_json())


def hardware(spec: str) -> dict:
    """One hardware spec: a profile name, or a measured per-layer table file (JSON or CSV)."""
    return json.loads(_native.hardware_json(spec))


def default_radio() -> dict:
    """The bundled online-splitting setup's radio (bandwidth Hz, transmit power W, noise W/Hz)."""
    path = Path(__file__).with_name("data") / "online-split.toml"
    return dict(tomllib.loads(path.read_text())["radio"])


class Channel:
    """A fading channel over a radio, as ``coinfer stopping`` configures it.

    ``Channel("truncated-rayleigh", mean_gain=1e-9, h_min=1e-12)``; other kinds:
    ``finite-state`` (``states=[[h, p], ...]``), ``rayleigh-quantiles`` (``mean_gain``,
    ``levels``), ``truncated-rician`` (``k_factor``, ``mean_gain``, ``h_min``), ``trace``
    (``path``, ``values="gain"|"rate"``). ``radio`` defaults to :func:`default_radio`.
    """

    def __init__(self, kind: str, radio: Mapping[str, float] | None = None, **params: Any):
        self.config = {"kind": kind, **params}
        self.radio = dict(radio) if radio is not None else default_radio()
        self._c = _native.Channel(json.dumps(self.config), json.dumps(self.radio))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` i.i.d. power gains."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be an integer ≥ 0, got {n!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer ≥ 0, got {seed!r}")
        return self._c.sample(int(n), int(seed))

    @property
    def mean_gain(self) -> float:
        """``E[h]``."""
        return self._c.mean_gain()

    def prob_at_least(self, eta: float) -> float:
        """``P(h ≥ eta)``."""
        return self._c.prob_at_least(float(eta))

    def rate_bps(self, gains: np.ndarray | float) -> np.ndarray:
        """Shannon rate (bit/s) at each gain."""
        return self._c.rate_bps(np.atleast_1d(np.asarray(gains, dtype=np.float64)))
