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
from types import FrameType
from typing import Any, Callable, Iterator

from ._errors import EXIT_BROKEN, EvalkitError, present

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
    """A per-subject time budget: a deadline, and ``SIGALRM`` in the main thread.

    Two enforcers share the deadline (docs/isolation.md):

    - A generator's sampling, when a limit is set, runs in a child process
      (``evalkit.sample.child``) that the parent kills at the deadline: nothing the user's
      Python or C code does in the child (ignoring or blocking ``SIGALRM``, ``alarm(0)``,
      ``except BaseException``, a C sleep) can stop that. ``remaining()`` is what the
      parent waits for the child's answers.
    - Evalkit's own work in the parent (observing batches, the registered checks and
      extractors it calls) is bounded by ``SIGALRM``: the handler raises
      ``SubjectTimeout`` between two bytecodes, again every second while the work has
      not unwound. Code running in evalkit's own process can still defeat that one.

    The handler never raises inside this class's own set-up and clean-up (it looks at
    the frame it interrupted), so the timer is always disarmed and the previous handler
    restored: a stray repeat of the alarm can never reach a default handler and kill the
    process with status 142.

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

    def expired(self) -> SubjectTimeout:
        return SubjectTimeout(present(self.seconds, "the time limit"), self.source)  # asked only of a set limit

    def remaining(self) -> float | None:
        """Seconds left of the budget now (None: no limit)."""
        if self.seconds is None:
            return None
        if self._deadline is not None:
            return max(0.0, self._deadline - time.monotonic())
        return max(0.0, self.seconds - self.spent)

    def running(self) -> "_Running":
        return _Running(self)

    def _on_alarm(self, signum, frame) -> None:
        if frame is not None and frame.f_code in _QUIET_CODES:
            return  # inside the timer's own set-up or clean-up: the block is ending anyway
        if self._deadline is not None and time.monotonic() >= self._deadline - 1e-3:
            raise SubjectTimeout(present(self.seconds, "the time limit"), self.source)


class _Running:
    """One charged block of a ``TimeLimit`` (a class, so its clean-up frames can be told apart)."""

    def __init__(self, limit: TimeLimit):
        self.limit = limit
        self.start = 0.0
        self.previous: Callable[[int, FrameType | None], Any] | int | None = None  # what signal.signal returns
        self.armed = False

    def __enter__(self) -> None:
        lim = self.limit
        if lim.seconds is None:
            return
        if not lim.enforced:
            log.warning("time limit %g s (%s) is not enforced outside the main thread of a POSIX process",
                        lim.seconds, lim.source)
            return
        left = lim.seconds - lim.spent
        if left <= 0:
            raise lim.expired()
        self.start = time.monotonic()
        lim._deadline = self.start + left
        self.previous = signal.signal(signal.SIGALRM, lim._on_alarm)
        self.armed = True
        # fire at the deadline, then every second while the work has not unwound
        signal.setitimer(signal.ITIMER_REAL, left, 1.0)

    def __exit__(self, *exc) -> None:
        if not self.armed:
            return
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        lim = self.limit
        lim._deadline = None
        lim.spent += time.monotonic() - self.start
        self.armed = False
        signal.signal(signal.SIGALRM, self.previous)


_QUIET_CODES = frozenset({_Running.__enter__.__code__, _Running.__exit__.__code__})


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


# ---------------------------------------------------------------- global torch state

def _torch_settings():
    """(name, read, write) of every process-wide torch setting that user code could change
    and that would change what evalkit computes for the next subject (docs/isolation.md)."""
    import torch

    def attr(obj, name):
        return (lambda: getattr(obj, name)), (lambda v: setattr(obj, name, v))

    def device_now():
        return torch.get_default_device()

    def set_device(dev):
        # the plain CPU default is no device context at all, as when nothing was set
        torch.set_default_device(None if dev == torch.device("cpu") else dev)

    def set_deterministic(v):
        torch.use_deterministic_algorithms(v[0], warn_only=v[1])

    out = [
        ("default dtype", torch.get_default_dtype, torch.set_default_dtype),
        ("default device", device_now, set_device),
        ("grad mode", torch.is_grad_enabled, torch.set_grad_enabled),
        ("deterministic algorithms",
         lambda: (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()),
         set_deterministic),
        ("float32 matmul precision", torch.get_float32_matmul_precision, torch.set_float32_matmul_precision),
        ("number of threads", torch.get_num_threads, torch.set_num_threads),
        ("anomaly detection", lambda: (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
         lambda v: torch.set_anomaly_enabled(*v)),
    ]
    import torch.utils.deterministic as det

    out.append(("deterministic fill of uninitialized memory", *attr(det, "fill_uninitialized_memory")))
    for prefix, obj, names in _BACKEND_FLAGS(torch):
        for name in names:
            if hasattr(obj, name):
                out.append((f"{prefix}.{name}", *attr(obj, name)))
    return out


def _BACKEND_FLAGS(torch):  # noqa: N802 - a table, read as one
    import torch.backends.cudnn
    import torch.backends.mkldnn

    return [
        ("torch.backends.cudnn", torch.backends.cudnn, ("enabled", "benchmark", "deterministic", "allow_tf32")),
        ("torch.backends.cuda.matmul", torch.backends.cuda.matmul,
         ("allow_tf32", "allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction")),
        ("torch.backends.mkldnn", torch.backends.mkldnn, ("enabled", "deterministic")),
    ]


def _read(settings) -> dict:
    values = {}
    for name, read, _ in settings:
        try:
            values[name] = read()
        except Exception:  # noqa: BLE001 - a setting this build of torch cannot read is not guarded
            continue
    return values


_warned: set[tuple[str, str]] = set()


def forget_warnings() -> None:
    """A new run warns afresh (the once-per-subject-and-setting memory is per run)."""
    _warned.clear()


@contextmanager
def user_code(subject: str, what: str = "user code") -> Iterator[None]:
    """Around every call into user code: torch's process-wide settings (default dtype and
    device, grad mode, deterministic algorithms, matmul precision, threads, numerics flags
    of the backends) are read before and put back after, whatever the call did or raised.
    A change is logged once per subject and setting, naming the subject: a
    ``torch.set_default_dtype(torch.float64)`` in one subject's ``sample()`` must not change
    the next subject's numbers."""
    settings = _torch_settings()
    before = _read(settings)
    try:
        yield
    finally:
        restore_torch(settings, before, subject, what)


def restore_torch(settings, before: dict, subject: str, what: str) -> list[str]:
    """Put back every setting of ``before`` that differs now; the names of those changed."""
    changed = []
    for name, read, write in settings:
        if name not in before:
            continue
        now = read()  # read afresh: putting one setting back can put back another (precision and tf32)
        if now == before[name]:
            continue
        changed.append(name)
        try:
            write(before[name])
        except Exception as exc:  # noqa: BLE001 - say so rather than hide it
            log.warning("subject %r: could not restore torch's %s after %s: %s", subject, name, what, exc)
            continue
        if (subject, name) not in _warned:
            _warned.add((subject, name))
            log.warning("subject %r: %s changed torch's global %s from %s to %s; evalkit put it back, so the "
                        "other subjects and evalkit's own numbers are not affected (docs/isolation.md)",
                        subject, what, name, before[name], now)
    return changed
