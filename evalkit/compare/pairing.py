"""Pairing a run with its ``--baseline``'s samples: the same samples make a sharper test.

When this run and the baseline drew the very same samples (the same seed and
sampling blocks, the same sample indices and the same asked classes), every rate
requirement has a per-sample outcome on both sides and the gate tests the
*discordant* samples (exact McNemar; Tango's score test with a tolerance), and a
metric whose per-sample influence both sample stores hold (``influence.<metric
result name>``, float32 (n,), rows aligned with ``index``) is tested on the
influence differences (``judge.compare``'s ``paired_influence``). Anything else is
compared unpaired, and the report says why per subject.

This run's records are the ones ``evalkit.run`` holds in memory before writing
(subject -> (tensors, meta), ``records.samples.sample_record``); the baseline's are
read with ``records.samples.read_samples``, which believes a store only when its
digest matches the baseline report (a bad store is "unpaired", with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import EvalkitError
from ..records.model import Report
from ..records.samples import read_samples

INFLUENCE_PREFIX = "influence."


@dataclass
class SubjectPairing:
    """Whether one subject pairs with its baseline subject's samples, and the per-sample data that pairs."""

    paired: bool
    reason: str
    outcomes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # requirement -> (base, current)
    influences: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # metric -> (base, current)
    metric_reasons: dict[str, str] = field(default_factory=dict)  # metric -> why it is unpaired

    def words(self, requirement: str, metric: str | None = None) -> str:
        """How one requirement was tested, for the report."""
        if not self.paired:
            return f"unpaired: {self.reason}"
        if metric is not None:
            if metric in self.influences:
                return self.reason
            return "unpaired: " + self.metric_reasons.get(metric, "no per-sample influences in the sample stores")
        return self.reason if requirement in self.outcomes else \
            "unpaired: the sample stores hold no per-sample outcome of this requirement"


def _unpaired(reason: str) -> SubjectPairing:
    return SubjectPairing(paired=False, reason=reason)


def baseline_folder(path: str | Path) -> Path:
    """The report folder of ``--baseline`` (given as the folder or its report.json)."""
    p = Path(path)
    return p if p.is_dir() else p.parent


def same_samples(cur: dict[str, Any], base: dict[str, Any]) -> str | None:
    """None when two sample stores' tensors hold the same samples (indices and asked classes), else why not."""
    ci, bi = cur["index"], base["index"]
    if tuple(ci.shape) != tuple(bi.shape) or not bool((ci == bi).all()):
        return f"different sample indices ({len(bi)} in the baseline, {len(ci)} now: another n, or a run stopped early)"
    if ("asked" in cur) != ("asked" in base):
        return "one side asked for classes, the other did not"
    if "asked" in cur and not bool((cur["asked"] == base["asked"]).all()):
        return "different asked classes"
    return None


def pair_subject(cur: tuple[dict, dict], base_tensors: dict, base_meta: dict, seeds: tuple[Any, Any]) -> SubjectPairing:
    """The pairing of one subject from both records ((tensors, meta) now; the baseline's tensors and meta)."""
    tensors, meta = cur
    if seeds[0] != seeds[1]:
        return _unpaired(f"different seeds (baseline {seeds[0]}, now {seeds[1]})")
    why = same_samples(tensors, base_tensors)
    if why is not None:
        return _unpaired(why)
    n = len(tensors["index"])
    classes = " and classes" if "asked" in tensors else ""
    out = SubjectPairing(paired=True, reason=f"paired with the baseline's samples (same seed {seeds[1]}, same {n} "
                         f"indices{classes})")
    for r, name in enumerate(meta.get("requirements") or []):
        if name in (base_meta.get("requirements") or []) and "passed" in tensors and "passed" in base_tensors:
            b = base_tensors["passed"][base_meta["requirements"].index(name)]
            out.outcomes[name] = (np.asarray(b, dtype=bool), np.asarray(tensors["passed"][r], dtype=bool))
    for key in tensors:
        if key.startswith(INFLUENCE_PREFIX):
            metric = key[len(INFLUENCE_PREFIX):]
            if key in base_tensors and tuple(base_tensors[key].shape) == (n,) and tuple(tensors[key].shape) == (n,):
                out.influences[metric] = (np.asarray(base_tensors[key], dtype=float), np.asarray(tensors[key], dtype=float))
            else:
                out.metric_reasons[metric] = "the baseline's sample store holds no per-sample influence of it"
    return out


def pair_with_baseline(report: Report, records: dict | None, baseline: Report, match: Any) -> dict[str, SubjectPairing]:
    """Subject name -> its pairing with the baseline subject ``match`` paired it with."""
    out: dict[str, SubjectPairing] = {}
    folder = baseline_folder(match.path)
    block = ((report.spec.get("sampling") or {}).get("block_size"), (baseline.spec.get("sampling") or {}).get("block_size"))
    for pair in match.pairs:
        out[pair.subject] = _one(pair, report, records, baseline, folder, block)
    return out


def _one(pair: Any, report: Report, records: dict | None, baseline: Report, folder: Path,
         block: tuple[Any, Any]) -> SubjectPairing:
    cur = (records or {}).get(pair.subject)
    sub = next((s for s in report.subjects if s.name == pair.subject), None)
    if sub is not None and sub.path is not None:
        return _unpaired("image folders carry no seeds")
    if cur is None:
        return _unpaired("this run keeps no sample record (not written, or not the writing process)")
    if block[0] != block[1]:
        return _unpaired(f"sampling.block_size differs (baseline {block[1]}, now {block[0]})")
    try:
        rec = read_samples(folder, pair.baseline_subject, baseline)
    except EvalkitError as exc:  # a damaged or foreign store pairs nothing; the reason says which file
        return _unpaired(f"the baseline's sample store is not believed ({exc})")
    if rec is None:
        return _unpaired(f"no sample store beside the baseline report ({folder})")
    return pair_subject(cur, rec.tensors, rec.meta, (baseline.seed, report.seed))
