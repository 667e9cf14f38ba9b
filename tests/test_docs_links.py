"""README.md and docs/*.md hold together: every relative link and `#anchor` resolves, every
`evalkit ...` command shown in a bash block is accepted by evalkit's own argument parser, and
the README's test command is the one `.ci/run` runs."""

import re
import shlex
from pathlib import Path

import pytest

from evalkit.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _prose(path: Path) -> str:
    return FENCE.sub("", path.read_text())


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text.replace("`", ""))
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", _prose(path), re.M):
        slug = _slug(heading)
        k = seen.get(slug, 0)
        out.add(slug if k == 0 else f"{slug}-{k}")
        seen[slug] = k + 1
    return out


LINKS = [(p, target) for p in PAGES for target in re.findall(r"!?\[[^]]*\]\(([^)\s]+)\)", _prose(p))
         if not re.match(r"[a-z]+:", target)]


def test_the_pages_link_to_each_other():
    assert len(LINKS) >= 20
    readme = {t for p, t in LINKS if p.name == "README.md"}
    assert "docs/index.md" in readme
    index = _prose(ROOT / "docs" / "index.md")
    for page in PAGES[1:]:
        if page.name != "index.md":
            assert f"]({page.name})" in index, f"docs/index.md does not list {page.name}"


@pytest.mark.parametrize("page, target", LINKS, ids=[f"{p.name}->{t}" for p, t in LINKS])
def test_every_relative_link_resolves(page, target):
    file, _, anchor = target.partition("#")
    dest = (page.parent / file).resolve() if file else page
    assert dest.exists(), f"{page.name}: link to {target}: no such file"
    if anchor:
        assert dest.suffix == ".md", f"{page.name}: anchor into a non-Markdown file: {target}"
        assert anchor in anchors(dest), f"{page.name}: {target}: no heading with that anchor in {dest.name}"


def _commands(text: str) -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("evalkit "):
                    lines.append(part)
    return lines


COMMANDS = [(p.name, c) for p in PAGES for c in _commands(p.read_text())]


def test_the_docs_show_commands():
    assert {"run", "validate", "compare", "render"} <= {c.split()[1] for _, c in COMMANDS}


@pytest.mark.parametrize("where, command", COMMANDS, ids=[f"{w}-{i}" for i, (w, _) in enumerate(COMMANDS)])
def test_every_shown_evalkit_command_parses(where, command):
    argv = shlex.split(command, comments=True)
    build_parser().parse_args(argv[1:])  # an unknown verb or flag, or a missing argument: SystemExit


def test_the_readme_shows_the_audit_and_the_test_command_ci_runs():
    text = (ROOT / "README.md").read_text()
    first, tests = re.findall(r"```bash\n(.*?)```", text, re.S)[:2]
    assert first.strip().endswith("pip install -e . && evalkit run specs/fashion-zoo.yaml")
    assert (ROOT / "specs" / "fashion-zoo.yaml").is_file()
    command = tests.strip().split("&&")[-1].strip()
    assert command == "python -m pytest -q -p no:cacheprovider"
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(rf"^{re.escape(command)}$", ci, re.M), ".ci/run no longer runs the README's test command"
