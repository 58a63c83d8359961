"""A pure-Python Gymnasium implementation of coinfer's multi-device environment (seed 001),
written only to measure what the Rust one is worth: `bench_envs.py` times both in one run,
and `tests/test_reference_env.py` checks that both give the same utilities for the same
gains and actions, so the comparison is between the same environment.

It reads the same scenario TOML and version table, and steps in plain Python (``math``,
``random``): the devices' heads and the tails on their edge shares from the layer tables,
Shannon rates on their bandwidth shares, the cost model's transport terms, the utilities,
Gauss-Markov and truncated Rayleigh channels, and Poisson-arrival backlogs. Its random
numbers are Python's, not the Rust generator's: trajectories match only given the gains.
Hardware profiles are read from the Rust crate's table (``coinfer.hardware``), as data.
"""

from __future__ import annotations

import json
import math
import random
import tomllib
from pathlib import Path

import gymnasium
import numpy as np


def _dbm_to_w(dbm: float) -> float:
    return 10 ** (dbm / 10) * 1e-3


def _compute(config: dict) -> dict:
    """A compute config (a profile name or explicit numbers) as the four roofline figures."""
    if "profile" in config:
        import coinfer

        p = coinfer.hardware(config["profile"])
        return {"macs_per_s": p["peak_gmacs"] * p["efficiency"] * 1e9, "power_w": p["power_w"],
                "mem_bytes_per_s": p["mem_peak_gbps"] * p["mem_efficiency"] * 1e9,
                "op_overhead_s": p["op_overhead_us"] * 1e-6}
    if "kappa" in config:
        f = config["freq_hz"]
        return {"macs_per_s": f / config["cycles_per_mac"], "power_w": config["kappa"] * f**3,
                "mem_bytes_per_s": 0.0, "op_overhead_s": 0.0}
    return {"macs_per_s": config["macs_per_s"], "power_w": config["power_w"],
            "mem_bytes_per_s": config.get("mem_bytes_per_s", 0.0),
            "op_overhead_s": config.get("op_overhead_s", 0.0)}


def _layer_s(c: dict, layer: dict, share: float = 1.0) -> float:
    """Roofline time of one layer on a `share` of processor `c`."""
    macs, mem, ops = layer["macs"], layer.get("mem_bytes", 0.0), layer.get("ops", 1.0)
    if share <= 0.0:
        return math.inf if macs > 0 or mem > 0 or ops > 0 else 0.0
    t = macs / (c["macs_per_s"] * share) if macs > 0 else 0.0
    if c["mem_bytes_per_s"] > 0 and mem > 0:
        t = max(t, mem / (c["mem_bytes_per_s"] * share))
    if ops > 0 and c["op_overhead_s"] > 0:
        t += ops * c["op_overhead_s"] / share
    return t


class ReferenceMultiDeviceEnv(gymnasium.Env):
    """The multi-device environment in pure Python (same spaces as ``coinfer/MultiDevice-v0``
    with ``shares="agent"``)."""

    metadata = {"render_modes": []}

    def __init__(self, scenario: str | Path, seed: int = 0):
        path = Path(scenario)
        s = tomllib.loads(path.read_text())
        table = json.loads((path.parent / s["versions"]).read_text())["versions"]
        bits = s.get("feature_bits", 8.0)
        self.versions = [{"name": v["name"], "accuracy": v["accuracy"], "layers": v["table"]["layers"],
                          "input_values": v["table"]["input_values"], "bits": bits} for v in table]
        self.slot_s = s.get("slot_ms", 100.0) / 1e3
        self.horizon = s.get("horizon", 100)
        self.edge = _compute(s["edge"]["compute"])
        band = s["edge"]["bandwidth_mhz"] * 1e6
        noise = _dbm_to_w(s["edge"].get("noise_dbm_per_hz", -174.0))
        self.devices = []
        for g in s["devices"]:
            kind = s["task_kinds"][g["task"]]
            tx = _dbm_to_w(g.get("tx_power_dbm", 20.0))
            ch = g["channel"]
            snr_db = ch.get("mean_snr_db", ch.get("snr_db"))
            mean = 10 ** (snr_db / 10) * noise * band / tx
            for _ in range(g.get("count", 1)):
                self.devices.append({
                    "compute": _compute(g["compute"]), "band": band, "tx": tx, "noise": noise,
                    "omega": kind["accuracy_weight"], "t_ref": kind["latency_ref_ms"] / 1e3,
                    "deadline": kind.get("deadline_ms", math.inf) / 1e3,
                    "arrivals": g.get("arrivals_per_slot", 0.0), "rtt": g.get("rtt_ms", 0.0) / 1e3,
                    "channel": ch["kind"], "rho": ch.get("rho", 0.0), "mean": mean,
                    "memory": g.get("memory_kb", math.inf) * 1e3,
                })
        n = len(self.devices)
        self._rng = random.Random(seed)
        self._gains = [d["mean"] for d in self.devices]
        self._state = [None] * n
        self._backlog = [0.0] * n
        self._slot, self._started = 0, False
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (4 * n,), np.float32)
        parts = max(len(v["layers"]) for v in self.versions) + 1
        self.action_space = gymnasium.spaces.Dict({
            "version": gymnasium.spaces.MultiDiscrete([len(self.versions)] * n),
            "partition": gymnasium.spaces.MultiDiscrete([parts] * n),
            "compute_share": gymnasium.spaces.Box(0.0, 1.0, (n,), np.float32),
            "bandwidth_share": gymnasium.spaces.Box(0.0, 1.0, (n,), np.float32),
        })

    def _next_gain(self, i: int) -> float:
        d, rng = self.devices[i], self._rng
        if d["channel"] == "static":
            return d["mean"]
        if d["channel"] == "rayleigh":
            h_min = d["mean"] * 1e-3
            return h_min - d["mean"] * math.log(1.0 - rng.random())
        # Gauss-Markov: complex amplitude g ← ρ·g + √(1−ρ²)·w, w ~ CN(0, 1).
        w = (rng.gauss(0.0, math.sqrt(0.5)), rng.gauss(0.0, math.sqrt(0.5)))
        g = self._state[i]
        if g is None:
            g = w
        else:
            s = math.sqrt(1.0 - d["rho"] ** 2)
            g = (d["rho"] * g[0] + s * w[0], d["rho"] * g[1] + s * w[1])
        self._state[i] = g
        return max(d["mean"] * (g[0] ** 2 + g[1] ** 2), d["mean"] * 1e-3)

    def _observe(self) -> np.ndarray:
        obs = []
        for i, d in enumerate(self.devices):
            obs += [d["omega"], math.log(self._gains[i] / d["mean"]),
                    math.log(d["compute"]["macs_per_s"] / 1e9), self._backlog[i] / self.slot_s]
        return np.array(obs, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._rng = random.Random(seed)
            self._state = [None] * len(self.devices)
        self._slot, self._started = 0, True
        self._backlog = [0.0] * len(self.devices)
        self._gains = [self._next_gain(i) for i in range(len(self.devices))]
        return self._observe(), {}

    def outcomes(self, version, partition, compute_share, bandwidth_share) -> list[dict]:
        """Each device's latency, energy and utility for the actions at the current gains."""
        n = len(self.devices)
        v = [int(x) for x in version]
        p = [int(x) for x in partition]
        c = [float(x) for x in compute_share]
        b = [float(x) for x in bandwidth_share]
        if not (len(v) == len(p) == len(c) == len(b) == n):
            raise ValueError(f"one action per device ({n})")
        for i in range(n):
            if not 0 <= v[i] < len(self.versions) or not 0 <= p[i] <= len(self.versions[v[i]]["layers"]):
                raise ValueError(f"device {i}: version {v[i]} / partition {p[i]} outside the space")
            head = self.versions[v[i]]["layers"][:p[i]]
            if 4.0 * sum(layer["params"] for layer in head) > self.devices[i]["memory"]:
                raise ValueError(f"device {i}: the head does not fit its memory")
            if not (math.isfinite(c[i]) and c[i] >= 0 and math.isfinite(b[i]) and b[i] >= 0):
                raise ValueError(f"device {i}: shares must be finite weights ≥ 0")
        off = [p[i] < len(self.versions[v[i]]["layers"]) for i in range(n)]
        n_off = max(1, sum(off))
        csum = sum(c[i] for i in range(n) if off[i])
        bsum = sum(b[i] for i in range(n) if off[i])
        out = []
        for i, d in enumerate(self.devices):
            ver = self.versions[v[i]]
            layers = ver["layers"]
            comp = d["compute"]
            local = sum(_layer_s(comp, layer) for layer in layers[:p[i]])
            energy = comp["power_w"] * local
            total = local
            if off[i]:
                cs = c[i] / csum if csum > 0 else 1.0 / n_off
                bs = b[i] / bsum if bsum > 0 else 1.0 / n_off
                edge_s = sum(_layer_s(self.edge, layer, cs) for layer in layers[p[i]:])
                values = ver["input_values"] if p[i] == 0 else layers[p[i] - 1]["output_values"]
                payload = values * ver["bits"] / 8.0
                if bs > 0:
                    band = bs * d["band"]
                    rate = band * math.log2(1.0 + d["tx"] * self._gains[i] / (d["noise"] * band))
                else:
                    rate = 0.0
                uplink = (payload * 8.0 / rate if rate > 0 else math.inf) if payload > 0 else 0.0
                energy += d["tx"] * uplink
                total += d["rtt"] + uplink + edge_s
            latency = total + self._backlog[i]
            w = d["omega"]
            utility = w * ver["accuracy"] - (0.0 if w >= 1 else (1 - w) * latency / d["t_ref"])
            out.append({"latency_s": latency, "service_s": total, "energy_j": energy,
                        "utility": utility, "missed_deadline": latency > d["deadline"]})
        return out

    def step(self, action):
        if not self._started:
            raise RuntimeError("step before reset")
        if self._slot >= self.horizon:
            raise RuntimeError("the episode has ended: call reset")
        out = self.outcomes(action["version"], action["partition"], action["compute_share"],
                            action["bandwidth_share"])
        reward = sum(o["utility"] for o in out)
        for i, d in enumerate(self.devices):
            if d["arrivals"] > 0:
                arrivals = np.random.default_rng(self._rng.getrandbits(63)).poisson(d["arrivals"])
                self._backlog[i] = max(0.0, self._backlog[i] + arrivals * out[i]["service_s"] - self.slot_s)
        self._slot += 1
        self._gains = [self._next_gain(i) for i in range(len(self.devices))]
        done = self._slot >= self.horizon
        return self._observe(), reward, False, done, {"utility": [o["utility"] for o in out]}
