"""coinfer for Python: the simulator's co-inference environments over the Rust cost model.

    import gymnasium, coinfer
    env = gymnasium.make("coinfer/OnlineSplit-v0")           # seed 002: split layer by layer

Environments (registered with Gymnasium on import):

- ``coinfer/OnlineSplit-v0`` — :class:`coinfer.envs.OnlineSplitEnv`.
"""

import gymnasium

from coinfer._native import SplitEnv, __version__
from coinfer.envs import OnlineSplitEnv

__all__ = ["OnlineSplitEnv", "SplitEnv", "__version__"]

gymnasium.register(id="coinfer/OnlineSplit-v0", entry_point="coinfer.envs:OnlineSplitEnv")
