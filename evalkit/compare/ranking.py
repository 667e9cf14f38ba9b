"""What a comparison table says about order: a ranking only where significant differences
alone order every pair, and the rows on which a contender is significantly worse.
"""

from __future__ import annotations

from ..records.comparison import Comparison, Row


def rank(labels: list[str], rows: list[Row]) -> tuple[list[str] | None, str]:
    """A ranking, only where significant differences alone order every pair (best first).

    X is above Y when X is significantly better than Y on at least one row and
    significantly worse on none. The ranking is printed only when that relation orders
    every pair of contenders; otherwise the note says which pairs it leaves open.
    """
    above: set[tuple[str, str]] = set()
    open_pairs = []
    for i, x in enumerate(labels):
        for y in labels[i + 1:]:
            order = _pair_order(x, y, [r for r in rows if (r.a, r.b) == (x, y)])
            if isinstance(order, tuple):
                above.add(order)
            else:
                open_pairs.append(f"{x} and {y}: {order}")
    if open_pairs:
        return None, "no ranking: " + "; ".join(open_pairs)
    wins = {x: sum(1 for (p, _) in above if p == x) for x in labels}
    ranked = sorted(labels, key=lambda x: -wins[x])
    consistent = all((ranked[i], ranked[j]) in above for i in range(len(ranked)) for j in range(i + 1, len(ranked)))
    if not consistent:
        return None, "no ranking: the significant differences are not transitive"
    return ranked, "ranked by significant differences only (each is better on something and worse on nothing)"


def _pair_order(x: str, y: str, rows: list[Row]) -> tuple[str, str] | str:
    """(upper, lower) when one is better on something and worse on nothing, else why not."""
    y_better = any(r.verdict == "better" for r in rows)
    y_worse = any(r.verdict == "worse" for r in rows)
    if y_better and not y_worse:
        return (y, x)
    if y_worse and not y_better:
        return (x, y)
    return "mixed (each better on something)" if y_better else "no significant difference"


def worse_rows(comparison: Comparison, label: str) -> list[Row]:
    """Rows where ``label`` is significantly worse than another contender."""
    return [r for r in comparison.rows
            if (r.b == label and r.verdict == "worse") or (r.a == label and r.verdict == "better")]
