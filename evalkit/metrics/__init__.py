"""Distribution metrics: pure functions (``functional``), mergeable states (``states``) and the
registered metrics, one module per family (``frechet``, ``kernel``, ``manifold``, ``diversity``,
``class_mix``, ``memorization``, ``cas``) on the shared ``metric`` and ``intervals`` modules."""

from . import functional
from .states import FeatureState, SumState

__all__ = ["functional", "FeatureState", "SumState"]
