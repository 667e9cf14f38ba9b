"""Progress a person can see while a long phase runs.

On a terminal a phase is a tqdm bar (counts, rate, ETA), gone when the phase ends. In a
CI log (stderr is not a terminal), and on a terminal that reports no width (a pty
nobody sized, where tqdm would draw nothing), a bar would be unreadable or invisible,
so a phase prints plain lines instead: one when it starts, one every
``interval`` seconds with counts, rate and ETA, and one when it ends. A phase with no
count (a single long computation) still prints "still working" lines, from a daemon
thread, so a log never goes silent for minutes.

Everything goes to stderr: stdout stays the verdict table and the report path.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from typing import TextIO

PLAIN_INTERVAL_S = 10.0


# C0/C1 controls and bidi overrides (the same set as report/escape.py, which this foundation module cannot import)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]")


def _visible(text: str) -> str:
    """Subject names reach the terminal with their control codes shown (\\x1b), never obeyed."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Task:
    """One phase: ``update(k)`` as work is done, ``close()`` (or ``with``) at the end.

    A disabled task does nothing, so callers never branch on whether progress is shown.
    """

    def __init__(self, desc: str, total: int | None, unit: str, *, enabled: bool = True,
                 stream: TextIO | None = None, tty: bool | None = None, interval: float = PLAIN_INTERVAL_S):
        self.desc, self.total, self.unit, self.enabled = desc, total, unit, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream) if tty is None else tty
        self.interval = interval
        self.done = 0
        self.started = time.monotonic()
        self._last_line = self.started
        self._bar = None
        self._closed = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        if not enabled:
            return
        width = _bar_width(self.stream) if self.tty else None
        if width is not None:
            from tqdm import tqdm

            # a window that reports its size follows resizes; a width known only from COLUMNS stays fixed
            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=width == "window",
                             ncols=width if isinstance(width, int) else None, file=self.stream, mininterval=0.5)
        else:
            what = f"{total} {unit}" if total is not None else "started"
            self._print(f"{desc}: {what}")
        if total is None:
            threading.Thread(target=self._heartbeat, name=f"evalkit-progress:{desc}", daemon=True).start()

    # ---- what callers use
    def update(self, k: int = 1) -> None:
        if not self.enabled or self._closed:
            return
        with self._lock:
            self.done += k
            if self._bar is not None:
                self._bar.update(k)
            elif time.monotonic() - self._last_line >= self.interval:
                self._print(self.line())

    def close(self) -> None:
        if not self.enabled or self._closed:
            return
        self._closed = True
        self._stop.set()
        with self._lock:
            if self._bar is not None:
                self._bar.close()
            else:
                count = f"{self.done}/{self.total} {self.unit}, " if self.total is not None else ""
                self._print(f"{self.desc}: done, {count}{_clock(time.monotonic() - self.started)}")

    def __enter__(self) -> "Task":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- the plain line
    def line(self, now: float | None = None) -> str:
        """``desc: done/total unit (pct%), rate unit/s, elapsed m:ss, ETA m:ss``."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        if self.total is None:
            return f"{self.desc}: still working, {_clock(elapsed)} elapsed"
        parts = [f"{self.desc}: {self.done}/{self.total} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.done / self.total:.0f}%)"
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts.append(f"{rate:.3g} {self.unit}/s" if rate else "")
        parts.append(f"elapsed {_clock(elapsed)}")
        if rate > 0 and self.total >= self.done:
            parts.append(f"ETA {_clock((self.total - self.done) / rate)}")
        return ", ".join(p for p in parts if p)

    def _print(self, text: str) -> None:
        self._last_line = time.monotonic()
        try:
            print(f"evalkit: {_visible(text)}", file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed stderr must not break the run
            pass

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if self._closed:
                    return
                if self._bar is not None:
                    self._bar.refresh()  # tqdm redraws its elapsed time
                else:
                    self._print(self.line())


def task(desc: str, total: int | None = None, unit: str = "img", *, enabled: bool = True) -> Task:
    """A progress task on stderr: a bar on a terminal, periodic plain lines elsewhere."""
    return Task(desc, total, unit, enabled=enabled)


def say(text: str, stream: TextIO | None = None) -> None:
    """One status line on stderr (``evalkit: text``), written at once; a closed stderr is ignored.

    Imports nothing: the CLI calls it before torch loads, so a run is never silent while it starts.
    """
    out = stream if stream is not None else sys.stderr
    try:
        print(f"evalkit: {_visible(text)}", file=out, flush=True)
    except (OSError, ValueError, AttributeError):  # fd 2 closed (by user code, by the caller): not an error of the run
        pass


def _bar_width(stream) -> "int | str | None":
    """How a bar can be drawn on this terminal: ``"window"`` when it reports a size, a column
    count from ``COLUMNS`` when it does not, None (plain lines) when neither says.

    tqdm draws a bar of the window's width, so a terminal reporting 0 columns (a pty
    nobody sized: ``docker -t``, some CI runners, ``script``) showed nothing at all.
    """
    try:
        if os.get_terminal_size(stream.fileno()).columns > 0:
            return "window"
    except (AttributeError, OSError, ValueError):  # no fd (a wrapped stream), not a tty after all, TIOCGWINSZ fails
        pass
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else None


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
