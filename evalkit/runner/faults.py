"""Fault injection for the kill-and-resume tests, read in this one place.

``EVALKIT_TEST_KILL_AT=<point>:<count>`` kills the process with SIGKILL (or, with
``<point>:<count>:term``, sends it SIGTERM) the ``count``-th time the run reaches
``point``. Points: ``journal-first`` (before the first journal entry), ``mid-batch``
(between observing a batch and journaling it), ``rename`` (a journal record written
but not yet renamed into place), ``metrics`` (while computing metrics), ``report``
(between writing two report files). Unset, ``kill_point`` costs a dict lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "EVALKIT_TEST_KILL_AT"
POINTS = ("journal-first", "mid-batch", "rename", "metrics", "report")
_seen: dict[str, int] = {}


def kill_point(point: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    parts = spec.split(":")
    if parts[0] != point:
        return
    _seen[point] = _seen.get(point, 0) + 1
    if _seen[point] == int(parts[1]):
        sig = signal.SIGTERM if len(parts) > 2 and parts[2] == "term" else signal.SIGKILL
        os.kill(os.getpid(), sig)
