"""A small real run shared by the HTML tests: two subjects, hostile names, images in a sample store."""

from __future__ import annotations

import numpy as np
import pytest

from tests.specs import REFERENCE, REQUIREMENT, spec_text

HOSTILE = "<script>alert('{}')</script>\"><img src=x onerror=alert(1)>"


def _spec(spec_name: str, subject_name: str, req_name: str) -> str:
    # the builder quotes and escapes the hostile names, so they reach the report as written here
    return spec_text(
        name=spec_name, reference=dict(REFERENCE, range=[0, 400]),
        subjects=[{"model": "dataset", "params": {"range": [5000, 6000]}}, {"path": "g.npz", "name": subject_name}],
        sampling={"n": 200, "batch_size": 50, "seed": 3},
        report={"formats": ["json", "markdown", "junit", "html"], "failing_examples": 6},
        requirements=[REQUIREMENT, {"name": req_name, "where": "0.1 < ink < 0.3", "at_least": 0.5},
                      {"metric": "precision", "at_least": 0.3}, {"metric": "recall", "at_least": 0.3},
                      {"metric": "fid", "at_most": 80}])


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """(report, report folder, npz images) of one real run, written with every format."""
    import evalkit

    tmp = tmp_path_factory.mktemp("html-run")
    rng = np.random.default_rng(11)
    images = (rng.random((200, 28, 28)) ** 2).astype(np.float32)
    np.savez(tmp / "g.npz", images=images)
    spec = tmp / "spec.yaml"
    spec.write_text(_spec(HOSTILE.format("spec"), HOSTILE.format("subject"), HOSTILE.format("req")))
    report = evalkit.run(spec, out=tmp / "out")
    return report, tmp / "out", images
