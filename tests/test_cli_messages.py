"""What the terminal, report.md and the pytest plugin say agrees with the verdict.

A ``per_class`` verdict rests on one class: the line names it and prints that class's
interval, at the level Holm decided it at, never the pooled interval (which may
straddle the bound while one class fails). Each expectation is computed here from the
counts with scipy (Clopper-Pearson, Holm's step-down levels), not read from evalkit.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from scipy import stats

from evalkit.judge.verdicts import deciding_class, judge_rate
from evalkit.pytest_plugin import describe
from evalkit.records.reading import read_report
from tests.specs import OMIT, REQUIREMENT, spec_text

ROOT = Path(__file__).resolve().parent.parent

# class c makes the j-th image it is asked for bright (mean 1) when floor((j+1) p_c) > floor(j p_c):
# of n_c images, exactly floor(n_c p_c) are bright, a count this test computes by hand
RATES = {0: (1, 2), 1: (9, 10), 2: (9, 10), 3: (9, 10)}
GEN = f"""\
import torch

RATES = {RATES!r}


class Quota:
    image_shape = (1, 8, 8)
    num_classes = 4

    def __init__(self):
        self.seen = {{c: 0 for c in RATES}}

    def sample(self, n, *, labels, generator):
        x = torch.zeros(n, 1, 8, 8)
        for i, c in enumerate(labels.tolist()):
            num, den = RATES[c]
            j = self.seen[c]
            if (j + 1) * num // den > j * num // den:
                x[i] = 1.0
            self.seen[c] = j + 1
        return x
"""

SPEC = spec_text(name="per-class-messages", reference=OMIT, subjects=[{"model": "quotagen:Quota"}],
                 sampling={"n": 400, "batch_size": 400, "labels": "uniform"},
                 requirements=[{"name": "bright per class", "where": "mean > 0.5", "at_least": 0.8, "per_class": True}],
                 report={"formats": ["json", "markdown"]})


def _cp(k, n, confidence):
    """One-sided Clopper-Pearson (lower, upper) at ``confidence``, from the beta quantiles."""
    lower = 0.0 if k == 0 else stats.beta.ppf(1 - confidence, k, n - k + 1)
    upper = 1.0 if k == n else stats.beta.ppf(confidence, k + 1, n - k)
    return float(lower), float(upper)


def _cli(args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests" / "plugins"), str(cwd)]))
    return subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_per_class_fail_names_the_class_and_its_interval_everywhere(tmp_path):
    (tmp_path / "quotagen.py").write_text(GEN)
    (tmp_path / "s.yaml").write_text(SPEC)
    res = _cli(["run", "s.yaml", "--out", "out", "--device", "cpu"], tmp_path)
    assert res.returncode == 1, res.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    r = report["subjects"][0]["requirements"][0]
    sizes = {c["label"]: c["n"] for c in r["per_class"]}
    assert sum(sizes.values()) == 400
    bright = {c: sizes[c] * num // den for c, (num, den) in RATES.items()}  # by hand, from the quota rule
    assert {c["label"]: c["passed"] for c in r["per_class"]} == bright
    k, n = sum(bright.values()), 400
    pooled = _cp(k, n, 0.95)
    assert pooled[0] < 0.8 <= pooled[1], "the test's premise: the pooled interval straddles the bound"
    # Holm in the fail direction: the class with the smallest p-value is tested first, at alpha / m
    fail_p = {c: stats.binom.cdf(bright[c], sizes[c], 0.8) for c in bright}
    worst = min(fail_p, key=fail_p.get)
    assert worst == 0
    level = 1 - 0.05 / 4
    lo, hi = _cp(bright[0], sizes[0], level)
    assert hi < 0.8
    line = next(x for x in res.stdout.splitlines() if "bright per class" in x)
    assert line.split()[0] == "FAIL"
    assert f"class 0: {bright[0]}/{sizes[0]}=" in line
    assert f"[{lo:.4g}, {hi:.4g}] @{level:.3g}" in line
    assert f"[{pooled[0]:.4g}, {pooled[1]:.4g}]" not in line  # the pooled interval decides nothing here
    md = (tmp_path / "out" / "report.md").read_text()
    grid = next(x for x in md.splitlines() if x.startswith("| bright per class |"))
    assert f"**FAIL** {bright[0] / sizes[0]:.4g} (class 0)" in grid
    row = next(x for x in md.splitlines() if x.startswith("| bright per class | **FAIL** |"))
    assert f"class 0: {bright[0]}/{sizes[0]}" in row and f"[{lo:.4g}, {hi:.4g}]" in row and f"| {level:.4g} |" in row
    assert "decided by class 0" in row
    message = describe(read_report(tmp_path / "out").subjects[0].requirements[0])
    assert message.startswith(f"FAIL: decided by class 0: value {bright[0]}/{sizes[0]}")
    assert f"interval [{lo:.4g}, {hi:.4g}] at confidence {level:.4g}" in message


def test_per_class_pass_rests_on_the_weakest_class_at_its_holm_level():
    # class 0 is overwhelming; class 1 passes only at Holm's last step (alpha), not at Bonferroni's alpha / 2
    counts = {0: (200, 200), 1: (87, 100)}
    p1 = stats.binom.sf(87 - 1, 100, 0.8)
    assert 0.025 < p1 <= 0.05, "the test's premise: Holm passes class 1, Bonferroni would not"
    r = judge_rate("r", 287, 300, 0.8, 0.95, per_class=counts)
    assert r.verdict == "PASS"
    c = deciding_class(r)
    lo, hi = _cp(87, 100, 0.95)  # the weakest class is tested last, at alpha itself
    assert (c.label, c.passed, c.n) == (1, 87, 100)
    assert abs(c.lower - lo) < 1e-12 and abs(c.upper - hi) < 1e-12 and c.confidence == 0.95
    assert c.lower >= 0.8  # the interval shown agrees with PASS
    bonferroni_low = _cp(87, 100, 0.975)[0]
    assert bonferroni_low < 0.8  # the Bonferroni row would have straddled


def test_per_class_inconclusive_names_the_undecided_class():
    counts = {0: (100, 100), 1: (40, 50), 2: (100, 100)}
    r = judge_rate("r", 240, 250, 0.8, 0.95, per_class=counts)
    assert r.verdict == "INCONCLUSIVE"
    c = deciding_class(r)
    lo, hi = _cp(40, 50, 1 - 0.05 / 3)
    assert c.label == 1 and abs(c.lower - lo) < 1e-12 and abs(c.upper - hi) < 1e-12
    assert c.lower < 0.8 <= c.upper


SMALL = spec_text(name="small", reference=OMIT, subjects=[{"model": "usergen:Blobs"}],
                  sampling={"n": 20, "batch_size": 20}, requirements=[dict(REQUIREMENT, at_least=0.5)],
                  report={"formats": ["json"]})

# stderr replaced by a probe that notes, at the first line written, whether torch is loaded yet
PROBE = """\
import json, sys

class Probe:
    def __init__(self, inner):
        self.inner, self.first = inner, None

    def write(self, text):
        if self.first is None and text.strip():
            self.first = {"text": text, "torch": "torch" in sys.modules}
        return self.inner.write(text)

    def __getattr__(self, name):
        return getattr(self.inner, name)

sys.stderr = Probe(sys.stderr)
from evalkit.cli import main
code = main(sys.argv[1:])
json.dump({"first": sys.stderr.first, "torch_at_end": "torch" in sys.modules}, open("probe.json", "w"))
sys.exit(code)
"""


def _env(cwd):
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests" / "plugins"), str(cwd)]))


def test_first_progress_line_is_out_before_torch_is_imported(tmp_path):
    (tmp_path / "s.yaml").write_text(SMALL)
    (tmp_path / "probe.py").write_text(PROBE)
    res = subprocess.run([sys.executable, "probe.py", "run", "s.yaml", "--out", "out"], cwd=tmp_path, env=_env(tmp_path),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert probe["first"]["text"].startswith("evalkit: run s.yaml: starting")
    assert probe["first"]["torch"] is False
    assert probe["torch_at_end"] is True  # the run did load torch: the line came before it


def test_device_auto_says_what_it_chose_and_why(tmp_path):
    import torch

    (tmp_path / "s.yaml").write_text(SMALL)
    res = _cli(["run", "s.yaml", "--out", "out"], tmp_path)
    assert res.returncode == 0, res.stderr
    lines = [x for x in res.stderr.splitlines() if x.startswith("evalkit: device:")]
    if torch.cuda.is_available():
        expected = f"evalkit: device: cuda (auto: {torch.cuda.get_device_name(0)}, CUDA device 0 of "
    elif torch.version.cuda is None:
        expected = f"evalkit: device: cpu (auto: no CUDA device; this torch ({torch.__version__}) is built without CUDA)"
    else:
        expected = "evalkit: device: cpu (auto: no CUDA device visible"
    assert len(lines) == 1 and lines[0].startswith(expected), res.stderr
    # a device the user named needs no explanation; --quiet prints no such line (report.json has it)
    named = _cli(["run", "s.yaml", "--out", "out2", "--device", "cpu"], tmp_path)
    quiet = _cli(["run", "s.yaml", "--out", "out3", "--quiet"], tmp_path)
    assert "device:" not in named.stderr and "device:" not in quiet.stderr
    assert json.loads((tmp_path / "out3" / "report.json").read_text())["environment"]["device"] == lines[0].split()[2]


def test_verbose_before_or_after_the_verb(tmp_path):
    (tmp_path / "s.yaml").write_text(SMALL)
    for i, args in enumerate((["-v", "run", "s.yaml"], ["run", "s.yaml", "-v"], ["run", "-v", "s.yaml"])):
        res = _cli(args + ["--out", f"out{i}", "--quiet"], tmp_path)
        assert res.returncode == 0, (args, res.stderr)
        assert f"evalkit: INFO: report written to out{i}" in res.stderr, (args, res.stderr)
    quiet = _cli(["run", "s.yaml", "--out", "outq", "--quiet"], tmp_path)
    assert "INFO" not in quiet.stderr
