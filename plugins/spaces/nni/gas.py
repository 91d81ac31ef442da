"""Where :class:`~gasnas_plugins.spaces.gas.model_space.GasModelSpace` (the ``gas`` space as an NNI
``ModelSpace``) used to live; kept so that configs and architecture files naming
``gasnas_plugins.spaces.nni.gas:GasModelSpace`` keep working. Import it from its space:
``gasnas_plugins.spaces.gas.model_space``.
"""

from __future__ import annotations

from gasnas_plugins.spaces.gas.model_space import GasModelSpace

__all__ = ["GasModelSpace"]
