"""``evalkit reproduce``: regenerate chosen samples of a report from its seeds.

A report is data (see "What evalkit trusts" in the README): the spec it carries is
used only to compare against the spec the user gives, unless it imports no user
code or the user passes ``--trust-report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._errors import DataError, UsageError
from .plan import make_plan
from .records.reading import read_report
from .runner import pick_device
from .runner.context import RunContext
from .runner.build import build_source
from .runner.references import References
from .spec.load import load_spec
from .spec.model import Spec


def save_png(image, path: Path) -> None:
    from PIL import Image

    from ._io import atomic_write_bytes
    import io

    arr = (image.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    arr = arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def module_references(spec_data: Any) -> list[tuple[str, str]]:
    """(field path, ``module:attribute``) for every string in a spec that would import user code."""
    from . import registry
    from .spec.locations import dotted

    found: list[tuple[str, str]] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), spec_data)]
    while stack:
        path, cur = stack.pop()
        if isinstance(cur, dict):
            stack.extend((path + (k,), v) for k, v in cur.items())
        elif isinstance(cur, list):
            stack.extend((path + (i,), v) for i, v in enumerate(cur))
        elif isinstance(cur, str) and registry.is_reference(cur):
            found.append((dotted(path), cur))
    return sorted(found)


def _spec_for(report, report_path, subject: str, spec_path: str | Path | None, trust_report: bool, say) -> Spec:
    """The spec to rebuild ``subject`` from: the user's file, or the report's copy when that is safe or trusted.

    A report is data: its copy of the spec may name any module to import. It is used
    as it is only when it names none (then only installed code runs), or when the user
    says ``--trust-report`` (the imports are printed first).
    """
    if spec_path is not None:
        spec = load_spec(spec_path)
        copied = Spec.model_validate(report.spec)
        _compare(spec, copied, subject, report_path)
        spec.sampling.n = copied.sampling.n  # the run may have used --n; sample i does not depend on n
        return spec
    refs = module_references(report.spec)
    if refs and not trust_report:
        shown = ", ".join(f"{ref} ({where})" for where, ref in refs)
        raise UsageError(
            f"{report_path}: the report's spec imports user code: {shown}. A report is data and evalkit does not run "
            "code it names; give the spec you trust with --spec SPEC (the report's copy is then only compared), "
            "or pass --trust-report to import these modules"
        )
    for where, ref in refs:
        say(f"--trust-report: importing {ref} ({where}) as the report's spec names it")
    spec = Spec.model_validate(report.spec)
    spec._source = report.spec_path
    return spec


def _compare(spec: Spec, copied: Spec, subject: str, report_path) -> None:
    """Refuse a user spec whose subject or sampling differs from what the report ran: the samples would differ."""
    mine = next((s for s in spec.subjects if s.display_name == subject), None)
    theirs = next((s for s in copied.subjects if s.display_name == subject), None)
    if mine is None:
        raise UsageError(f"the spec has no subject {subject!r} (subjects: {', '.join(s.display_name for s in spec.subjects)})")
    diffs = [f"subjects[{subject!r}].{k}" for k in ("model", "path", "checkpoint", "params")
             if theirs is not None and getattr(mine, k) != getattr(theirs, k)]
    diffs += [f"sampling.{k}" for k in ("seed", "block_size", "labels") if getattr(spec.sampling, k) != getattr(copied.sampling, k)]
    if diffs:
        raise UsageError(f"the spec differs from the one {report_path} ran in {', '.join(diffs)}; "
                         "its samples would not be the report's. Give the spec the report was made with")


MAX_INDICES = 10_000  # PNGs one call writes (each index costs at most one block of samples)


def reproduce(report_path: str | Path, subject: str, indices: list[int] | None = None, *, out: str | Path = "reproduced",
              device: str = "cpu", spec: str | Path | None = None, trust_report: bool = False, say=None):
    """Regenerate samples ``indices`` (default: the failing examples) of ``subject`` as PNG files."""
    say = say or (lambda msg: None)
    report = read_report(report_path)
    sub = report.subject(subject)  # an unknown subject is refused here, naming the report's subjects
    if indices is None:
        indices = _failing_indices(sub, subject)
    spec_obj = _spec_for(report, report_path, subject, spec, trust_report, say)
    if len(indices) > MAX_INDICES:
        raise UsageError(f"{len(indices)} sample indices asked; reproduce regenerates at most {MAX_INDICES} at a time")
    drawn = min(spec_obj.sampling.size, sub.n) if sub.n else spec_obj.sampling.size
    bad = [i for i in indices if not 0 <= i < drawn]
    if bad:
        raise UsageError(f"sample index {bad[0]} is out of range: the run drew indices 0..{drawn - 1}")
    plan = make_plan(spec_obj)
    sp = next(s for s in plan.subjects if s.name == subject)
    dev = pick_device(device)
    source, _ = build_source(RunContext(plan, dev, References(plan.spec, dev)), sp)
    if max(indices) >= source.n:
        raise DataError(f"sample index {max(indices)} is beyond the {source.n} samples of {subject!r}")
    return _write_pngs(source.samples(list(indices)), subject, Path(out))


def _failing_indices(sub, subject: str) -> list[int]:
    """The sample indices of every failing example the report keeps for the subject."""
    indices = sorted({f.index for r in sub.requirements for f in r.failing})
    if not indices:
        raise UsageError(f"subject {subject!r} has no failing examples in the report; give sample indices")
    return indices


def _write_pngs(batch, subject: str, out_dir: Path) -> list[Path]:
    """One PNG a sample, named for the subject (made safe as a file name), the index and the class asked."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in subject)[:100].lstrip(".") or "subject"
    labels = batch.labels.tolist() if batch.labels is not None else [None] * len(batch.indices)
    paths = []
    for idx, img, lab in zip(batch.indices.tolist(), batch.images, labels):
        path = out_dir / (f"{safe}-{idx:06d}" + (f"-class{int(lab)}" if lab is not None else "") + ".png")
        save_png(img, path)
        paths.append(path)
    return paths
