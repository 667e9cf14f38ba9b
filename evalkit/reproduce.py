"""``evalkit reproduce``: regenerate chosen samples of a report from its seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._errors import DataError, UsageError
from .plan import make_plan
from .report.model import read_report
from .runner import pick_device
from .runner.context import RunContext
from .runner.loop import build_source
from .runner.references import References
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


def reproduce(report_path: str | Path, subject: str, indices: list[int] | None = None, *, out: str | Path = "reproduced",
              device: str = "cpu"):
    report = read_report(report_path)
    sub = report.subject(subject)
    if indices is None:
        indices = sorted({f.index for r in sub.requirements for f in r.failing})
        if not indices:
            raise UsageError(f"subject {subject!r} has no failing examples in the report; give sample indices")
    spec = Spec.model_validate(report.spec)
    spec._source = report.spec_path
    bad = [i for i in indices if not 0 <= i < spec.sampling.size]
    if bad:
        raise UsageError(f"sample index {bad[0]} is out of range: the run drew indices 0..{spec.sampling.size - 1}")
    plan = make_plan(spec)
    sp = next(s for s in plan.subjects if s.name == subject)
    dev = pick_device(device)
    source, _ = build_source(RunContext(plan, dev, References(plan.spec, dev)), sp)
    if max(indices) >= source.n:
        raise DataError(f"sample index {max(indices)} is beyond the {source.n} samples of {subject!r}")
    batch = source.samples(list(indices))
    out_dir = Path(out)
    paths = []
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in subject)
    for idx, img, lab in zip(batch.indices.tolist(), batch.images, batch.labels if batch.labels is not None else [None] * len(indices)):
        name = f"{safe}-{idx:06d}" + (f"-class{int(lab)}" if lab is not None else "") + ".png"
        save_png(img, out_dir / name)
        paths.append(out_dir / name)
    return paths
