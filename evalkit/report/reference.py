"""The reference's provenance in words: imported statistics and the feature-space check, for every format."""

from __future__ import annotations

from typing import Any

__all__ = ["reference_notes"]


def reference_notes(ref: dict[str, Any] | None) -> list[str]:
    """Plain sentences (each renderer escapes them) on where the reference moments came from
    and what the feature-space check found (``observe/sanity.py``)."""
    if not ref:
        return []
    out = []
    if ref.get("imported"):
        out.append(f"reference statistics imported from {ref.get('statistics')} (sha256 {ref.get('statistics_sha256')}): "
                   f"{ref.get('claims')}")
    check = ref.get("features_check")
    if isinstance(check, dict) and check.get("status") == "off":
        out.append("feature-space check: off (the spec sets `features_check: off`): no check that these features tell "
                   "noise from data")
    elif isinstance(check, dict):
        dist = ", ".join(f"{k} {v:.4g}" for k, v in (check.get("distances") or {}).items() if isinstance(v, (int, float)))
        floor = check.get("noise_floor")
        words = (f"feature-space check {str(check.get('status', '?')).upper()}: Fréchet distance of {check.get('n')} "
                 f"degenerate images (seed {check.get('seed')}) from the reference: {dist or 'none'}"
                 + (f"; noise floor (reference half vs half) {floor:.4g}, required x{check.get('separation_factor')}"
                    if isinstance(floor, (int, float)) else "")
                 + f"; feature RMS {check.get('feature_rms', float('nan')):.3g}")
        out.append(words)
        out += [f"feature-space check problem: {p}" for p in check.get("problems") or []]
        out += [f"feature-space check warning: {w}" for w in check.get("warnings") or []]
    return out
