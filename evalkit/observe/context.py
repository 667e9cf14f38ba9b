"""``Observation``, the per-batch view measurements and checks read (defined in ``evalkit.observation``).

Re-exported here, where the observe stage and its callers have always imported it from.
"""

from __future__ import annotations

from ..observation import NearestTraining, Observation

__all__ = ["Observation", "NearestTraining"]
