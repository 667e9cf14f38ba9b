"""Every registered component keeps its declaration: built-ins and a plugin alike.

For each check, measurement and metric (the plugin ``tests/plugins/contract_plugin.py``
included): it runs on a batch that provides only what it declares, and gives each
sample the same value whatever batch it came in; reading anything else fails; the
spec validation asks a spec for exactly the inputs it declares (refused without
them, accepted without the others); its arguments are validated against the
declaration, bounds included; a metric gives the same value whatever order its
states were merged in; the baseline judges it in the orientation it declares; and
it refuses an N below its interval method's minimum.
Generators, extractors and datasets: the declaration agrees with the object loaded.

The data are real: Fashion-MNIST test images stand in for generated samples, and
features, class probabilities and nearest-training distances come from the bundled
classifier.
"""

import json
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import evalkit
from evalkit import registry
from evalkit._errors import RegistrationError
from evalkit.contract import REQUIRED, Input, Measured, Merge, TooFewSamples, UndeclaredInput
from evalkit.data.datasets import fashion_mnist
from evalkit.metrics.metric import MetricInputs
from evalkit.metrics.states import new_row_state
from evalkit import Observation
from evalkit.observe.indexes import DuplicateIndex, MemorizationIndex
from evalkit.records.model import Environment, MetricResult, Report, SubjectResult
from evalkit.testing import check_metric, metric_inputs

registry.load_plugins()
import contract_plugin  # noqa: E402,F401  (tests/plugins is on sys.path: registers dark_share, mean_dark_share)
import sum_plugin  # noqa: E402,F401  (registers brightness, bright_mean: a plugin metric with a sum state)

N = 120
PER_SAMPLE = [("check", e.name) for e in registry.checks] + [("measurement", e.name) for e in registry.measurements]
# a retired metric (class_balance) refuses to compute by design; the plan test covers its refusal
METRICS = [n for n in registry.metrics.names() if registry.metrics.get(n).decl.interval.name != "retired"]
# small settings so every metric runs in well under a second on 2 cores (args are declared, so validated too)
FAST = {"kid": {"subsets": 5, "subset_size": 40},
        "class_tv": {"bootstrap": 20}, "cas": {"epochs": 1}}


@pytest.fixture(scope="module")
def world():
    data = fashion_mnist("test")
    x = data.slice(0, N)
    labels = torch.as_tensor(data.labels[:N]).long()
    ex = registry.features.get("fashion-classifier").obj((1, 28, 28), torch.device("cpu"))
    with torch.no_grad():
        feats, logits = ex.features_and_logits(x)
        real = ex.features(data.slice(1000, 1300)).double()
        train = ex.features(data.slice(2000, 2400)).double()
    ref_labels = torch.as_tensor(data.labels[1000:1300]).long()
    return {"x": x, "labels": labels, "feats": feats.double(), "logits": logits.double(), "real": real,
            "training_index": MemorizationIndex(train), "ref": (data.slice(1000, 1300), ref_labels), "ex": ex}


def observation(world, provide: set, lo: int = 0, hi: int = N) -> Observation:
    """A batch of samples lo..hi that provides only ``provide`` (Input members); the rest is absent."""
    ex, x = world["ex"], world["x"][lo:hi]
    return Observation(
        x, x.clone(), world["labels"][lo:hi] if Input.LABELS in provide else None, torch.arange(lo, hi),
        (lambda imgs: (ex.features(imgs), None)) if Input.FEATURES in provide or Input.TRAINING in provide else None,
        (lambda imgs: ex.features_and_logits(imgs)[1]) if Input.CLASSIFIER in provide else None,
        world["training_index"] if Input.TRAINING in provide else None,
        DuplicateIndex() if Input.HISTORY in provide else None,
    )


def defaults(entry) -> dict:
    return {a.name: a.default for a in entry.args if not a.required}


# ---------------------------------------------------------------- checks and measurements


@pytest.mark.parametrize("kind,name", PER_SAMPLE)
def test_runs_on_exactly_what_it_declares(world, kind, name):
    entry = registry.REGISTRIES[kind + "s"].get(name)
    declared = {i for i in entry.inputs if isinstance(i, Input)}
    out = entry.call(observation(world, declared), defaults(entry))
    assert out.shape == (N,)
    assert out.dtype == torch.bool if kind == "check" else out.is_floating_point()
    # and the same values when everything is provided: what it does not declare does not matter
    full = entry.call(observation(world, set(Input)), defaults(entry))
    assert torch.equal(out.cpu(), full.cpu())


@pytest.mark.parametrize("kind,name", PER_SAMPLE)
def test_a_samples_value_never_depends_on_the_batch_it_came_in(world, kind, name):
    """Batches are cut wherever batch_size, shards and looks fall: each sample's value must be its own.
    (HISTORY readers compare with the samples before them, in index order, which the runner keeps.)"""
    entry = registry.REGISTRIES[kind + "s"].get(name)
    if Input.HISTORY in entry.inputs:
        pytest.skip("reads the subject's earlier samples by design")
    declared = {i for i in entry.inputs if isinstance(i, Input)}
    whole = entry.call(observation(world, declared), defaults(entry)).cpu()

    @settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.integers(1, N - 1), min_size=1, max_size=4, unique=True))
    def prop(cuts):
        edges = [0, *sorted(cuts), N]
        parts = [entry.call(observation(world, declared, a, b), defaults(entry)).cpu() for a, b in zip(edges, edges[1:])]
        # features come from a network run on each batch: equal to float rounding, not bit for bit
        torch.testing.assert_close(torch.cat(parts), whole, rtol=1e-5, atol=1e-6)

    prop()


def test_reading_an_undeclared_input_fails(world):
    @evalkit.check("sneaky_confident", help="reads class probabilities without declaring them")
    def sneaky(obs):
        return obs.probs.max(1).values > 0.5

    @evalkit.metric("sneaky_fid", inputs=(Input.FEATURES,), higher_is_better=False)
    class SneakyFID:
        def compute(self, inputs, confidence, /):
            return inputs.real  # the reference set, never declared

    try:
        with pytest.raises(UndeclaredInput, match="sneaky_confident.*probs.*CLASSIFIER"):
            registry.checks.get("sneaky_confident").call(observation(world, set(Input)))
        inputs = MetricInputs("s", world["real"], world["feats"])
        with pytest.raises(UndeclaredInput, match="sneaky_fid.*real.*REFERENCE"):
            registry.metrics.get("sneaky_fid").compute(inputs, 0.95, {}, n=N)
    finally:
        registry.checks.unregister("sneaky_confident")
        registry.metrics.unregister("sneaky_fid")


@pytest.mark.parametrize("name", registry.checks.names())
def test_rate_states_merge_in_any_order(world, name):
    # (measurements feed where: expressions, whose per-sample outcomes fold exactly like a check's)
    from evalkit.runner.state import RateState

    entry = registry.checks.get(name)
    ok = entry.call(observation(world, set(Input)), defaults(entry)).cpu()
    labels = world["labels"]

    def fold(lo, hi):
        rs = RateState()
        rs.passed, rs.n = int(ok[lo:hi].sum()), hi - lo
        for c in labels[lo:hi].unique().tolist():
            m = labels[lo:hi] == c
            rs.per_class[int(c)] = [int(ok[lo:hi][m].sum()), int(m.sum())]
        return rs

    @settings(max_examples=20, deadline=None)
    @given(st.lists(st.integers(1, N - 1), max_size=6, unique=True), st.randoms(use_true_random=False))
    def prop(cuts, rnd):
        edges = [0, *sorted(cuts), N]
        parts = [fold(a, b) for a, b in zip(edges, edges[1:])]
        rnd.shuffle(parts)
        merged = parts[0]
        for p in parts[1:]:
            merged = merged.merge(p, keep=0)
        assert (merged.passed, merged.n) == (int(ok.sum()), N)
        assert merged.per_class == fold(0, N).per_class

    prop()


# ---------------------------------------------------------------- metrics


def state_rows(world, entry) -> dict:
    """Per-sample rows of every state the metric declares, computed by the registered measurements."""
    obs = observation(world, set(Input))
    rows = {}
    for s in entry.decl.states:
        src = s.source
        if isinstance(src, Measured):
            rows[s.name] = registry.measurements.get(src.name).call(obs).double()
        elif src == Input.FEATURES:
            rows[s.name] = world["feats"]
        elif src == Input.CLASSIFIER:
            rows[s.name] = world["logits"].argmax(1)
        elif src == Input.LABELS:
            rows[s.name] = world["labels"]
        elif src == Input.TRAINING:
            rows[s.name] = world["training_index"].query(world["feats"])[0]
        elif src == Input.IMAGES:
            rows[s.name] = (world["x"] * 255).round().to(torch.uint8)
    return rows


def inputs_from(world, entry, rows: dict) -> MetricInputs:
    """MetricInputs holding only what the metric declares (the rest stays None), as evalkit.testing builds them."""
    return metric_inputs(entry, rows, real=world["real"], num_classes=10, args=FAST.get(entry.name, {}), seed=7,
                         real_images=lambda: world["ref"])


def compute(world, name, rows, n=N):
    entry = registry.metrics.get(name)
    args, problems = entry.validate_args(FAST.get(name, {}))
    assert not problems
    return entry.compute(inputs_from(world, entry, rows), 0.95, args, n=n, requirement="r")


@pytest.mark.parametrize("name", METRICS)
def test_metric_reads_only_its_declared_inputs_and_gives_a_sane_interval(world, name):
    mv = compute(world, name, state_rows(world, registry.metrics.get(name)))
    assert math.isfinite(mv.value) and mv.low <= mv.high
    assert mv.n in (N, len(world["ref"][1]))


@pytest.mark.parametrize("name", METRICS)
def test_merge_order_never_changes_a_metric(world, name):
    entry = registry.metrics.get(name)
    rows = state_rows(world, entry)
    whole = compute(world, name, rows)

    merge_of = {s.name: s.merge for s in entry.decl.states}

    @settings(max_examples=3 if name == "cas" else 6, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.integers(1, N - 1), max_size=5, unique=True), st.randoms(use_true_random=False))
    def prop(cuts, rnd):
        edges = [0, *sorted(cuts), N]
        order = list(zip(edges, edges[1:]))
        rnd.shuffle(order)  # shards arrive in any order; each keeps its sample indices
        merged, sums = dict(rows), {}
        for key, v in rows.items():
            # the runner's own state for the declared merge rule: cat rows, or a running sum
            states = []
            for a, b in order:
                s = new_row_state(merge_of.get(key, Merge.CAT))
                s.update(v[a:b], torch.arange(a, b))
                states.append(s)
            total = states[0]
            for s in states[1:]:
                total = total.merge(s)
            if merge_of.get(key) is Merge.SUM:
                sums[key] = total.value()
            else:
                merged[key] = total.value()[0]
        inputs = inputs_from(world, entry, merged)
        inputs.states.update(sums)  # handed over as the merge left them, as runner/judge.py does
        args, _ = entry.validate_args(FAST.get(name, {}))
        got = entry.compute(inputs, 0.95, args, n=N, requirement="r")
        if not sums:  # rows sorted by sample index: bit for bit
            assert (got.value, got.low, got.high) == (whole.value, whole.low, whole.high)
        else:  # a sum adds its parts in merge order: equal to float64 rounding
            assert (got.value, got.low, got.high) == pytest.approx((whole.value, whole.low, whole.high), rel=1e-12)

    prop()


@pytest.mark.parametrize("name", METRICS)
def test_evalkit_testing_check_metric_passes_every_registered_metric(world, name):
    """The helper a plugin's test calls holds every built-in (and the plugin) to the same promises."""
    entry = registry.metrics.get(name)
    rows = state_rows(world, entry)
    got = check_metric(name, rows, args=FAST.get(name, {}), real=world["real"], num_classes=10, trials=2, seed=7,
                       real_images=lambda: world["ref"])
    assert got.value == compute(world, name, rows).value


@pytest.mark.parametrize("name", METRICS)
def test_min_n_is_enforced_with_a_clear_error(world, name):
    entry = registry.metrics.get(name)
    below = entry.decl.min_n - 1
    with pytest.raises(TooFewSamples) as info:
        entry.compute(None, 0.95, {}, n=below, requirement="my requirement")
    text = str(info.value)
    assert "'my requirement'" in text and f"N = {below}" in text and f"at least {entry.decl.min_n}" in text


@pytest.mark.parametrize("name", [n for n in METRICS if registry.metrics.get(n).decl.min_n > 1])
def test_validation_refuses_a_sampling_n_below_the_declared_min_n(name, tmp_path):
    """Before anything runs: a spec whose sampling.n is below the metric's minimum is refused at validation."""
    from evalkit import parse_spec
    from evalkit._errors import SpecError
    from evalkit.plan import make_plan

    min_n = registry.metrics.get(name).decl.min_n
    at = spec_for("metric", name).replace("sampling: {n: 500, batch_size: 50}", f"sampling: {{n: {min_n}, batch_size: 1}}")
    make_plan(parse_spec(at, str(tmp_path / "at.yaml")))  # at the minimum: accepted
    below = at.replace(f"n: {min_n},", f"n: {min_n - 1},")
    with pytest.raises(SpecError) as info:
        make_plan(parse_spec(below, str(tmp_path / "below.yaml")))
    assert any(f"needs N >= {min_n}" in p and f"sampling.n is {min_n - 1}" in p for p in info.value.problems)


def report_with(metric: str, value: float, low: float, high: float) -> Report:
    env = Environment(python="3", platform="p", torch="t", evalkit="e", device="cpu")
    res = MetricResult(name=metric, metric=metric, value=value, lower=low, upper=high, confidence=0.95, method="m", n=100)
    return Report(name="r", spec={}, spec_sha256="0", started="s", seed=0, environment=env,
                  subjects=[SubjectResult(name="s", metrics=[res])])


@pytest.mark.parametrize("name", METRICS)
def test_the_baseline_judges_each_metric_in_its_declared_orientation(name):
    from evalkit.compare.baseline import compare

    higher = registry.metrics.get(name).decl.higher_is_better
    base = report_with(name, 0.5, 0.45, 0.55)
    worse_value = 0.2 if higher else 0.8
    worse = report_with(name, worse_value, worse_value - 0.05, worse_value + 0.05)
    better_value = 0.8 if higher else 0.2
    better = report_with(name, better_value, better_value - 0.05, better_value + 0.05)
    assert compare(worse, base, {}, "b").subjects[0].regressions == [name]
    assert compare(better, base, {}, "b").subjects[0].regressions == []


# ---------------------------------------------------------------- declared inputs, against the spec

# every input a spec can lack: the spec's line that provides it, that line without it, the refusal's words
LACKING = {
    Input.TRAINING: ("training: {dataset: fashion-mnist, split: train, range: [0, 400]}\n", "", "training"),
    Input.REFERENCE: ("reference: {dataset: fashion-mnist, split: test, range: [0, 400]}\n", "", "reference"),
    Input.CLASSIFIER: ("classifier: fashion-classifier", "classifier: null", "classifier"),
    Input.LABELS: ("{model: dataset, params: {range: [1000, 2000]}}", "{model: 'contract_plugin:Flat', params: {size: 28}}", "unconditional"),
}
FULL_SPEC = """\
version: 1
name: c
reference: {dataset: fashion-mnist, split: test, range: [0, 400]}
training: {dataset: fashion-mnist, split: train, range: [0, 400]}
features: fashion-classifier
classifier: fashion-classifier
subjects: [{model: dataset, params: {range: [1000, 2000]}}]
sampling: {n: 500, batch_size: 50}
requirements:
  - REQUIREMENT
"""
COMPONENTS = [("check", e.name) for e in registry.checks] + [("measurement", e.name) for e in registry.measurements] + [
    ("metric", n) for n in METRICS]


def spec_for(kind: str, name: str) -> str:
    req = {"check": f"{{check: {name}, at_least: 0.5}}", "measurement": f'{{where: "{name} > 0", at_least: 0.5}}',
           "metric": f"{{metric: {name}, at_least: 0}}"}[kind]
    return FULL_SPEC.replace("REQUIREMENT", req)


def needed(kind: str, name: str) -> set:
    """What a requirement on this component needs, from its declaration alone (a measured input brings its own)."""
    entry = registry.REGISTRIES[kind + "s"].get(name)
    out = {i for i in entry.inputs if isinstance(i, Input)}
    for i in entry.inputs:
        if isinstance(i, Measured):
            out |= {j for j in registry.measurements.get(i.name).inputs if isinstance(j, Input)}
    return out


@pytest.mark.parametrize("kind,name", COMPONENTS)
def test_validation_asks_the_spec_for_exactly_the_declared_inputs(kind, name, tmp_path):
    from evalkit import parse_spec
    from evalkit._errors import SpecError
    from evalkit.plan import make_plan

    full = spec_for(kind, name)
    make_plan(parse_spec(full, str(tmp_path / "full.yaml")))  # everything provided: accepted
    needs = needed(kind, name)
    for lack, (line, without, words) in LACKING.items():
        text = full.replace(line, without)
        assert text != full
        try:
            make_plan(parse_spec(text, str(tmp_path / "lacking.yaml")))
            refused = ""
        except SpecError as exc:
            refused = "\n".join(exc.problems) or str(exc)
        if lack in needs:
            assert refused and words in refused, f"{kind} {name} declares {lack.name}, but a spec without it was accepted"
        else:
            assert not refused, f"{kind} {name} does not declare {lack.name}, but a spec without it was refused: {refused}"


# ---------------------------------------------------------------- arguments


ALL = [(k, e.name) for k, r in registry.REGISTRIES.items() for e in r]


@pytest.mark.parametrize("kind,name", ALL)
def test_arguments_are_validated_against_the_declaration(kind, name):
    entry = registry.REGISTRIES[kind].get(name)
    entry.obj  # loading a built-in holds its signature to the declared arguments
    # a required built-in argument is a string (the diffusers generator's folder): missing, it is named
    required = {a.name: "x" for a in entry.args if a.required and a.type is str}
    assert len(required) == sum(a.required for a in entry.args)
    _, problems = entry.validate_args({})
    assert len(problems) == len(required)
    assert all(p.key is None and any(repr(r) in p.message for r in required) for p in problems)
    filled, problems = entry.validate_args(required)
    assert not problems and filled == {a.name: a.default for a in entry.args if a.default is not REQUIRED} | required
    _, problems = entry.validate_args({**required, "no_such_argument": 1})
    assert [p.key for p in problems] == ["no_such_argument"]
    for a in entry.args:
        if a.type in (int, float):
            _, problems = entry.validate_args({**required, a.name: "lots"})
            assert problems and a.name in problems[0].message
        for value in beyond_bounds(a):
            _, problems = entry.validate_args({**required, a.name: value})
            assert problems and a.name in problems[0].message, f"{name}.{a.name} = {value} passed its bound"


def beyond_bounds(a) -> list:
    """One value just past each declared bound of an argument (equal to a strict bound is past it)."""
    step = 0.5 if a.type is float else 1
    return [v for v in (a.ge - step if a.ge is not None else None, a.gt, a.le + step if a.le is not None else None, a.lt)
            if v is not None]


def test_generator_declarations_agree_with_the_models():
    for e in registry.generators:
        if e.name.startswith("fashion-"):
            gen = e.obj(device=torch.device("cpu"))
            assert gen.num_classes == e.decl.classes({}) and tuple(gen.image_shape) == e.decl.image_shape
            assert gen.weights_file.name in e.decl.weights
            x = gen.sample(8, labels=torch.arange(8) % 10, generator=torch.Generator().manual_seed(0))
            lo, hi = e.decl.output_range
            assert float(x.min()) >= lo and float(x.max()) <= hi
    ex = registry.features.get("fashion-classifier")
    built = ex.obj(ex.decl.input_shape, torch.device("cpu"))
    assert (built.dim, built.num_classes) == (ex.decl.dim, ex.decl.num_classes)
    data = registry.datasets.get("fashion-mnist")
    assert len(data.obj(split="test")) == data.decl.splits["test"]


# ---------------------------------------------------------------- registration


def test_registration_errors_name_the_plugin():
    here = __name__
    with pytest.raises(RegistrationError, match=f"{here}.*nothing provides"):
        @evalkit.metric("m1", inputs=("pixels_of_the_moon",), higher_is_better=True)
        class M1:
            def compute(self, inputs, confidence, /):
                pass
    with pytest.raises(RegistrationError, match=f"{here}.*state 'rows' has no merge rule"):
        @evalkit.metric("m2", inputs=(Input.FEATURES,), states=[("rows", Input.FEATURES)], higher_is_better=True)
        class M2:
            def compute(self, inputs, confidence, /):
                pass
    with pytest.raises(RegistrationError, match=f"{here}.*must declare higher_is_better"):
        @evalkit.metric("m3", inputs=(Input.FEATURES,))
        class M3:
            def compute(self, inputs, confidence, /):
                pass
    with pytest.raises(RegistrationError, match=f"{here}.*'finite' is already registered"):
        @evalkit.check("finite")
        def finite(obs):
            return obs.images.isfinite()
    with pytest.raises(RegistrationError, match="measured\\('no_such_measure'\\)"):
        @evalkit.metric("m4", inputs=(evalkit.measured("no_such_measure"),), higher_is_better=True)
        class M4:
            def compute(self, inputs, confidence, /):
                pass
    assert not {"m1", "m2", "m3", "m4"} & set(registry.metrics.names())


def test_only_required_per_sample_inputs_get_a_default_state():
    """An optional input is read when the spec provides it (cas reads the training images run-wide): no state
    is folded for it unless declared, so a run never computes per-sample rows a metric does not read."""
    @evalkit.metric("opt_metric", inputs=(Input.FEATURES,), optional=(Input.TRAINING,), higher_is_better=True)
    class Opt:
        def compute(self, inputs, confidence, /):
            pass

    try:
        assert [(s.name, s.source) for s in registry.metrics.get("opt_metric").decl.states] == [("features", Input.FEATURES)]
        assert [s.name for s in registry.metrics.get("cas").decl.states] == ["images", "asked"]
    finally:
        registry.metrics.unregister("opt_metric")


# ---------------------------------------------------------------- the plugin, end to end

PLUGIN_SPEC = """\
version: 1
name: plugin
plugins: [contract_plugin]
features: pixels
classifier: null
subjects: [{name: gen, model: 'contract_plugin:Flat', params: {level: LEVEL}}]
sampling: {n: 60, batch_size: 20}
requirements:
  - {metric: mean_dark_share, at_most: 0.5}
"""


def test_a_plugin_metric_with_a_new_input_runs_from_yaml(tmp_path):
    from evalkit.sample.sources import GeneratorSource

    spec = tmp_path / "p.yaml"
    spec.write_text(PLUGIN_SPEC.replace("LEVEL", "0.3"))
    rep = evalkit.run(spec, write=False)
    sub = rep.subjects[0]
    assert sub.status == "ok", sub.error
    # independent: regenerate the samples and count dark pixels by hand
    src = GeneratorSource("g", contract_plugin.Flat(0.3), 60, None, 0, 50, torch.device("cpu"))
    x = torch.cat([b.images for b in src.batches(60)])
    expected = (x[:, 0] < 0.1).double().mean(dim=(1, 2)).mean()
    assert sub.metrics[0].value == pytest.approx(float(expected), abs=1e-12)
    assert sub.metrics[0].metric == "mean_dark_share"


def test_a_lower_is_better_plugin_metric_regressing_is_flagged_by_the_baseline(tmp_path, capsys):
    from evalkit.cli import main

    base, cur = tmp_path / "base.yaml", tmp_path / "cur.yaml"
    base.write_text(PLUGIN_SPEC.replace("LEVEL", "0.5"))  # no dark pixels: mean_dark_share 0
    cur.write_text(PLUGIN_SPEC.replace("LEVEL", "0.05").replace("at_most: 0.5", "at_most: 1.0"))  # all dark: 1
    assert main(["run", str(base), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    code = main(["run", str(cur), "--out", str(tmp_path / "c"), "--baseline", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert code == 1 and "REGRESSED mean_dark_share" in out
    worse = json.loads((tmp_path / "c" / "report.json").read_text())["subjects"][0]
    assert worse["regressions"] == ["mean_dark_share"]
    assert [(d["verdict"], d["higher_is_better"]) for d in worse["differences"]] == [("worse", False)]
    # and the other way round (the current run darker-free) is an improvement, not a regression
    assert main(["run", str(base), "--out", str(tmp_path / "d"), "--baseline", str(tmp_path / "c"), "--quiet"]) == 0
    better = json.loads((tmp_path / "d" / "report.json").read_text())["subjects"][0]
    assert better["regressions"] == [] and better["differences"][0]["current"] < better["differences"][0]["baseline"]
