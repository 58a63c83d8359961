"""coinfer for Python: the simulator's co-inference environments over the Rust cost model.

    import gymnasium, coinfer
    env = gymnasium.make("coinfer/OnlineSplit-v0")           # seed 002: split layer by layer
    env = gymnasium.make("coinfer/MultiDevice-v0")           # seed 001: devices share an edge
    env = gymnasium.make("coinfer/AutoML-v0")                # seed 000: prune + code at a cut

Environments (registered with Gymnasium on import):

- ``coinfer/OnlineSplit-v0`` — :class:`coinfer.envs.OnlineSplitEnv`.
- ``coinfer/MultiDevice-v0`` — :class:`coinfer.envs.MultiDeviceEnv` (``shares="exact"`` lets
  the exact allocation set the shares).
- ``coinfer/AutoML-v0`` — :class:`coinfer.envs.AutoMLEnv` (AMC's search at a cut of a real
  model, scored on Fashion-MNIST by the adaptive-BN proxy).
- PettingZoo: :class:`coinfer.multi_agent.MultiDeviceParallelEnv`, one agent per device.
- Batched: :class:`coinfer.VecMultiDeviceEnv`, many copies stepped in Rust.

Models, plans and the cost model (:mod:`coinfer.api`): :class:`Model` (load, cuts, split,
run, profile), :class:`Plan` (load, validate, predict), :func:`hardware_profiles`,
:class:`Channel`.
"""

import gymnasium

from coinfer._native import SplitEnv, VecMultiDeviceEnv, __version__
from coinfer.api import Channel, Model, Plan, default_radio, hardware, hardware_profiles
from coinfer.envs import AutoMLEnv, MultiDeviceEnv, OnlineSplitEnv, _data_path

__all__ = ["AutoMLEnv", "Channel", "Model", "MultiDeviceEnv", "OnlineSplitEnv", "Plan", "SplitEnv",
           "VecMultiDeviceEnv", "__version__", "default_radio", "default_scenario", "hardware",
           "hardware_profiles"]


def default_scenario() -> str:
    """Path of the bundled four-device scenario."""
    return _data_path("multi-device.toml")


gymnasium.register(id="coinfer/OnlineSplit-v0", entry_point="coinfer.envs:OnlineSplitEnv")
gymnasium.register(id="coinfer/MultiDevice-v0", entry_point="coinfer.envs:MultiDeviceEnv")
gymnasium.register(id="coinfer/AutoML-v0", entry_point="coinfer.envs:AutoMLEnv")
