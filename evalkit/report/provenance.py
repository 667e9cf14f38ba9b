"""Which networks a report's numbers come from: the label judge and the feature space.

A label check and a distribution metric read by one network reward a generator twice
for matching that network's classes (Kynkäänniemi et al. 2023), so every rendering
says which network judged the labels and which embedded the images.
"""

from __future__ import annotations

from ..records.model import Report


def networks_line(report: Report) -> str | None:
    """"labels judged by A; distribution metrics in B features (d-d)", or None when neither was used.

    Plain text: each rendering escapes it its own way."""
    ref = report.reference or {}
    feats, dim = ref.get("features"), ref.get("feature_dim")
    parts = []
    if report.classifier:
        parts.append(f"labels judged by {report.classifier}")
    if feats:
        parts.append(f"distribution metrics in {feats} features" + (f" ({dim}-d)" if dim else ""))
    if not parts:
        return None
    line = "; ".join(parts)
    if report.classifier and feats == report.classifier:
        line += " (one network for both: a model matching its classes is rewarded twice)"
    return line


__all__ = ["networks_line"]
