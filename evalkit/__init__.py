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

# The rest loads on first use (PEP 562): `evalkit --help` starts without importing torch,
# and a Ctrl-C while torch loads reaches the CLI's handler (exit 130), not a traceback.
_LAZY = {
    "run": ".api",
    "reproduce": ".reproduce",
    "Report": ".report.model",
    "read_report": ".report.model",
    "Generator": ".sample.protocol",
    "Spec": ".spec",
    "load_spec": ".spec",
    "parse_spec": ".spec",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name], __name__)
        value = module if name == "reproduce" else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'evalkit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


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
