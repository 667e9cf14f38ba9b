"""The spec language tested as a whole: drawn valid specs run end to end.

Specs are drawn by ``tests/spec/strategies.py`` from the registries' declarations
(every subject kind, requirement kind and argument, per_class, sequential, the
labels modes, per-requirement confidence, features, classifiers, report formats,
``--baseline``). Each runs twice in-process through ``evalkit.run`` at two drawn
batch sizes, and must:

* pass validation (``make_plan``);
* end with exit 0 or 1, every subject ``ok``;
* write every asked format, each valid for its reader: strict JSON (NaN and
  Infinity refused), JUnit XML parsed, HTML opened once in Chromium without a page
  or console error;
* give the same report at both batch sizes (minus timings and paths), since the
  samples are a function of (seed, index) and the verdicts of the samples
  (sequential runs look after every batch, so their N may differ: only their
  exit code, verdict words per requirement that both decided, and outputs are held);
* with ``baseline``, the second run is compared with the first run's report.json.

Budget (CI, ``.ci/run``): 25 examples at a fixed seed, ``deadline=None``, about 2
minutes on 2 idle cores. ``benchmarks/spec_language.py`` runs a longer profile.
The shrunk failures found so far are pinned as ``@example``s and plain tests below.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.spec.strategies import Drawn, valid_specs, write_assets

EXAMPLES = int(os.environ.get("EVALKIT_SPEC_EXAMPLES", "25"))
SEED = int(os.environ.get("EVALKIT_SPEC_SEED", "20261207"))  # the longer profile draws other seeds
# keys of report.json that hold timings, paths or the spec text itself (which differs in batch_size)
VOLATILE = {"started", "finished", "spec", "spec_sha256", "spec_path", "environment", "seconds", "samples_per_second",
            "written_to", "outputs", "baseline", "baseline_source", "baseline_pairs", "baseline_not_compared", "baseline_correction",
            "regressions", "differences", "regressed"}


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return write_assets(tmp_path_factory.mktemp("spec-language-assets"))


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the whole module: each drawn HTML report opens in a fresh page."""
    from playwright.sync_api import sync_playwright

    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


# ---------------------------------------------------------------- readers


def _refuse_constant(name: str):
    raise ValueError(f"report.json holds {name}, which strict JSON has no word for")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)


def check_junit(path: Path, report: dict) -> None:
    root = ET.parse(path).getroot()
    assert root.tag in ("testsuites", "testsuite"), root.tag
    cases = root.iter("testcase")
    assert sum(1 for _ in cases) >= len(report["subjects"]), "fewer JUnit test cases than subjects"


def check_html(path: Path, browser) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(path.resolve().as_uri(), wait_until="load")
        assert page.title(), "report.html has no title"
    finally:
        page.close()
    assert not errors, errors


def check_outputs(out: Path, formats: list[str], browser) -> dict:
    report = read_json(out / "report.json")  # always written
    if "markdown" in formats:
        assert (out / "report.md").read_text(encoding="utf-8").strip()
    if "junit" in formats:
        check_junit(out / "junit.xml", report)
    if "html" in formats:
        check_html(out / "report.html", browser)
    return report


def normalized(value):
    """The report minus timings, paths and baseline fields (what two batch sizes may change)."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def first_difference(a, b, path: str = "report") -> str | None:
    """Where two normalized reports differ: exact for everything but floats, which may differ in the last bits.

    Floats are held to 1e-6 relative: a measurement reduced over a batch of another size
    can differ in its last bits (found: ``contrast``, 1e-16 apart at batch sizes 1 and 4; a
    float32 classifier's ``asked_prob``, 1.4e-8 relative apart at batch sizes 1 and 2, since
    float32 kernels sum in another order for another batch shape; a classifier's ``margin``, a
    difference of two such probabilities, 1.1e-7 apart), so floats also pass within 1e-6 absolute; a count, verdict, index or
    class may not differ at all.
    """
    if isinstance(a, float) and isinstance(b, float):
        return None if math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6) or (a != a and b != b) else f"{path}: {a!r} != {b!r}"
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        keys = sorted(set(a) | set(b))
        return next((d for k in keys if (d := first_difference(a.get(k), b.get(k), f"{path}.{k}"))), None)
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{path}[{i}]"))), None)
    return None if a == b else f"{path}: {a!r} != {b!r}"


def verdicts(report: dict) -> dict:
    return {(s["name"], r["name"]): r["verdict"] for s in report["subjects"] for r in s["requirements"]}


# ---------------------------------------------------------------- one drawn spec, end to end


def write_drawn(drawn: Drawn, folder: Path, batch_size: int) -> Path:
    import yaml

    spec = json.loads(json.dumps(drawn.spec))
    spec["sampling"]["batch_size"] = batch_size
    path = folder / f"spec-b{batch_size}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_once(path: Path, out: Path, baseline: Path | None, browser, formats: list[str]) -> dict:
    import evalkit

    result = evalkit.run(path, out=out, device="cpu", baseline=baseline, progress=False)
    report = check_outputs(out, formats, browser)
    assert result.exit_code in (0, 1), f"exit {result.exit_code}: {_broken(report)}"
    assert report["exit_code"] == result.exit_code
    broken = _broken(report)
    assert not broken, broken
    return report


def _broken(report: dict) -> list:
    return [(s["name"], s["status"], s["error"]) for s in report["subjects"] if s["status"] != "ok"]


def check_drawn(drawn: Drawn, root: Path, browser) -> None:
    """One drawn spec end to end; with $EVALKIT_SPEC_LOG set, its seconds and outline are appended there
    (what ``benchmarks/spec_language.py`` tabulates)."""
    started = time.perf_counter()
    try:
        _check_drawn(drawn, root, browser)
    finally:
        if log := os.environ.get("EVALKIT_SPEC_LOG"):
            with open(log, "a") as fh:
                fh.write(json.dumps({"seconds": round(time.perf_counter() - started, 2), "outline": drawn.outline()}) + "\n")


def _check_drawn(drawn: Drawn, root: Path, browser) -> None:
    from evalkit.plan import make_plan
    from evalkit.spec.load import load_spec

    folder = root / f"ex-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    b1, b2 = drawn.batch_sizes
    first, second = write_drawn(drawn, folder, b1), write_drawn(drawn, folder, b2)
    make_plan(load_spec(first))  # validation: a SpecError here is a valid spec refused
    formats = drawn.spec["report"]["formats"]
    a = run_once(first, folder / "a", None, browser, formats)
    b = run_once(second, folder / "b", (folder / "a" / "report.json") if drawn.baseline else None, browser, formats)
    if drawn.spec["sampling"].get("sequential"):
        return  # the looks follow the batches (README: a look after every batch): n and verdicts may differ
    diff = first_difference(normalized(a), normalized(b))
    assert diff is None, f"the report differs between batch sizes {b1} and {b2}: {diff}"
    if drawn.baseline:  # the same samples: nothing can have regressed
        assert b["exit_code"] == a["exit_code"], (a["exit_code"], b["exit_code"])


# ---------------------------------------------------------------- the property


@settings(max_examples=EXAMPLES, deadline=None, derandomize=False, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@seed(SEED)
@given(data=st.data())
def test_every_drawn_valid_spec_runs(assets, browser, data):
    drawn = data.draw(valid_specs(assets), label="spec")
    check_drawn(drawn, assets.root, browser)


# ---------------------------------------------------------------- shrunk failures, pinned

KID_ONE_SUBSET = """\
version: 1
name: kid-one-subset
features: pixels
classifier: null
reference: {path: REF}
subjects:
  - {model: spec_language_models:RGBSquares}
sampling: {n: 20, batch_size: 10, seed: 0}
requirements:
  - {metric: kid, args: {subsets: 1}, at_most: 0.5}
"""


def test_kid_with_one_subset_is_refused_at_validate_or_runs(assets, tmp_path):
    """Found by the drawn specs: kid declares subsets >= 1, but its interval needs >= 2 and
    every subject broke at run time (exit 3) after validate passed. Either the declaration
    and validate refuse it (exit 2, SpecError) or the run judges it: never a broken subject."""
    import evalkit
    from evalkit import SpecError
    from evalkit.plan import make_plan
    from evalkit.spec.load import load_spec

    path = tmp_path / "s.yaml"
    path.write_text(KID_ONE_SUBSET.replace("REF", str(assets.rgb_ref_npz)))
    try:
        make_plan(load_spec(path))
    except SpecError:
        return  # refused before anything runs: what a declared bound promises
    report = evalkit.run(path, out=tmp_path / "out", device="cpu")
    assert report.exit_code in (0, 1), _broken(read_json(tmp_path / "out" / "report.json"))


def test_coverage_interval_does_not_move_with_the_batch_size(assets, tmp_path):
    """Found by the drawn specs: a PNG-folder subject's coverage(k=5) jackknife sd was 0.1002 at
    batch size 13 and 0.0957 at 6 (the classifier's features 3e-6 apart moved a sample across a
    ball's edge). Networks now see fixed-size calls (observe/features.in_fixed_rows): identical."""
    import evalkit

    reports = []
    for b in (13, 6):
        path = tmp_path / f"s{b}.yaml"
        path.write_text(
            "version: 1\nname: cov\nfeatures: fashion-classifier\nclassifier: null\n"
            f"reference: {{path: {assets.grey_npz}}}\n"
            f"subjects:\n  - {{path: {assets.grey_folder}, name: s1}}\n"
            f"sampling: {{seed: 80, n: 22, block_size: 2, batch_size: {b}}}\n"
            "requirements:\n  - {name: r2, metric: coverage, args: {k: 5}, at_least: 0.6}\n")
        assert evalkit.run(path, out=tmp_path / f"o{b}", device="cpu", progress=False).exit_code in (0, 1)
        reports.append(read_json(tmp_path / f"o{b}" / "report.json")["subjects"][0]["metrics"][0])
    assert reports[0]["lower"] == reports[1]["lower"] and reports[0]["extra"] == reports[1]["extra"], reports


def test_class_tv_with_too_few_resamples_is_refused_at_validate(tmp_path):
    """Found by the drawn specs: class_tv with bootstrap: 2 at confidence 0.95 validated, then every
    subject broke at run time. The bound needs B (1 - c) >= 1: validate refuses it, on its line."""
    from tests.spec.test_validate_before_run import _cli

    path = tmp_path / "s.yaml"
    path.write_text("version: 1\nname: tv\nsubjects:\n  - {model: dataset}\nsampling: {n: 20}\n"
                    "requirements:\n  - {name: r0, metric: class_tv, args: {bootstrap: 2}, at_most: 0.5}\n")
    code, text = _cli("validate", str(path))
    assert code == 2, text
    assert "s.yaml:7:" in text and "needs at least 20 bootstrap resamples" in text and "bootstrap=2" in text, text
    path.write_text(path.read_text().replace("bootstrap: 2}", "bootstrap: 20}"))
    assert _cli("validate", str(path))[0] == 0
