"""evalkit: audit generative image models against declarative YAML specs.

    >>> import evalkit
    >>> report = evalkit.run("specs/fashion-zoo.yaml", n=200)   # doctest: +SKIP

The names below are imported on first use (PEP 562), so ``import evalkit`` and
the commands that only read specs (``evalkit validate``, ``schema``, ``--version``,
``--help``) do not import torch, and a Ctrl-C while torch loads reaches the CLI's
handler (exit 130), not a traceback.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> (module, attribute)
_LAZY: dict[str, tuple[str, str | None]] = {
    "run": (".api", "run"),
    "Evaluator": (".evaluator", "Evaluator"),
    "Evaluation": (".evaluator", "Evaluation"),
    "in_training": (".placeholder", "in_training"),
    "Spec": (".spec", "Spec"),
    "load_spec": (".spec", "load_spec"),
    "parse_spec": (".spec", "parse_spec"),
    "Report": (".records.model", "Report"),
    "read_report": (".records.reading", "read_report"),
    "Generator": (".protocols", "Generator"),
    "Check": (".protocols", "Check"),
    "Measurement": (".protocols", "Measurement"),
    "Metric": (".protocols", "Metric"),
    "FeatureExtractor": (".protocols", "FeatureExtractor"),
    "Observation": (".observation", "Observation"),
    "NearestTraining": (".observation", "NearestTraining"),
    "reproduce": (".reproduce", None),
    "check": (".registry", "check"),
    "dataset": (".registry", "dataset"),
    "feature": (".registry", "feature"),
    "generator": (".registry", "generator"),
    "measurement": (".registry", "measurement"),
    "metric": (".registry", "metric"),
    "report_format": (".registry", "report_format"),
    "ReportView": (".report.view", "ReportView"),
    "Beside": (".contract", "Beside"),
    "Input": (".contract", "Input"),
    "measured": (".contract", "measured"),
    "Arg": (".contract", "Arg"),
    "Interval": (".contract", "Interval"),
    "State": (".contract", "State"),
    "Merge": (".contract", "Merge"),
    "MetricValue": (".metric_io", "MetricValue"),
    "MetricInputs": (".metric_io", "MetricInputs"),
    "EvalkitError": ("._errors", "EvalkitError"),
    "SpecError": ("._errors", "SpecError"),
    "UsageError": ("._errors", "UsageError"),
    "RegistrationError": ("._errors", "RegistrationError"),
    "RunError": ("._errors", "RunError"),
    "DataError": ("._errors", "DataError"),
    "CheckpointError": ("._errors", "CheckpointError"),
    "SubjectError": ("._errors", "SubjectError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'evalkit' has no attribute {name!r}") from None
    mod = importlib.import_module(module, __name__)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from . import reproduce  # noqa: F401
    from ._errors import (  # noqa: F401
        CheckpointError,
        DataError,
        EvalkitError,
        RegistrationError,
        RunError,
        SpecError,
        SubjectError,
        UsageError,
    )
    from .api import run  # noqa: F401
    from .evaluator import Evaluation, Evaluator  # noqa: F401
    from .placeholder import in_training  # noqa: F401
    from .contract import Arg, Beside, Input, Interval, Merge, State, measured  # noqa: F401
    from .metric_io import MetricInputs, MetricValue  # noqa: F401
    from .observation import NearestTraining, Observation  # noqa: F401
    from .protocols import Check, FeatureExtractor, Generator, Measurement, Metric  # noqa: F401
    from .registry import check, dataset, feature, generator, measurement, metric, report_format  # noqa: F401
    from .report.view import ReportView  # noqa: F401
    from .records.model import Report  # noqa: F401
    from .records.reading import read_report  # noqa: F401
    from .spec import Spec, load_spec, parse_spec  # noqa: F401
