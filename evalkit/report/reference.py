"""The reference's provenance in words: imported statistics and the feature-space check, for every format."""

from __future__ import annotations

from typing import Any

__all__ = ["reference_notes"]

CHECK = "feature-space check"


def reference_notes(ref: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, plain sentence) pairs (each renderer escapes them) on where the reference moments
    came from and what the feature-space check found (``observe/sanity.py``)."""
    if not ref:
        return []
    out = []
    if ref.get("imported"):
        out.append(("imported statistics", f"from {ref.get('statistics')} (sha256 {ref.get('statistics_sha256')}): "
                                           f"{ref.get('claims')}"))
    check = ref.get("features_check")
    if isinstance(check, dict) and check.get("status") == "off":
        out.append((CHECK, "off (the spec sets `features_check: off`): nothing checked that these features tell noise from data"))
    elif isinstance(check, dict):
        out.append((CHECK, _summary(check)))
        out += [(CHECK, f"problem: {p}") for p in check.get("problems") or []]
        out += [(CHECK, f"warning: {w}") for w in check.get("warnings") or []]
    return out


def _summary(check: dict[str, Any]) -> str:
    dist = ", ".join(f"{k} {v:.4g}" for k, v in (check.get("distances") or {}).items() if isinstance(v, (int, float)))
    floor, rms = check.get("noise_floor"), check.get("feature_rms")
    return (f"{str(check.get('status', '?')).upper()}: Fréchet distance of {check.get('n')} degenerate images (seed "
            f"{check.get('seed')}) from the reference: {dist or 'none'}"
            + (f"; noise floor (reference half vs half) {floor:.4g}, required x{check.get('separation_factor')}"
               if isinstance(floor, (int, float)) else "")
            + (f"; feature RMS {rms:.3g}" if isinstance(rms, (int, float)) else ""))
