"""Distribution metrics: pure functions (``functional``), mergeable states and the registered suite."""

from . import functional
from .states import FeatureState, MomentState

__all__ = ["functional", "FeatureState", "MomentState"]
