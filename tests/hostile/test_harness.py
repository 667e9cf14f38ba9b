"""The hostile harness itself: it sees stray writes and tracebacks (a harness that cannot fail proves nothing)."""

import pytest


def test_clean_run_writes_only_its_output_folder(hostile):
    spec = hostile.spec()
    r = hostile.run("run", spec, "--out", "out", "--quiet", code=0)
    assert (hostile.work / "out" / "report.json").is_file()
    assert r.changed == []


def test_harness_sees_a_write_outside_the_output_folder(hostile):
    spec = hostile.spec()
    with pytest.raises(AssertionError, match="changed outside"):
        hostile.run("run", spec, "--out", "elsewhere", "--quiet", code=0)


def test_harness_sees_a_traceback(hostile):
    with pytest.raises(AssertionError, match="traceback"):
        hostile.run("validate", "x.yaml", code=1, prelude="raise RuntimeError('boom')")


def test_lock_refuses_writes(hostile):
    d = hostile.lock("ro")
    with pytest.raises(OSError):
        (d / "f").write_text("x")
