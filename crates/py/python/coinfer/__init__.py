"""coinfer for Python: the simulator's co-inference environments over the Rust cost model.

    import gymnasium, coinfer
    env = gymnasium.make("coinfer/OnlineSplit-v0")           # seed 002: split layer by layer
    env = gymnasium.make("coinfer/MultiDevice-v0")           # seed 001: devices share an edge

Environments (registered with Gymnasium on import):

- ``coinfer/OnlineSplit-v0`` — :class:`coinfer.envs.OnlineSplitEnv`.
- ``coinfer/MultiDevice-v0`` — :class:`coinfer.envs.MultiDeviceEnv` (``shares="exact"`` lets
  the exact allocation set the shares).
- PettingZoo: :class:`coinfer.multi_agent.MultiDeviceParallelEnv`, one agent per device.
- Batched: :class:`coinfer.VecMultiDeviceEnv`, many copies stepped in Rust.
"""

import gymnasium

from coinfer._native import SplitEnv, VecMultiDeviceEnv, __version__
from coinfer.envs import MultiDeviceEnv, OnlineSplitEnv, _data_path

__all__ = ["MultiDeviceEnv", "OnlineSplitEnv", "SplitEnv", "VecMultiDeviceEnv", "__version__",
           "default_scenario"]


def default_scenario() -> str:
    """Path of the bundled four-device scenario."""
    return _data_path("multi-device.toml")


gymnasium.register(id="coinfer/OnlineSplit-v0", entry_point="coinfer.envs:OnlineSplitEnv")
gymnasium.register(id="coinfer/MultiDevice-v0", entry_point="coinfer.envs:MultiDeviceEnv")
