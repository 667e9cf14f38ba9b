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
from . import reproduce  # noqa: E402
from .api import run  # noqa: E402
from .registry import check, dataset, feature, generator, measurement, metric  # noqa: E402
from .report.model import Report, read_report  # noqa: E402
from .sample.protocol import Generator  # noqa: E402
from .spec import Spec, load_spec, parse_spec  # noqa: E402

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
