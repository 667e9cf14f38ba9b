"""The feature space a report's distribution metrics were computed in, in words (from report.json's
``reference.feature_space``, read as untrusted: anything of an unexpected type is left out)."""

from __future__ import annotations

from typing import Any


def feature_space_text(reference: dict[str, Any] | None) -> str | None:
    """E.g. "inception-fid, weights sha256 6726825d…; 299x299 by tf-bilinear, RGB, values in [0, 255],
    uint8-quantised; images resized by bicubic", or None when the report records no feature space."""
    fs = (reference or {}).get("feature_space")
    if not isinstance(fs, dict) or not isinstance(fs.get("name"), str):
        return None
    digest = str(fs.get("digest", "?")).rsplit(":", 1)[-1][:12]  # the weights' hash, after any "name-v1:" prefix
    parts = [f"{fs['name']} (d = {fs.get('dim')}, digest {digest})"]
    prep = fs.get("preprocessing")
    if isinstance(prep, dict):
        parts.append("preprocessing: " + _prep_text(prep))
    if isinstance(fs.get("resize"), str):
        parts.append(f"images resized to its input by {fs['resize']} (the spec's `resize:`)")
    return "; ".join(parts)


def _prep_text(prep: dict[str, Any]) -> str:
    size, out = prep.get("size"), []
    if isinstance(size, list) and len(size) == 2:
        out.append(f"{size[0]}x{size[1]} by {prep.get('resize')}")
    channels = prep.get("channels")
    if channels in (1, 3):
        out.append({3: "RGB (grey replicated)", 1: "grey (RGB as luminance)"}[channels])
    rng = prep.get("value_range")
    if isinstance(rng, list) and len(rng) == 2:
        out.append(f"values in [{rng[0]}, {rng[1]}]")
    if prep.get("quantize"):
        out.append(f"{prep['quantize']}-quantised")
    if prep.get("normalize"):
        out.append("mean/std normalised")
    return ", ".join(map(str, out)) or "none declared"
