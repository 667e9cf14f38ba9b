"""``evalkit:in_training``: the subject a spec leaves for ``evalkit.Evaluator`` to fill.

A spec written for a training loop names its subject ``model: evalkit:in_training``: the
model is the object the loop holds, handed to ``Evaluator.evaluate(model)``, so no file or
module names it. The reference is an ordinary ``module:attribute`` factory, so validation
treats it as a user generator whose classes are known only once it is built (label
checks are allowed). ``evalkit run`` has no model for it and says so when it builds the
subject. Kept apart from ``evaluator.py``: validating such a spec imports this module, and
must not import torch.
"""

from __future__ import annotations

from typing import Any

from ._errors import SpecError

REFERENCE = "evalkit:in_training"


def in_training(**params: Any) -> Any:
    """The placeholder's factory, called only when ``evalkit run`` builds the subject."""
    raise SpecError(f"model {REFERENCE!r} is a placeholder that evalkit.Evaluator(spec).evaluate(model) fills with "
                    "the model of a training loop; `evalkit run` has no model for it: name your generator "
                    "(model: module:attribute) to run the spec from the command line")


__all__ = ["REFERENCE", "in_training"]
