"""Under torchrun (2 processes, gloo), the report equals the single-process one."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import BASIC


@pytest.mark.slow
def test_torchrun_two_processes_match_one(write_spec, tmp_path):
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not on PATH")
    spec = write_spec(BASIC + "  - {metric: fid, at_most: 1000}\n"
                      "  - {metric: precision, at_least: 0.1}\n")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    single = tmp_path / "one"
    multi = tmp_path / "two"
    subprocess.run([sys.executable, "-m", "evalkit", "run", str(spec), "--out", str(single), "--quiet", "--device", "cpu"],
                   check=True, env=env, timeout=300)
    subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "evalkit", "run", str(spec),
                    "--out", str(multi), "--quiet", "--device", "cpu"], check=True, env=env, timeout=300)
    a = json.loads((single / "report.json").read_text())
    b = json.loads((multi / "report.json").read_text())
    assert b["environment"]["world_size"] == 2
    for sa, sb in zip(a["subjects"], b["subjects"]):
        assert sa["n"] == sb["n"]
        for ra, rb in zip(sa["requirements"], sb["requirements"]):
            assert (ra["passed"], ra["value"], ra["verdict"]) == (rb["passed"], rb["value"], rb["verdict"])
            assert [f["index"] for f in ra["failing"]] == [f["index"] for f in rb["failing"]]
        for ma, mb in zip(sa["metrics"], sb["metrics"]):
            assert ma["value"] == pytest.approx(mb["value"], rel=1e-9)
