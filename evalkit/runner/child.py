"""A generator's sampling in a child process, so a time limit holds whatever its code does.

When a subject has a time limit, evalkit forks a child that builds the generator and
draws its batches with the very code of an in-process run (``build.build_source``,
``GeneratorSource``); the batches come back over a pipe as raw arrays, bit for bit. The
parent waits for each answer at most until the subject's deadline, then kills the child
with SIGKILL: ignoring or blocking SIGALRM, ``signal.alarm(0)``, ``except BaseException``
loops and C-level sleeps all happen in the child and change nothing. The child also
dies with the parent (``PR_SET_PDEATHSIG``), and ``close()`` runs on every way out of a
subject: its end, a break, Ctrl-C, SIGTERM or SIGHUP. See docs/isolation.md.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import threading
from multiprocessing.connection import Connection, Pipe
from types import SimpleNamespace
from typing import Iterator

import numpy as np
import torch

from .._errors import EvalkitError, SubjectError
from ..boundary import TimeLimit, describe
from ..sample.sources import Batch, asked_labels

log = logging.getLogger(__name__)

_live: set[int] = set()  # children not yet reaped, killed at exit whatever happens


def isolation_possible(device: torch.device) -> bool:
    """A forked child can sample on the CPU; CUDA (and other accelerators) cannot be used
    after a fork once the parent has touched them."""
    return hasattr(os, "fork") and device.type == "cpu"


class ChildSource:
    """The parent's side: looks like a ``GeneratorSource`` to the sampling loop."""

    def __init__(self, ctx, sp, limit: TimeLimit):
        self.name, self.limit = sp.name, limit
        self.n, self.device = ctx.spec.sampling.size, ctx.device
        self.sampling = ctx.spec.sampling
        self._stream = 0
        self.pid: int | None = None
        self.conn: Connection | None = None
        # known once the child has built the generator (``ready``)
        self.image_shape: tuple[int, ...] | None = None
        self.num_classes: int | None = None
        self.gen: SimpleNamespace | None = None
        self.labels: torch.Tensor | None = None
        self._start(ctx, sp)

    # ---------------------------------------------------------------- life

    def _start(self, ctx, sp) -> None:
        mine, theirs = Pipe(duplex=True)
        for stream in (sys.stdout, sys.stderr):  # or the child would write the parent's pending text again
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        pid = os.fork()
        if pid == 0:  # the child: never returns
            mine.close()
            _child(ctx, sp, theirs)
        theirs.close()
        self.pid, self.conn = pid, mine
        _live.add(pid)

    def ready(self) -> str | None:
        """Wait for the generator to be built; returns its weights file (or None)."""
        meta = self._receive()
        self.image_shape = tuple(meta["image_shape"])
        self.num_classes = meta["num_classes"]
        self.gen = SimpleNamespace(**meta["attrs"])  # what the loop reads of the generator (output_range)
        self.labels = asked_labels(self.sampling, self.num_classes) if self.num_classes is not None else None
        return meta["weights"]

    def close(self) -> None:
        """Kill the child (if alive) and reap it. Safe to call twice."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.pid is not None:
            _kill(self.pid)
            self.pid = None

    # ---------------------------------------------------------------- the source

    def batches(self, batch_size: int, start: int = 0, stop: int | None = None) -> Iterator[Batch]:
        self._stream += 1
        sid = self._stream
        while True:
            self._send(("next", sid, batch_size, start, stop))
            msg = self._receive()
            if msg is None:
                return
            yield _batch(msg, self.device)

    def samples(self, indices: list[int]) -> Batch:
        self._send(("samples", list(indices)))
        return _batch(self._receive(), self.device)

    # ---------------------------------------------------------------- the pipe

    def _send(self, msg) -> None:
        if self.conn is None:  # closed: the child is gone
            raise self._died()
        try:
            self.conn.send_bytes(pickle.dumps(msg))
        except (OSError, AttributeError):
            raise self._died() from None

    def _receive(self):
        """The child's next answer (its log records relayed on the way), within the deadline."""
        while True:
            left = self.limit.remaining()
            if not self.conn.poll(left):
                self.close()
                raise self.limit.expired()
            try:
                kind, payload = pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError):
                raise self._died() from None
            if kind == "log":
                _relog(payload)
            elif kind == "ok":
                return payload
            else:
                self.close()
                _raise_from_child(kind, payload)

    def _died(self) -> BaseException:
        status = _kill(self.pid) if self.pid is not None else None
        self.pid = None
        how = _status_text(status)
        return SubjectError(f"subject {self.name!r}: the process sampling it ended unexpectedly ({how}), "
                            "e.g. the model called os._exit or crashed in C code")

def start_child_source(ctx, sp, limit: TimeLimit) -> tuple[ChildSource, str | None]:
    """Fork the subject's sampling child and wait (within the limit) for its generator."""
    src = ChildSource(ctx, sp, limit)
    try:
        weights = src.ready()
    except BaseException:
        src.close()
        raise
    return src, weights


def _batch(payload, device: torch.device) -> Batch:
    idx, images, labels = payload
    lab = None if labels is None else torch.from_numpy(labels).to(device)
    return Batch(torch.from_numpy(idx), torch.from_numpy(images).to(device), lab)


def _raise_from_child(kind: str, text: str):
    if kind == "interrupt":
        raise KeyboardInterrupt()
    raise SubjectError(text)


def _relog(record: dict) -> None:
    rec = logging.makeLogRecord(record)
    logging.getLogger(rec.name).handle(rec)


def _kill(pid: int) -> int | None:
    """SIGKILL ``pid`` and reap it; its wait status (None when already reaped)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = None
    _live.discard(pid)
    return status


def _status_text(status: int | None) -> str:
    if status is None:
        return "status unknown"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"


def kill_all() -> None:
    """Kill every sampling child still alive (on the way out of a run, whatever ended it)."""
    for pid in list(_live):
        _kill(pid)


# ---------------------------------------------------------------- the child


class _Forward(logging.Handler):
    """The child's log records, sent to the parent to be logged there (where the handlers,
    the progress display and pytest's capture are)."""

    def __init__(self, out: "_Out"):
        super().__init__()
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        d = dict(record.__dict__)
        d["msg"], d["args"], d["exc_info"], d["exc_text"] = record.getMessage(), None, None, None
        d.pop("stack_info", None)
        self.out.send("log", d)


class _Out:
    """The child's end of the pipe; one lock, as user threads may log too."""

    def __init__(self, conn: Connection):
        self.conn, self.lock = conn, threading.Lock()

    def send(self, kind: str, payload) -> None:
        data = pickle.dumps((kind, payload))
        with self.lock:
            self.conn.send_bytes(data)


def _child(ctx, sp, conn: Connection) -> None:
    """Build the generator, then answer the parent's requests until the pipe closes."""
    code = 0
    try:
        _child_setup()
        out = _Out(conn)
        root = logging.getLogger()
        root.handlers[:] = [_Forward(out)]
        _serve(ctx, sp, conn, out)
    except BaseException:  # noqa: BLE001 - whatever happens, never run the parent's code past here
        code = 70
    finally:
        os._exit(code)


def _child_setup() -> None:
    # the parent kills the child; it must not act on the signals meant for the run itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, signal.SIG_DFL)
    _die_with_parent()


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: the kernel kills this child if evalkit dies (even by SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before the prctl
        os._exit(0)


def _serve(ctx, sp, conn: Connection, out: _Out) -> None:
    from .build import build_source  # the very code of an in-process run

    source = _answer(out, lambda: _meta(*build_source(ctx, sp)))
    if source is None:
        return
    source = source.pop("_source")
    stream: tuple[int, Iterator[Batch]] | None = None
    while True:
        try:
            msg = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        if msg[0] == "samples":
            _answer(out, lambda: _arrays(source.samples(msg[1])))
            continue
        _, sid, bs, start, stop = msg
        if stream is None or stream[0] != sid:
            stream = (sid, iter(source.batches(bs, start, stop)))
        it = stream[1]
        _answer(out, lambda: _next_or_none(it))


def _answer(out: _Out, work):
    """Run ``work`` and send what it returned, or the reason it failed; returns its value
    (None after a failure, and the child ends: the parent closes the subject)."""
    try:
        value = work()
    except KeyboardInterrupt:
        out.send("interrupt", "")
        raise
    except BaseException as exc:  # noqa: BLE001 - the parent reports it as the subject breaking
        out.send("error", str(exc) if isinstance(exc, EvalkitError) else describe(exc))
        raise
    sent = {k: v for k, v in value.items() if k != "_source"} if isinstance(value, dict) else value
    out.send("ok", sent)
    return value


def _meta(source, weights) -> dict:
    gen = source.gen
    attrs = {}
    if hasattr(gen, "output_range"):
        rng = gen.output_range
        attrs["output_range"] = rng if _plain(rng) else repr(rng)
    return {"image_shape": tuple(source.image_shape), "num_classes": source.num_classes, "attrs": attrs,
            "weights": None if weights is None else str(weights), "_source": source}


def _plain(value) -> bool:
    try:
        pickle.loads(pickle.dumps(value))
    except Exception:  # noqa: BLE001 - anything the parent could not rebuild is sent as its repr
        return False
    return True


def _next_or_none(it: Iterator[Batch]):
    b = next(it, None)
    return None if b is None else _arrays(b)


def _arrays(b: Batch):
    labels = None if b.labels is None else b.labels.detach().cpu().numpy()
    return (b.indices.detach().cpu().numpy(), np.ascontiguousarray(b.images.detach().cpu().numpy()), labels)
