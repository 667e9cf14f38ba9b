"""The example CI workflow, read as a CI user (and evalkit's own argument parser) would."""

import shlex
from pathlib import Path

import yaml

from evalkit.cli import build_parser

WORKFLOW = Path(__file__).resolve().parents[1] / "examples" / "github-actions.yml"


def steps():
    doc = yaml.safe_load(WORKFLOW.read_text())
    job = doc["jobs"]["audit"]
    return doc, job, job["steps"]


def test_workflow_runs_the_smoke_audit_with_a_baseline_and_evalkit_accepts_the_command():
    _, _, st = steps()
    audit = next(s for s in st if "evalkit run" in s.get("run", ""))
    argv = shlex.split(audit["run"])
    assert argv[:2] == ["evalkit", "run"]
    args = build_parser().parse_args(argv[1:])  # every flag exists; exits 2 (SystemExit) if one drifted
    assert args.spec == "specs/ci-smoke.yaml" and Path(args.spec).name in [p.name for p in (WORKFLOW.parents[1] / "specs").iterdir()]
    assert args.baseline and not args.baseline_partial
    assert "html" in args.formats and args.out == "evalkit-report"
    assert "if" not in audit  # the audit's exit code fails the job


def test_workflow_uploads_the_html_report_even_on_failure_and_caches_features():
    _, job, st = steps()
    upload = next(s for s in st if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "evalkit-report/report.html" in upload["with"]["path"]
    torch = next(s for s in st if "torch==" in s.get("run", ""))
    assert "download.pytorch.org/whl/cpu" in torch["run"]
    assert st.index(torch) < st.index(next(s for s in st if "pip install -e ." in s.get("run", "")))
    cache = next(s for s in st if s.get("uses", "").startswith("actions/cache"))
    assert job["env"]["EVALKIT_CACHE"].endswith("/" + cache["with"]["path"])
