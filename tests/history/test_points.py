"""A report's points: one per requirement and metric of each finished subject, keyed by what was measured."""

from evalkit.history.points import points_of, subject_key
from evalkit.records.model import Report

ENV = {"python": "3.11", "platform": "linux", "torch": "2", "evalkit": "0.1.0", "device": "cpu"}


def _report(weights: str = "w1", seed: int = 0, name: str = "vae") -> Report:
    return Report.model_validate({
        "name": "audit", "spec": {}, "spec_sha256": "0" * 64, "started": "2026-12-01T00:00:00+00:00",
        "finished": "2026-12-01T00:01:00+00:00", "seed": seed, "environment": ENV,
        "subjects": [
            {"name": name, "model": "fashion-vae", "params": {"t": 1}, "weights_sha256": weights, "n": 100,
             "requirements": [{"name": "right class", "kind": "rate", "verdict": "PASS", "confidence": 0.95,
                               "passed": 93, "n": 100, "value": 0.93, "lower": 0.87, "upper": 0.97}],
             "metrics": [{"name": "fid", "metric": "fid", "value": 4.5, "lower": 4.0, "upper": 5.1,
                          "confidence": 0.95, "method": "delta", "n": 100}]},
            {"name": "broken", "model": "fashion-gan", "status": "broken", "error": "boom"},
        ],
    })


def test_one_point_per_requirement_and_metric_of_finished_subjects():
    points = points_of(_report(), "run-1", "/r/report.json")
    assert [(p.name, p.kind) for p in points] == [("right class", "rate"), ("fid", "metric")]
    rate, fid = points
    assert (rate.passed, rate.n, rate.value, rate.verdict, rate.higher_is_better) == (93, 100, 0.93, "PASS", True)
    assert (fid.value, fid.lower, fid.upper, fid.higher_is_better) == (4.5, 4.0, 5.1, False)
    assert rate.finished == "2026-12-01T00:01:00+00:00" and rate.run_id == "run-1" and rate.spec == "audit"


def test_the_subject_key_ignores_seed_and_weights_and_follows_name_and_params():
    a, b = _report(seed=0, name="vae").subjects[0], _report(seed=7, name="vae").subjects[0]
    assert subject_key(a) == subject_key(b)
    # two subjects of one model in a spec (two checkpoints) keep two series
    assert subject_key(a) != subject_key(_report(name="renamed").subjects[0])
    # a checkpoint retrained in place continues its series (the drift a history is kept to catch)
    assert subject_key(a) == subject_key(_report(weights="w2").subjects[0])
    other = _report().subjects[0].model_copy(update={"params": {"t": 2}})
    assert subject_key(a) != subject_key(other)
