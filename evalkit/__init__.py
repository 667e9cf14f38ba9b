"""evalkit: audit generative image models against declarative YAML specs.

    >>> import evalkit
    >>> report = evalkit.run("specs/fashion-zoo.yaml", n=200)   # doctest: +SKIP
"""

__version__ = "0.1.0"

from ._errors import (  # noqa: E402
    CheckpointError,
    DataError,
    EvalkitError,
    RunError,
    SpecError,
    SubjectError,
    UsageError,
)
from .registry import check, dataset, feature, generator, measurement, metric  # noqa: E402
from .report.model import Report, read_report  # noqa: E402
from .spec import Spec, load_spec, parse_spec  # noqa: E402

# Names that import torch load on first use, so `import evalkit` (and the pytest
# plugin, which every test session of an installed evalkit loads) stays light.
_LAZY = {"run": ("api", "run"), "Generator": ("sample.protocol", "Generator"), "reproduce": ("reproduce", None)}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        mod = importlib.import_module(f".{module}", __name__)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'evalkit' has no attribute {name!r}")

__all__ = [
    "__version__",
    "run",
    "Spec",
    "load_spec",
    "parse_spec",
    "Report",
    "read_report",
    "Generator",
    "check",
    "dataset",
    "feature",
    "generator",
    "measurement",
    "metric",
    "EvalkitError",
    "SpecError",
    "UsageError",
    "RunError",
    "DataError",
    "CheckpointError",
    "SubjectError",
]
