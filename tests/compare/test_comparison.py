"""evalkit compare: real runs, real report folders and sample stores; values checked by hand.

A Fashion-MNIST replay against the same replay with uniform noise of amplitude 0.5
(tests/plugins/usergen.py): the noise lifts most background pixels above the ink
threshold, so "light ink" fails for nearly every noisy sample; both draw the same
base images from the same seeds, so the rate test is paired.
"""

import json

import numpy as np
import pytest
from scipy import stats

from evalkit.cli import main
from evalkit.compare.ranking import rank
from evalkit.records.comparison import Row
from evalkit.records.samples import read_samples

from .cli import cli


NOISY = "noisy<script>alert(1)</script>"

SPEC = """\
version: 1
name: cmp
reference: {{dataset: fashion-mnist, split: test, range: [{ref}]}}
features: pixels
classifier: null
subjects:
{subjects}
sampling: {{n: 200, batch_size: 100, seed: {seed}}}
requirements:
  - {{name: in range, check: in_range, at_least: 0.9}}
  - {{name: light ink, where: "ink < 0.6", at_least: 0.5}}
  - {{metric: fid, at_most: 1000000}}
report: {{formats: [json]}}
"""
CLEAN = "  - {model: usergen:noisy_replay, name: clean, params: {noise: 0.0}}"
DIRTY = f"  - {{model: usergen:noisy_replay, name: '{NOISY}', params: {{noise: 0.5}}}}"


def make_report(root, folder, *, seed=3, subjects=(CLEAN,), ref="0, 400"):
    spec = root / f"{folder}.yaml"
    spec.write_text(SPEC.format(subjects="\n".join(subjects), seed=seed, ref=ref))
    out = root / folder
    code = main(["run", str(spec), "--out", str(out), "--quiet"])
    assert code in (0, 1)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    # the tests' feature cache and its HMAC key (tests/conftest.py sets both for each test; a module
    # fixture runs before that), so compare finds and verifies the reference features the runs cached
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.setenv("EVALKIT_CACHE_KEY", str(tmp_path_factory.getbasetemp() / "cache-key" / "cache.key"))
        return _make_runs(root)


def _make_runs(root):
    return {
        "both": make_report(root, "both", subjects=(CLEAN, DIRTY)),
        "seed3": make_report(root, "seed3", seed=3),
        "seed4": make_report(root, "seed4", seed=4),
        "otherref": make_report(root, "otherref", ref="400, 800"),
    }


def test_real_difference_is_paired_worse_ranked_and_fails_the_worse_one(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    code, stdout, err = cli(["compare", str(runs["both"]), "--subjects", "clean", NOISY, "--out", str(out),
                             "--fail-if-worse", NOISY], capsys)
    assert code == 1 and f"{NOISY} is significantly worse on: fid, light ink" in err
    data = json.loads((out / "comparison.json").read_text())
    rows = {r["name"]: r for r in data["rows"]}
    ink = rows["light ink"]
    assert ink["a"] == "clean" and ink["b"] == NOISY and ink["paired"] and "McNemar" in ink["method"]
    assert ink["verdict"] == "worse"
    # by hand, from the sample store: the discordant pairs and the exact one-sided binomial test
    a = read_samples(runs["both"], "clean").passed("light ink").numpy()
    b = read_samples(runs["both"], NOISY).passed("light ink").numpy()
    lost, gained = int((a & ~b).sum()), int((~a & b).sum())
    assert lost > 150 and ink["value_a"] == pytest.approx(a.mean()) and ink["value_b"] == pytest.approx(b.mean())
    raw = stats.binomtest(lost, lost + gained, 0.5, alternative="greater").pvalue
    m = 2 * len(data["rows"])  # Holm over both directions of every row
    assert raw <= ink["p_value"] <= min(1.0, m * raw) + 1e-300
    assert ink["low"] <= ink["difference"] <= ink["high"] < 0
    # every sample is in range on both sides: no discordant pair, no difference
    assert rows["in range"]["verdict"] == "no significant difference" and rows["in range"]["difference"] == 0
    assert rows["fid"]["verdict"] == "worse" and not rows["fid"]["higher_is_better"]
    # FID of the same samples: paired delta method over the stored features, against the cached reference
    assert rows["fid"]["paired"] and "paired delta method" in rows["fid"]["method"]
    _check_paired_fid(runs["both"], rows["fid"], data["confidence"])
    assert data["ranking"] == ["clean", NOISY]
    assert "Holm" in data["correction"] and data["comparable"]
    # the other subject does not fail
    code, _, _ = cli(["compare", str(runs["both"] / "report.json"), "--out", str(tmp_path / "c2"),
                      "--fail-if-worse", "clean"], capsys)
    assert code == 0
    # renderings: the verdict in Markdown, names escaped in HTML
    md = (out / "comparison.md").read_text()
    assert "| light ink | clean |" in md and "**worse**" in md
    page = (out / "comparison.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "ranking: clean > " in stdout


def _check_paired_fid(report_dir, fid, confidence):
    """The FID row: the reports' two values, an interval symmetric about their difference, and a
    Holm p-value between the raw one-sided normal p of that spread and m times it."""
    report = json.loads((report_dir / "report.json").read_text())
    values = {s["name"]: next(m["value"] for m in s["metrics"] if m["name"] == "fid") for s in report["subjects"]}
    assert fid["value_a"] == pytest.approx(values["clean"]) and fid["value_b"] == pytest.approx(values[NOISY])
    se = (fid["high"] - fid["difference"]) / stats.norm.ppf(confidence)
    assert se > 0 and fid["difference"] - fid["low"] == pytest.approx(fid["high"] - fid["difference"])
    raw = stats.norm.sf(fid["difference"] / se)
    assert raw <= fid["p_value"] <= 6 * raw + 1e-300


def test_comparison_page_in_a_real_browser(runs, tmp_path, capsys):
    """comparison.html with a hostile subject name: no console error or dialog, no script, and
    it fits a 1280-px window (numbers do not wrap, long names do)."""
    from ..report.browser import WIDTH, chromium_path

    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    if chromium_path() is None:
        pytest.skip("no Chromium on this machine (install Debian's `chromium`; CI does)")
    from ..report.browser import inspect_report

    cli(["compare", str(runs["both"]), str(runs["seed3"]), "--out", str(tmp_path / "c")], capsys)
    found = inspect_report(tmp_path / "c" / "comparison.html", screenshot=tmp_path / "comparison.png")
    assert found["console_errors"] == [] and found["dialogs"] == [] and found["scripts"] == 0
    assert found["scrollWidth"] <= WIDTH and found["network"] == []


def test_paired_fid_needs_no_reference_features_in_the_cache(runs, tmp_path, capsys, monkeypatch):
    """A user whose cache key differs (or whose cache was removed) still gets FID paired: the
    runs stored each sample's influence (tests/compare/test_paired_stored.py: the fallback of
    stores written before them)."""
    args = ["compare", str(runs["both"])]
    monkeypatch.setenv("EVALKIT_CACHE_KEY", str(tmp_path / "other-key" / "cache.key"))
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "empty-cache"))
    code, stdout, _ = cli(args + ["--out", str(tmp_path / "k")], capsys)
    data = json.loads((tmp_path / "k" / "comparison.json").read_text())
    fid = next(r for r in data["rows"] if r["name"] == "fid")
    assert fid["paired"] and "paired delta method" in fid["method"] and "stored at run time" in fid["note"]
    assert not any("tested unpaired" in n for n in data["notes"])
    _check_paired_fid(runs["both"], fid, data["confidence"])


def test_paired_bootstrap_on_request(runs, tmp_path, capsys):
    code, _, err = cli(["compare", str(runs["both"]), "--bootstrap", "5", "--out", str(tmp_path / "b")], capsys)
    fid = next(r for r in json.loads((tmp_path / "b" / "comparison.json").read_text())["rows"] if r["name"] == "fid")
    assert fid["paired"] and "paired bootstrap (5 replicates)" in fid["method"] and fid["verdict"] == "worse"
    assert "paired bootstrap of fid" in err and "5/5 replicates" in err  # progress: it can take minutes
    code, _, err = cli(["compare", str(runs["both"]), "--bootstrap", "1", "--out", str(tmp_path / "one")], capsys)
    assert code == 2 and "--bootstrap must be 0" in err and not (tmp_path / "one").exists()


def test_same_model_two_seeds_shows_no_difference(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    code, stdout, err = cli(["compare", str(runs["seed3"]), str(runs["seed4"]), "--out", str(out),
                             "--fail-if-worse", "seed4/clean"], capsys)
    assert code == 0, err
    data = json.loads((out / "comparison.json").read_text())
    assert [c["label"] for c in data["contenders"]] == ["seed3/clean", "seed4/clean"]
    assert {r["verdict"] for r in data["rows"]} == {"no significant difference"}
    assert len(data["rows"]) == 3
    rate = next(r for r in data["rows"] if r["name"] == "light ink")
    assert not rate["paired"] and rate["note"] == "unpaired: sampling.seed differs (3 and 4)"
    assert "Fisher" in rate["method"]
    assert data["ranking"] is None and "no significant difference" in data["ranking_note"]
    assert "no ranking" in stdout


def test_different_reference_is_refused_unless_forced(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    code, _, err = cli(["compare", str(runs["seed3"]), str(runs["otherref"]), "--out", str(out)], capsys)
    assert code == 2 and "different reference images" in err and "--force" in err
    assert not out.exists()
    code, stdout, err = cli(["compare", str(runs["seed3"]), str(runs["otherref"]), "--out", str(out), "--force"], capsys)
    assert code == 0
    data = json.loads((out / "comparison.json").read_text())
    assert data["comparable"] is False and data["ranking"] is None
    assert "NOT COMPARABLE" in (out / "comparison.md").read_text() and "NOT COMPARABLE" in stdout
    assert "NOT COMPARABLE" in (out / "comparison.html").read_text()
    # the same samples, but FID against two references: never paired on one side's reference
    fid = next(r for r in data["rows"] if r["name"] == "fid")
    assert not fid["paired"] and "different reference features" in fid["note"]


def test_bad_inputs_are_clear_errors(runs, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    text = (runs["seed3"] / "report.json").read_text()
    (bad / "report.json").write_text(text[: len(text) // 2])
    out = tmp_path / "never"
    code, _, err = cli(["compare", str(runs["seed3"]), str(bad), "--out", str(out)], capsys)
    assert code == 2 and str(bad / "report.json") in err
    code, _, err = cli(["compare", str(runs["seed3"]), "--out", str(out)], capsys)
    assert code == 2 and "at least two subjects" in err
    code, _, err = cli(["compare", str(runs["both"]), "--subjects", "clena", "noisy", "--out", str(out)], capsys)
    assert code == 2 and "did you mean 'clean'?" in err
    code, _, err = cli(["compare", str(runs["both"]), "--out", str(out), "--fail-if-worse", "nobody"], capsys)
    assert code == 2 and "is not a compared subject" in err
    assert not out.exists()


def _row(a, b, verdict):
    return Row(name="x", kind="rate", a=a, b=b, value_a=0.5, value_b=0.5, verdict=verdict)


def test_ranking_only_from_significant_differences():
    assert rank(["p", "q"], [_row("p", "q", "worse")]) == (["p", "q"], rank(["p", "q"], [_row("p", "q", "worse")])[1])
    assert rank(["p", "q"], [_row("p", "q", "better")])[0] == ["q", "p"]
    none, note = rank(["p", "q"], [_row("p", "q", "no significant difference")])
    assert none is None and "p and q: no significant difference" in note
    mixed, note = rank(["p", "q"], [_row("p", "q", "better"), _row("p", "q", "worse")])
    assert mixed is None and "mixed" in note
    three = [_row("p", "q", "worse"), _row("p", "r", "worse"), _row("q", "r", "worse")]
    assert rank(["p", "q", "r"], three)[0] == ["p", "q", "r"]
    cycle = [_row("p", "q", "worse"), _row("q", "r", "worse"), _row("p", "r", "better")]
    assert rank(["p", "q", "r"], cycle)[0] is None


def test_table_family_error_and_false_rankings_under_the_null():
    """Simulation: two subjects with the same true rates, four paired rate rows per table.

    Holm over both directions of every row must keep P(any false better/worse) <= 0.05;
    a printed ranking needs a false verdict, so it is at most as frequent. 1000 tables:
    the standard error is about 0.007, so a 2x overclaim (0.10) cannot pass 0.075.
    """
    from evalkit.judge.compare import compare_rates, holm

    rng = np.random.default_rng(20261125)
    reps, n, rates = 1000, 150, (0.5, 0.8, 0.9, 0.97)
    any_false = ranked = 0
    for _ in range(reps):
        diffs = []
        for p in rates:
            shared = rng.random(n)  # correlated outcomes: the same sample scored twice, with noise
            oa = (shared + 0.1 * rng.random(n)) < p + 0.05
            ob = (shared + 0.1 * rng.random(n)) < p + 0.05
            diffs.append(compare_rates(0, 0, 0, 0, confidence=0.95, paired_outcomes=(oa, ob)))
        table = holm(diffs, 0.95, sides="both")
        rows = [_row("a", "b", d.verdict) for d in table]
        any_false += any(d.verdict != "no significant difference" for d in table)
        ranked += rank(["a", "b"], rows)[0] is not None
    assert any_false / reps <= 0.075
    assert ranked <= any_false


def _numpy_fid(real, fake):
    from scipy import linalg

    m1, m2 = real.mean(0), fake.mean(0)
    c1, c2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = linalg.sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(root))


def test_bootstrap_pairs_resample_both_sets_on_the_same_rows():
    import torch

    from evalkit.metrics.functional import FrechetReference
    from evalkit.compare.paired import bootstrap_pairs

    g = torch.Generator().manual_seed(1)
    real, fa = torch.randn(400, 6, generator=g, dtype=torch.float64), torch.randn(150, 6, generator=g, dtype=torch.float64)
    fb = fa + 0.3
    ra, rb = bootstrap_pairs(FrechetReference.of(real).fid, fa, fb, 2, seed=7)
    gen = torch.Generator().manual_seed(7)
    for j in range(2):  # the rows drawn, copied out: FID of the copies by NumPy/SciPy
        idx = torch.randint(0, 150, (150,), generator=gen).numpy()
        assert ra[j] == pytest.approx(_numpy_fid(real.numpy(), fa.numpy()[idx]), rel=1e-8)
        assert rb[j] == pytest.approx(_numpy_fid(real.numpy(), fb.numpy()[idx]), rel=1e-8)


def _paired_null_trials(trials, seed, n=200, shift=0.0):
    """Two generators sharing latents (A = z + e1, B = z + e2 + shift): per trial the two FIDs by
    NumPy/SciPy and the engine's paired delta-method test."""
    import torch

    from evalkit.judge.compare import compare_metrics
    from evalkit.metrics.functional import FrechetReference

    g = torch.Generator().manual_seed(seed)
    # the reference differs from both (FID about 1.5): at FID near 0 the first-order term
    # vanishes and the delta method is conservative (measured 0.76 of the true spread)
    real = torch.randn(2000, 4, generator=g, dtype=torch.float64) * 1.5 + 0.5
    ref = FrechetReference.of(real)
    out = []
    for _ in range(trials):
        z = torch.randn(n, 4, generator=g, dtype=torch.float64)
        fa = z + 0.6 * torch.randn(n, 4, generator=g, dtype=torch.float64)
        fb = z + 0.6 * torch.randn(n, 4, generator=g, dtype=torch.float64) + shift
        (va, ia), (vb, ib) = ref.fid_influence(fa), ref.fid_influence(fb)
        d = compare_metrics(va, va, va, vb, vb, vb, confidence=0.95, higher_is_better=False,
                            paired_influence=(ia.numpy(), ib.numpy()))
        spreads = (float(ia.std()) / np.sqrt(n), float(ib.std()) / np.sqrt(n))
        out.append((_numpy_fid(real.numpy(), fa.numpy()), _numpy_fid(real.numpy(), fb.numpy()), d, spreads))
    return out


def test_paired_delta_fid_spread_matches_monte_carlo_and_holds_its_level():
    """Simulation: two generators of one distribution sharing latents (A = z + e1, B = z + e2).

    The delta-method standard error of FID_B - FID_A must match the spread of that
    difference over 400 independent draws (NumPy/SciPy FIDs): their sd is known to about
    4%, so 0.85..1.15 fails an error of a sixth either way. The paired test (both
    directions) must say better or worse at most 5% of the time: 400 trials give a
    standard error of about 0.011, so a 2x overclaim (0.10) cannot pass 0.08.
    """
    trials = _paired_null_trials(400, 20261126)
    va, vb, d0, _ = trials[0]
    assert d0.a == pytest.approx(va, rel=1e-9) and d0.b == pytest.approx(vb, rel=1e-9)
    diffs = np.array([b - a for a, b, _, _ in trials])
    se = np.array([(d.high - d.diff) / stats.norm.ppf(0.95) for _, _, d, _ in trials])
    assert 0.85 <= diffs.std(ddof=1) / np.sqrt((se**2).mean()) <= 1.15
    false = sum(d.verdict != "no significant difference" for _, _, d, _ in trials)
    assert false / len(trials) <= 0.08


def test_paired_delta_vendi_spread_matches_monte_carlo():
    """Vendi of two generators sharing latents: the paired delta-method standard error of
    Vendi_B - Vendi_A (what compare feeds the engine) against the spread of that difference
    over 300 draws, each Vendi recomputed by NumPy from the cosine kernel's eigenvalues.
    The sd is known to about 4%, so 0.85..1.15 fails an error of a sixth either way."""
    import torch

    from evalkit.metrics import functional as Fn

    def numpy_vendi(x):
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        lam = np.clip(np.linalg.eigvalsh(u @ u.T / len(u)), 0, None)
        lam = lam[lam > 1e-15] / lam.sum()
        return float(np.exp(-(lam * np.log(lam)).sum()))

    g = torch.Generator().manual_seed(5)
    diffs, ses = [], []
    for _ in range(300):
        z = torch.randn(200, 6, generator=g, dtype=torch.float64) + 1.0
        fa = z + 0.6 * torch.randn(200, 6, generator=g, dtype=torch.float64)
        fb = z + 0.6 * torch.randn(200, 6, generator=g, dtype=torch.float64)
        (va, ia), (_, ib) = Fn.vendi_influence(fa), Fn.vendi_influence(fb)
        assert va == pytest.approx(numpy_vendi(fa.numpy()), rel=1e-9)
        diffs.append(numpy_vendi(fb.numpy()) - numpy_vendi(fa.numpy()))
        ses.append(float((ib - ia).std()) / np.sqrt(200))
    assert 0.85 <= np.std(diffs, ddof=1) / np.sqrt(np.mean(np.square(ses))) <= 1.15


def test_paired_delta_fid_sees_a_shift_the_unpaired_test_misses():
    """Power: B shifted by -0.07 per coordinate (away from the reference), 100 trials. Pairing removes the shared latents'
    variance, so the paired test says "worse" far more often than the unpaired test on the
    same two values with each side's own delta-method interval (as the reports give them)."""
    from evalkit.judge.compare import compare_metrics

    z = stats.norm.ppf(0.95)
    paired = unpaired = 0
    for _, _, d, (sa, sb) in _paired_null_trials(100, 7, shift=-0.07):
        paired += d.verdict == "worse"
        u = compare_metrics(d.a, d.a - z * sa, d.a + z * sa, d.b, d.b - z * sb, d.b + z * sb, confidence=0.95,
                            higher_is_better=False)
        unpaired += u.verdict == "worse"
    assert paired >= 3 * unpaired and paired >= 35, (paired, unpaired)  # measured 52 and 4
