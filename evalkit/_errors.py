"""One error hierarchy for everything evalkit raises on purpose.

The exit code of a failure comes from the error's *type*, never from its text:

* ``SpecError``, ``UsageError`` (and ``RegistrationError``): exit 2, the spec, the
  command line or a plugin's declaration is wrong. Validation raises them before
  anything runs, so exit 2 means nothing ran.
* ``RunError`` and its kinds (``DataError``, ``CheckpointError``, ``SubjectError``):
  exit 3, the run broke on something outside the spec's grammar. Anything raised
  after validation breaks that subject, whatever its type.
* ``SavedStateError``: exit 2, a saved file evalkit was asked to read back (a journal
  record, a sample store, a rejudge input) is malformed, inconsistent or does not verify;
  the message names the file and the field, and nothing ran on it.
* ``KeyboardInterrupt``: exit 130; SIGTERM: 143.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = [
    "EvalkitError",
    "SpecError",
    "UsageError",
    "RegistrationError",
    "RunError",
    "DataError",
    "CheckpointError",
    "SubjectError",
    "SavedStateError",
    "EXIT_USAGE",
    "EXIT_BROKEN",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "exit_code_for",
]

EXIT_USAGE = 2
EXIT_BROKEN = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


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


class RegistrationError(UsageError):
    """A plugin's declaration is wrong (duplicate name, unknown input, state without a merge rule)."""


class RunError(EvalkitError, RuntimeError):
    """The run broke for a reason outside the spec's grammar (exit code 3)."""

    exit_code = EXIT_BROKEN


class DataError(RunError):
    """Images or features could not be read, or hold bad values."""


class CheckpointError(RunError):
    """A weights file is missing, is not safetensors, or does not fit the model."""


class SubjectError(RunError):
    """A subject (a model under test) raised or produced unusable samples."""


class SavedStateError(DataError):
    """A saved file (journal, sample store, rejudge input) is malformed, inconsistent or forged (exit code 2)."""

    exit_code = EXIT_USAGE


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code of an exception, from its type alone."""
    if isinstance(exc, KeyboardInterrupt):  # SIGTERM's Terminated, a KeyboardInterrupt, carries 143
        code = getattr(exc, "exit_code", EXIT_INTERRUPTED)
        return code if isinstance(code, int) else EXIT_INTERRUPTED
    if isinstance(exc, EvalkitError):
        return exc.exit_code
    return EXIT_BROKEN


_T = TypeVar("_T")


def present(value: _T | None, what: str) -> _T:
    """``value``, which an earlier stage (validation, the plan) always sets: None here is a bug
    in evalkit, raised as a ``RunError`` (exit 3) naming ``what``, never passed on."""
    if value is None:
        raise RunError(f"internal error: {what} is not set; please report this as an evalkit bug")
    return value
