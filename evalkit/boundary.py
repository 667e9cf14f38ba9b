"""The boundary between evalkit and the user code it calls, so exit codes cannot lie.

User code (a generator factory, ``sample()``, a registered check, measurement, metric
or feature extractor, a module a spec imports) may raise anything, including
``SystemExit`` (``sys.exit(0)``) and other ``BaseException``s that ``except Exception``
lets through. Left alone, ``sys.exit(0)`` inside a generator ends ``evalkit run`` with
exit 0 and no report: a CI job would read "all passed". Here:

- ``subject_failure(exc)`` turns whatever a subject's work raised into the one-line
  reason that subject broke (exit 3), or ``None`` for an interrupt (exit 130), which
  the caller handles.
- ``cli_guard(verb)`` is the last line of the command line: a ``SystemExit`` or other
  ``BaseException`` escaping a verb becomes exit 3 with a message, never exit 0 and
  never a traceback.
- ``TimeLimit`` stops a subject that runs past its time limit (a hung model), see below.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from ._errors import EXIT_BROKEN, EvalkitError

log = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130


class SubjectTimeout(BaseException):
    """Raised in the main thread when a subject passes its time limit.

    A ``BaseException``, so a model's own ``except Exception:`` cannot swallow it; and it
    is raised again every second until the subject's work unwinds, in case one does.
    """

    def __init__(self, limit: float, source: str):
        self.limit, self.source = limit, source
        super().__init__(f"stopped after its time limit of {limit:g} s ({source})")


def describe(exc: BaseException) -> str:
    """What user code raised, in one line that names the exception type."""
    if isinstance(exc, SystemExit):
        return f"user code called sys.exit({exc.code!r}) (SystemExit); evalkit treats it as a crash, not a result"
    if isinstance(exc, EvalkitError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def subject_failure(exc: BaseException) -> str | None:
    """The reason a subject broke, or ``None`` when ``exc`` is an interrupt (Ctrl-C)."""
    if isinstance(exc, KeyboardInterrupt):
        return None
    if isinstance(exc, SubjectTimeout):
        return str(exc)
    return describe(exc)


def cli_guard(verb: Callable[[], int]) -> int:
    """Run a verb; what user code raised past evalkit's own handlers becomes an honest code.

    ``EvalkitError``s and ``KeyboardInterrupt`` are the CLI's own business and pass
    through. Anything else that reaches here (``SystemExit`` from a module imported at
    validate time, a ``BaseException`` subclass from a plugin) means the command did not
    finish: exit 3, with what was raised, never the code user code chose.
    """
    try:
        return verb()
    except (EvalkitError, KeyboardInterrupt, BrokenPipeError):
        raise
    except SystemExit as exc:
        _say(f"error: the command did not finish: {describe(exc)}")
        return EXIT_BROKEN
    except SubjectTimeout as exc:
        _say(f"error: the command did not finish: {exc}")
        return EXIT_BROKEN
    except BaseException as exc:  # noqa: BLE001 - the point of the boundary
        log.debug("uncaught at the command boundary", exc_info=True)
        _say(f"error: the command did not finish: {describe(exc)} (run with -vv for the trace)")
        return EXIT_BROKEN


def _say(line: str) -> None:
    import sys

    print(line, file=sys.stderr)


class TimeLimit:
    """A per-subject time budget, enforced with ``SIGALRM`` in the main thread.

    Why a signal and not a worker thread: a thread cannot be stopped, so a hung
    ``sample()`` abandoned in one would go on burning a core and holding the model's
    memory while the next subjects run. The signal's handler raises ``SubjectTimeout``
    in the main thread between two Python bytecodes, which ends a pure-Python loop that
    never returns, a ``time.sleep`` and a blocked lock wait (both are interrupted by
    signals); the subject's work then unwinds like any other crash and the subject is
    reported broken (exit 3) while the other subjects run.

    Limits, documented: a single call into C that never returns to Python and ignores
    signals (a deadlocked CUDA kernel, a C loop) cannot be interrupted this way. The
    budget is only enforced in the main thread of a POSIX process; elsewhere (a thread,
    Windows) it is not, and a warning says so.

    ``with limit.running():`` blocks spend one budget: time outside them (building the
    shared reference features, computing metrics) is not charged to the subject.
    """

    def __init__(self, seconds: float | None, source: str):
        self.seconds, self.source = seconds, source
        self.spent = 0.0
        self._deadline: float | None = None

    @property
    def enforced(self) -> bool:
        return (self.seconds is not None and hasattr(signal, "setitimer")
                and threading.current_thread() is threading.main_thread())

    @contextmanager
    def running(self) -> Iterator[None]:
        if self.seconds is None:
            yield
            return
        if not self.enforced:
            log.warning("time limit %g s (%s) is not enforced outside the main thread of a POSIX process",
                        self.seconds, self.source)
            yield
            return
        left = self.seconds - self.spent
        if left <= 0:
            raise SubjectTimeout(self.seconds, self.source)
        start = time.monotonic()
        self._deadline = start + left
        previous = signal.signal(signal.SIGALRM, self._on_alarm)
        # fire at the deadline, then every second while the work has not unwound
        signal.setitimer(signal.ITIMER_REAL, left, 1.0)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, previous)
            self._deadline = None
            self.spent += time.monotonic() - start

    def _on_alarm(self, signum, frame) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline - 1e-3:
            raise SubjectTimeout(self.seconds, self.source)


def subject_time_limit(spec, subject, override: float | None) -> TimeLimit:
    """The time limit of one subject: ``--time-limit``, else its own ``time_limit:``, else
    ``sampling.time_limit``, else none."""
    if override is not None:
        return TimeLimit(override, "--time-limit")
    own = getattr(subject, "time_limit", None)
    if own is not None:
        return TimeLimit(own, "the subject's time_limit")
    shared = getattr(spec.sampling, "time_limit", None)
    return TimeLimit(shared, "sampling.time_limit")
