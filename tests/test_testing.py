"""evalkit.testing catches each broken promise it claims to check (so a plugin's test can fail)."""

import pytest
import torch

import evalkit
from evalkit import Input, MetricValue, measured, registry
from evalkit.contract import UndeclaredInput
from evalkit.data.datasets import fashion_mnist
from evalkit.testing import ContractViolation, check_metric, check_per_sample

registry.load_plugins()


@pytest.fixture(scope="module")
def images():
    return fashion_mnist("test").slice(0, 40)


@pytest.fixture
def registered():
    names = []

    def register(kind: str, name: str, obj, **facts):
        getattr(evalkit, kind)(name, **facts)(obj)
        names.append((kind, name))
        return name

    yield register
    for kind, name in reversed(names):
        registry.REGISTRIES[kind + "s"].unregister(name)


def mean_metric(jitter: bool = False, sneaky: bool = False):
    class Mean:
        def compute(self, inputs, confidence, /, *, scale: float = 1.0):
            x = inputs.measured["t_ink"] * scale
            if sneaky:
                x = x + inputs.fake.sum() * 0  # reads the features without declaring them
            m = float(x.mean()) + (float(torch.rand(1)) * 1e-6 if jitter else 0.0)  # an unseeded draw
            return MetricValue(m, m - 0.01, m + 0.01, "fixed", len(x))

    return Mean


def test_a_sound_metric_passes_and_its_value_is_returned(registered, images):
    registered("measurement", "t_ink", lambda obs: obs.gray.mean(dim=(1, 2)))
    registered("metric", "t_mean", mean_metric(), inputs=(measured("t_ink"),), higher_is_better=True, min_n=2)
    values = check_per_sample("t_ink", images)
    got = check_metric("t_mean", {"t_ink": values}, args={"scale": 2.0})
    assert got.value == pytest.approx(2 * float(images.double().mean()), rel=1e-12)


def test_a_metric_whose_value_depends_on_more_than_its_states_fails(registered, images):
    registered("measurement", "t_ink", lambda obs: obs.gray.mean(dim=(1, 2)))
    registered("metric", "t_jitter", mean_metric(jitter=True), inputs=(measured("t_ink"),), higher_is_better=True)
    with pytest.raises(ContractViolation, match="t_jitter.*merge order changed the result"):
        check_metric("t_jitter", {"t_ink": check_per_sample("t_ink", images)})


def test_a_metric_reading_an_undeclared_input_fails(registered, images):
    registered("measurement", "t_ink", lambda obs: obs.gray.mean(dim=(1, 2)))
    registered("metric", "t_sneaky", mean_metric(sneaky=True), inputs=(measured("t_ink"),), higher_is_better=True)
    with pytest.raises(UndeclaredInput, match="t_sneaky.*FEATURES"):
        check_metric("t_sneaky", {"t_ink": check_per_sample("t_ink", images)})


def test_bad_arguments_are_reported_as_the_metrics_fault_in_the_test(registered, images):
    registered("measurement", "t_ink", lambda obs: obs.gray.mean(dim=(1, 2)))
    registered("metric", "t_mean", mean_metric(), inputs=(measured("t_ink"),), higher_is_better=True)
    with pytest.raises(ContractViolation, match="t_mean.*scale"):
        check_metric("t_mean", {"t_ink": check_per_sample("t_ink", images)}, args={"scale": "lots"})


def test_a_baseline_that_ignores_the_declared_orientation_is_caught(registered, images, monkeypatch):
    registered("measurement", "t_ink", lambda obs: obs.gray.mean(dim=(1, 2)))
    registered("metric", "t_low", mean_metric(), inputs=(measured("t_ink"),), higher_is_better=False)
    rows = {"t_ink": check_per_sample("t_ink", images)}
    check_metric("t_low", rows)  # the real baseline reads the declaration
    import evalkit.compare.baseline as baseline

    real = baseline.compare_metrics

    def hard_coded(*args, **kwargs):  # a baseline with a hard-coded orientation, the bug issue 11 found
        return real(*args, **{**kwargs, "higher_is_better": True})

    monkeypatch.setattr(baseline, "compare_metrics", hard_coded)
    with pytest.raises(ContractViolation, match="t_low.*did not flag a clearly worse value.*lower is better"):
        check_metric("t_low", rows)


def test_rows_missing_a_declared_state_are_a_usage_error(registered, images):
    registered("measurement", "t_ink", lambda obs: obs.gray.mean(dim=(1, 2)))
    registered("metric", "t_two", mean_metric(), inputs=(measured("t_ink"), Input.FEATURES), higher_is_better=True)
    with pytest.raises(ValueError, match="lack its declared state.*features"):
        check_metric("t_two", {"t_ink": torch.ones(5)})


def test_per_sample_promises(registered, images):
    # depends on the rest of its batch: differs when the samples come in two batches
    registered("measurement", "t_centred", lambda obs: obs.gray.mean(dim=(1, 2)) - obs.gray.mean())
    with pytest.raises(ContractViolation, match="t_centred.*two batches"):
        check_per_sample("t_centred", images)
    registered("check", "t_float_check", lambda obs: obs.gray.mean(dim=(1, 2)))
    with pytest.raises(ContractViolation, match="t_float_check.*one bool per sample"):
        check_per_sample("t_float_check", images)
    registered("measurement", "t_scalar", lambda obs: obs.gray.mean())
    with pytest.raises(ContractViolation, match="t_scalar.*shape \\(\\)"):
        check_per_sample("t_scalar", images)
    assert check_per_sample("in_range", images).all()  # a built-in keeps its promises
