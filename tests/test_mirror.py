"""The tests mirror the package: every module evalkit/<dir>/<m>.py has tests/<dir>/test_<m>.py,
or an entry in ALLOW below saying where it is tested instead.

The rule, decided once: a leading underscore is dropped (evalkit/_io.py -> tests/test_io.py);
`__init__.py` and `__main__.py` are left out (re-exports and a two-line entry point, tested
through what they export); a top-level module may also be mirrored in tests/hostile/ (the
adversarial-input suite, one folder for every top-level module it attacks: test_outfolder.py).

ALLOW only shrinks: an entry whose module gains its test module, or no longer exists, fails
here until it is removed. A new module must come with its test module, not an entry.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE, TESTS = ROOT / "evalkit", ROOT / "tests"

# module (relative to evalkit/) -> where it is tested today, and why it has no test module of its own
ALLOW: dict[str, str] = {
    "_builtins.py": "declarations only; every built-in is exercised by tests/test_registry.py and test_conformance.py",
    "_errors.py": "exit codes: tests/test_exit_codes.py and tests/hostile/test_exit_codes.py",
    "_version.py": "one constant",
    "cache.py": "the feature cache: tests/hostile/test_trust.py (forged entries, private key)",
    "cli.py": "the verbs: tests/test_run.py, test_cli_messages.py, test_exit_codes.py",
    "compare/contenders.py": "evalkit compare: tests/compare/test_comparison.py",
    "compare/paired.py": "evalkit compare: tests/compare/test_comparison.py",
    "compare/ranking.py": "evalkit compare: tests/compare/test_comparison.py",
    "compare/table.py": "evalkit compare: tests/compare/test_comparison.py",
    "data/datasets.py": "replay and registered datasets: tests/data/test_replay.py",
    "data/fashion.py": "the IDX reader: tests/data/test_real_images.py, tests/zoo/test_zoo.py",
    "judge/verdicts.py": "tests/judge/test_stats.py, test_cli_messages.py (judge_rate, deciding_class)",
    "metrics/_dense.py": "FID/Vendi maths: tests/metrics/test_frechet.py, test_diversity.py",
    "metrics/_pairwise.py": "the Gram pass: tests/metrics/test_functional.py, test_kernel.py, test_manifold.py",
    "metrics/binomial.py": "rate intervals: tests/judge/test_stats.py, tests/metrics/test_calibration.py",
    "model_cards.py": "zoo cards: tests/zoo/test_zoo.py",
    "observe/archives.py": "torch.export checks: tests/hostile/test_trust.py",
    "observe/checks.py": "built-in checks: tests/test_conformance.py, tests/observe/test_measurements.py",
    "observe/context.py": "Observation: tests/observe/test_measurements.py, test_user_classifier.py",
    "observe/features.py": "extractors: tests/observe/test_user_classifier.py, tests/hostile/test_trust.py",
    "observe/indexes.py": "no_duplicate and memorization: tests/runner/test_failing_values.py, test_distributed.py",
    "plan_report.py": "`evalkit plan`: tests/judge/test_power.py, tests/test_workflow.py",
    "records/comparison.py": "comparison.json: tests/compare/test_comparison.py",
    "report/comparison.py": "compare's table: tests/compare/test_comparison.py",
    "report/folder.py": "tests/report/test_formats.py, tests/hostile/test_outputs.py",
    "report/numbers.py": "through every rendered report: tests/report/test_html.py, test_formats.py",
    "report/regressions.py": "tests/compare/test_regression.py",
    "report/render.py": "json/markdown/junit: tests/report/test_junit.py, test_formats.py",
    "report/view.py": "tests/report/test_formats.py (plugin formats render from it)",
    "reproduce.py": "tests/hostile/test_trust.py, tests/test_workflow.py",
    "runner/build.py": "every run; tests/runner/test_loop.py builds sources with it",
    "runner/child.py": "time-limited children: tests/runner/test_time_limit.py, tests/sample/test_isolation.py",
    "runner/context.py": "a dataclass; built in tests/runner/test_loop.py",
    "runner/environment.py": "the report's environment block: tests/test_run.py",
    "runner/faults.py": "kill points: tests/runner/test_resume.py",
    "runner/gather.py": "torchrun merges: tests/test_distributed.py",
    "runner/judge.py": "tests/metrics/test_verdicts_end_to_end.py",
    "runner/looks.py": "sequential looks: tests/judge/test_power.py, tests/judge/test_trace.py",
    "runner/observe.py": "the per-batch fold: tests/runner/test_fold.py",
    "runner/orchestrate.py": "whole runs: tests/test_run.py, tests/runner/test_resume.py",
    "runner/references.py": "reference features: tests/hostile/test_trust.py (cache), tests/metrics/test_frechet.py",
    "runner/state.py": "tests/runner/test_fold.py (named in docs/architecture.md, so not renamed here)",
    "sample/protocol.py": "the Generator protocol: tests/test_conformance.py",
    "spec/limits.py": "tests/hostile/test_limits.py",
    "spec/locations.py": "file:line:col marks: tests/spec/test_load.py, tests/spec/test_invalid_specs.py",
    "spec/model.py": "tests/spec/test_validation.py, test_invalid_specs.py",
    "spec/names.py": "look-alike names: tests/spec/test_validation.py",
    "zoo/_train_cli.py": "the training entry point: tests/zoo/test_zoo.py",
    "zoo/models.py": "tests/zoo/test_zoo.py",
    "zoo/nets.py": "tests/zoo/test_zoo.py",
    "zoo/train.py": "tests/zoo/test_zoo.py",
    "zoo/weights.py": "tests/zoo/test_zoo.py",
}


def modules() -> list[str]:
    return sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                  if p.name not in ("__init__.py", "__main__.py"))


def mirror_paths(module: str) -> list[Path]:
    """The test modules that would mirror ``module`` (any one of them existing is enough)."""
    rel = Path(module)
    name = f"test_{rel.stem.lstrip('_')}.py"
    out = [TESTS / rel.parent / name]
    if rel.parent == Path("."):
        out.append(TESTS / "hostile" / name)
    return out


def mirrored(module: str) -> bool:
    return any(p.is_file() for p in mirror_paths(module))


def test_every_module_has_a_test_module_or_an_allowed_reason():
    missing = [m for m in modules() if not mirrored(m) and m not in ALLOW]
    assert not missing, ("modules without tests/<same folder>/test_<module>.py; add one (an entry in ALLOW "
                         f"is for what predates this test): {missing}")


def test_the_allow_list_only_shrinks():
    gone = [m for m in ALLOW if not (PACKAGE / m).is_file()]
    assert not gone, f"ALLOW names modules that no longer exist; remove them: {gone}"
    tested = [m for m in ALLOW if mirrored(m)]
    assert not tested, f"these modules have a test module now; remove them from ALLOW: {tested}"
    assert all(reason.strip() for reason in ALLOW.values())


def test_the_reasons_name_test_files_that_exist():
    import re

    # "tests/judge/test_stats.py, test_cli_messages.py": a bare name is in the folder named before it, or tests/
    missing = []
    for module, reason in ALLOW.items():
        folder = "tests"
        for token in re.findall(r"(?:tests/[\w/]*?)?test_\w+\.py", reason):
            if token.startswith("tests/"):
                folder = str(Path(token).parent)
                path = ROOT / token
            else:
                path = ROOT / folder / token
                if not path.is_file():
                    path = TESTS / token
            if not path.is_file():
                missing.append(f"{module}: {token}")
    assert not missing, f"ALLOW reasons name test files that do not exist: {missing}"


def test_the_rule_itself():
    # the mapping the docstring states, on known modules, so a broken rule cannot pass everything
    assert mirror_paths("plan.py") == [TESTS / "test_plan.py", TESTS / "hostile" / "test_plan.py"]
    assert mirror_paths("runner/journal.py") == [TESTS / "runner" / "test_journal.py"]
    assert mirror_paths("_io.py")[0] == TESTS / "test_io.py"
    assert "plan.py" in modules() and "__init__.py" not in modules()
    assert mirrored("runner/loop.py") and not mirrored("zoo/nets.py")
