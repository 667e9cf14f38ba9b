"""Make docs/report-screenshot.png, the README's picture of report.html.

It opens the page through the same function the browser tests use
(``tests/report/browser.py: inspect_report``), at the tests' 1280-px width, checks what
they check, and saves the top of the page as a small palette PNG.

    python docs/make_screenshot.py reports/fashion-zoo-<time>/report.html
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.report.browser import WIDTH, inspect_report  # noqa: E402

HEIGHT = 1000  # the verdict matrix and the first plots, then a subject's sample grid and failing examples
SLICE = 760


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    from PIL import Image

    page = Path(argv[0])
    raw = ROOT / "docs" / ".report-screenshot-full.png"
    found = inspect_report(page, screenshot=raw, full_page=True)
    problems = []
    if found["console_errors"]:
        problems.append(f"console errors: {found['console_errors']}")
    if not all(i["ok"] for i in found["images"]):
        problems.append("an image did not decode")
    if found["scrollWidth"] > WIDTH:
        problems.append(f"page is {found['scrollWidth']} px wide")
    if problems:
        raw.unlink(missing_ok=True)
        print("; ".join(problems), file=sys.stderr)
        return 1
    img = Image.open(raw).convert("RGB")
    parts = [img.crop((0, 0, WIDTH, min(HEIGHT, img.height)))]
    if found.get("grid_top"):
        y = int(found["grid_top"]) - 90  # the "Sample grid" heading and its note sit above the table
        parts.append(img.crop((0, y, WIDTH, min(img.height, y + SLICE))))
    img = Image.new("RGB", (WIDTH, sum(p.height for p in parts) + 12 * (len(parts) - 1)), (200, 200, 200))
    y = 0
    for part in parts:
        img.paste(part, (0, y))
        y += part.height + 12
    img = img.resize((WIDTH * 3 // 4, img.height * 3 // 4), Image.LANCZOS)
    out = ROOT / "docs" / "report-screenshot.png"
    img.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    raw.unlink(missing_ok=True)
    print(f"{out} ({out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
