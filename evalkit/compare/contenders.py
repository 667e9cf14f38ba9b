"""The contenders of ``evalkit compare``: which subjects of which reports, whether their
reports may be compared at all, and whether two of them drew the same samples (paired tests).
"""

from __future__ import annotations

import difflib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import DataError, UsageError
from ..records.model import Report, SubjectResult
from ..records.reading import read_finished_report

log = logging.getLogger(__name__)


@dataclass
class Contender:
    label: str
    report: Report
    subject: SubjectResult
    folder: Path
    _record: Any = field(default=None, repr=False)
    _loaded: bool = False

    def record(self):
        """The subject's sample record (None when the report has none)."""
        if not self._loaded:
            from ..records.samples import read_samples

            try:
                self._record = read_samples(self.folder, self.subject.name, self.report)
            except DataError as exc:  # report.json alone suffices: compared unpaired, with a warning naming the file
                log.warning("%s; %s is compared from report.json alone (unpaired)", exc, self.label)
                self._record = None
            self._loaded = True
        return self._record


def _read(path: str) -> tuple[Report, Path]:
    p = Path(path)
    try:
        report = read_finished_report(p, "a contender of compare")
    except DataError as exc:  # a bad input file is the command line's problem: exit 2, nothing written
        raise UsageError(str(exc)) from None
    except ValueError as exc:  # pydantic: a hand-edited report.json
        first = str(exc).splitlines()
        raise UsageError(f"{p}: not a valid evalkit report ({' '.join(first[:3])})") from None
    return report, (p if p.is_dir() else p.parent)


def _check_wanted(subjects: list[str], loaded: list[tuple[Report, Path]], paths: list[str]) -> None:
    known = [s.name for r, _ in loaded for s in r.subjects]
    for want in subjects:
        if want not in known:
            near = difflib.get_close_matches(want, known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise UsageError(f"--subjects: no subject {want!r} in {', '.join(paths)}{hint} (subjects: {', '.join(known)})")


def load_contenders(paths: list[str], subjects: list[str] | None = None) -> list[Contender]:
    """The subjects to compare: every subject of the given reports, or only ``subjects``."""
    loaded = [_read(p) for p in paths]
    if subjects:
        _check_wanted(subjects, loaded, paths)
    picked = [(report, s, folder) for report, folder in loaded for s in report.subjects
              if subjects is None or s.name in subjects]
    names = [s.name for _, s, _ in picked]
    # the same subject in several reports is named by its report folder
    contenders = [Contender(f"{folder.name}/{s.name}" if names.count(s.name) > 1 else s.name, report, s, folder)
                  for report, s, folder in picked]
    _check_contenders(contenders)
    return contenders


def _check_contenders(contenders: list[Contender]) -> None:
    labels = [c.label for c in contenders]
    if len(set(labels)) != len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        raise UsageError(f"two contenders are both called {dup!r}; pass report folders with different names")
    if len(contenders) < 2:
        raise UsageError(f"compare needs at least two subjects, got {len(contenders)} "
                         f"({', '.join(labels) or 'none'}); name two reports, or a report and --subjects X Y")
    broken = [c.label for c in contenders if c.subject.status != "ok"]
    if broken:
        raise UsageError(f"subject(s) {', '.join(map(repr, broken))} did not finish in their run; compare needs finished subjects")


def resolve_label(contenders: list[Contender], name: str) -> str:
    """The contender ``name`` means (a label, or a subject name that one contender has); checked
    before any test runs, so a misspelt ``--fail-if-worse`` costs nothing."""
    labels = [c.label for c in contenders]
    if name in labels:
        return name
    by_subject = [c.label for c in contenders if c.subject.name == name]
    if len(by_subject) == 1:
        return by_subject[0]
    near = difflib.get_close_matches(name, labels, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    what = "names several contenders; use one of" if by_subject else "is not a compared subject"
    raise UsageError(f"--fail-if-worse {name!r} {what}{hint} (contenders: {', '.join(labels)})")


def _definition(entry: dict) -> tuple:
    """What a requirement measures, without its bound: two reports compare a requirement only if it is the same."""
    return tuple((k, json.dumps(entry.get(k), sort_keys=True)) for k in ("check", "where", "metric", "args"))


def _label(entry: dict) -> str:
    from ..spec.model import Requirement

    return Requirement.model_construct(**{k: v for k, v in entry.items() if k in Requirement.model_fields}).label


def not_comparable(contenders: list[Contender]) -> list[str]:
    """Reasons the contenders' reports cannot be compared (empty when they can)."""
    reasons: list[str] = []
    reports = {id(c.report): c for c in contenders}
    first = contenders[0]
    for c in reports.values():
        if c.report is not first.report:
            reasons += _differences(first.report, c.report, f"{first.folder} and {c.folder}")
    return reasons


def _differences(a: Report, b: Report, where: str) -> list[str]:
    """What makes two reports' numbers incomparable."""
    reasons = []
    if a.spec.get("version") != b.spec.get("version"):
        reasons.append(f"{where}: spec language versions differ ({a.spec.get('version')} and {b.spec.get('version')})")
    ra, rb = a.reference or {}, b.reference or {}
    if ra.get("sha256") != rb.get("sha256") or a.spec.get("reference") != b.spec.get("reference"):
        reasons.append(f"{where}: measured against different reference images "
                       f"({ra.get('source', a.spec.get('reference'))} and {rb.get('source', b.spec.get('reference'))})")
    detail = _space_detail(ra, rb)  # the recorded feature spaces (1.4): weights, preprocessing, evalkit's resizing
    if (ra.get("extractor_digest") or a.features) != (rb.get("extractor_digest") or b.features) or a.features != b.features \
            or detail:
        reasons.append(f"{where}: different feature spaces ({a.features} and {b.features}){detail}")
    defs_a = {_label(e): _definition(e) for e in a.spec.get("requirements", [])}
    for e in b.spec.get("requirements", []):
        name = _label(e)
        if name in defs_a and defs_a[name] != _definition(e):
            reasons.append(f"{where}: requirement {name!r} measures different things in the two specs")
    return reasons


def _space_detail(ra: dict, rb: dict) -> str:
    """What differs between two recorded feature spaces (weights digest, preprocessing, resizing)."""
    fa, fb = ra.get("feature_space"), rb.get("feature_space")
    if not isinstance(fa, dict) or not isinstance(fb, dict):
        return ""
    keys = [k for k in ("name", "digest", "preprocessing", "resize", "dim") if fa.get(k) != fb.get(k)]
    return "".join(f"; {k}: {fa.get(k)!r} and {fb.get(k)!r}" for k in keys)


def pairing(a: Contender, b: Contender) -> str | None:
    """None when a and b drew the same samples (paired tests apply), else why not."""
    if a.subject.path is not None or b.subject.path is not None:
        return "image folders carry no seeds"
    sa, sb = a.report.spec.get("sampling", {}), b.report.spec.get("sampling", {})
    for key in ("seed", "block_size"):
        if sa.get(key) != sb.get(key):
            return f"sampling.{key} differs ({sa.get(key)} and {sb.get(key)})"
    ra, rb = a.record(), b.record()
    if ra is None or rb is None:
        return "no sample store beside " + ("both reports" if ra is None and rb is None else "one report")
    return _store_pairing(ra.tensors, rb.tensors)


def _store_pairing(ta: dict, tb: dict) -> str | None:
    """None when two sample stores hold the same samples (indices, asked labels, feature width)."""
    if ta["index"].shape != tb["index"].shape or not bool((ta["index"] == tb["index"]).all()):
        return "different sample indices (different n, or a sequential run stopped early)"
    if ("asked" in ta) != ("asked" in tb) or ("asked" in ta and not bool((ta["asked"] == tb["asked"]).all())):
        return "different asked labels"
    fa, fb = ta.get("features"), tb.get("features")
    if fa is not None and fb is not None and fa.shape[1:] != fb.shape[1:]:
        return f"feature vectors of different widths ({fa.shape[1]} and {fb.shape[1]})"
    return None
