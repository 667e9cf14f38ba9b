"""torch-fidelity, importable without its package ``__init__`` (which imports torchvision, never installed here).

It is installed with ``--no-deps`` as the reference implementation that inception-fid is held to
(``.ci/run``). torchmetrics' FID and KID modules import ``torch_fidelity.feature_extractor_inceptionv3``
whenever the distribution is present, which would run that ``__init__``: a stub package whose
``__path__`` is the installed folder lets the sibling modules import by absolute name without it.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def stub_torch_fidelity() -> bool:
    """Put the stub in ``sys.modules`` (once); False when torch-fidelity is not installed."""
    if "torch_fidelity" in sys.modules:
        return True
    spec = importlib.util.find_spec("torch_fidelity")  # finds the top-level package without running it
    if spec is None or not spec.submodule_search_locations:
        return False
    stub = types.ModuleType("torch_fidelity")
    stub.__path__ = list(spec.submodule_search_locations)  # sibling absolute imports resolve here
    sys.modules["torch_fidelity"] = stub
    return True
