"""Seed 001 as a PettingZoo ``ParallelEnv``: one agent per device (``device_0`` …)."""

import functools

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

from coinfer import _native
from coinfer.envs import _check_min_share, _check_seed, _int_array, _scenario_path, _share_array


class MultiDeviceParallelEnv(ParallelEnv):
    """Every device an agent that picks, each slot, its model version, partition point and
    share weights (normalised over the devices that offload, so agents compete for the edge).

    - Observation per agent (float32, 4): ``[ω, ln(h/h̄), ln(GMAC/s), backlog/slot]``.
    - Action per agent: ``Dict(version=Discrete(V), partition=Discrete(P + 1),
      shares=Box(0, 1, (2,)))`` — compute and bandwidth share weights.
    - Reward per agent: its utility ``ω·accuracy − (1 − ω)·latency/T_ref`` (their sum is the
      single-agent environment's reward).
    - All agents are truncated after the scenario's horizon.

    ``min_share`` (in ``[0, 1)``) is the share spaces' lower bound: an agent whose weight is 0
    while others' are not gets no bandwidth and an infinite latency (utility ``-inf``), which
    a Gaussian policy clipped to the space hits often; RL libraries want a bound above 0.
    """

    metadata = {"render_modes": [], "name": "coinfer_multi_device_v0"}

    def __init__(self, scenario=None, render_mode=None, min_share: float = 0.0):
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r}: this environment does not render")
        self._min_share = _check_min_share(min_share)
        self._env = _native.MultiDeviceEnv(_scenario_path(scenario), 0)
        n = self._env.num_devices()
        self.possible_agents = [f"device_{i}" for i in range(n)]
        self.agents = []
        self._versions, self._partitions = len(self._env.versions()), self._env.max_partition() + 1
        self._steps, self._horizon = 0, self._env.horizon()

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return gymnasium.spaces.Box(-np.inf, np.inf, (4,), np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return gymnasium.spaces.Dict({
            "version": gymnasium.spaces.Discrete(self._versions),
            "partition": gymnasium.spaces.Discrete(self._partitions),
            "shares": gymnasium.spaces.Box(self._min_share, 1.0, (2,), np.float32),
        })

    def _split(self, obs):
        return {a: obs[4 * i: 4 * i + 4] for i, a in enumerate(self.possible_agents)}

    def reset(self, seed=None, options=None):
        _check_seed(seed)
        self.agents = list(self.possible_agents)
        self._steps = 0
        obs = self._env.reset(None if seed is None else int(seed))
        return self._split(obs), {a: {} for a in self.agents}

    def step(self, actions):
        if not self.agents:
            raise RuntimeError("the episode has ended: call reset")
        missing = set(self.agents) - set(actions)
        if missing:
            raise ValueError(f"no action for {sorted(missing)}")
        n = len(self.possible_agents)
        acts = [actions[a] for a in self.possible_agents]
        try:
            v = [a["version"] for a in acts]
            p = [a["partition"] for a in acts]
            shares = np.asarray([np.asarray(a["shares"], dtype=np.float64) for a in acts])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"each action is a dict with version, partition, shares[2]: {e}") from e
        if shares.shape != (n, 2):
            raise ValueError(f"shares must be two numbers per agent, got shape {shares.shape[1:]}")
        v = _int_array(v, n, "version", self._versions)
        p = _int_array(p, n, "partition", self._partitions)
        c = _share_array(shares[:, 0], n, "compute_share")
        b = _share_array(shares[:, 1], n, "bandwidth_share")
        obs, _, done, outcomes = self._env.step(v, p, c, b)
        self._steps += 1
        agents = self.possible_agents
        rewards = {a: float(outcomes["utility"][i]) for i, a in enumerate(agents)}
        infos = {
            a: {k: (bool(col[i]) if col.dtype == bool else float(col[i])) for k, col in outcomes.items()}
            for i, a in enumerate(agents)
        }
        terminations = {a: False for a in agents}
        truncations = {a: bool(done) for a in agents}
        observations = self._split(obs)
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos
