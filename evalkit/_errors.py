"""One error hierarchy for everything evalkit raises on purpose.

Each class carries the exit code the CLI maps it to, so the CLI never has to
guess from a message. A user's mistake is a ``SpecError``/``UsageError`` (exit
2); a run that breaks on something outside the spec is a ``RunError`` (exit 3).
"""

from __future__ import annotations

__all__ = [
    "EvalkitError",
    "SpecError",
    "UsageError",
    "RunError",
    "DataError",
    "CheckpointError",
    "SubjectError",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_BROKEN",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BROKEN = 3


class EvalkitError(Exception):
    """Base class of every error evalkit raises deliberately."""

    exit_code: int = EXIT_BROKEN


class SpecError(EvalkitError, ValueError):
    """The spec is wrong. ``problems`` holds one line per mistake found."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = list(problems) if problems else [message]
        super().__init__(message if problems is None else "\n".join(self.problems))


class UsageError(EvalkitError, ValueError):
    """A command-line or API argument is wrong (exit code 2)."""

    exit_code = EXIT_USAGE


class RunError(EvalkitError, RuntimeError):
    """The run broke for a reason outside the spec's grammar (exit code 3)."""

    exit_code = EXIT_BROKEN


class DataError(RunError):
    """Images or features could not be read, or hold bad values."""


class CheckpointError(RunError):
    """A weights file is missing, is not safetensors, or does not fit the model."""


class SubjectError(RunError):
    """A subject (a model under test) raised or produced unusable samples."""
