"""A plugin that declares an input nothing provides, or a state without a merge rule, is refused
when it registers: the message names the plugin's module, the component and the field, the CLI
exits 2, and nothing runs. Through a spec's ``plugins:`` and through the ``evalkit.plugins``
entry point of an installed package."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit import registry
from evalkit.cli import main

SPEC = """\
version: 1
name: v
plugins: [PLUGIN]
features: pixels
classifier: null
subjects: [{model: dataset, params: {range: [0, 100]}}]
sampling: {n: 100, batch_size: 50}
requirements:
  - {check: in_range, at_least: 0.5}
"""

# (module body after `import evalkit` / `from evalkit import Input, measured`, fragments the error must hold)
BAD = {
    "input_nobody_provides": (
        '@evalkit.metric("moon_metric", inputs=("pixels_of_the_moon",), higher_is_better=True)\n',
        ["metric 'moon_metric'", "input 'pixels_of_the_moon'", "nothing provides"]),
    "unknown_measurement": (
        '@evalkit.metric("glow_metric", inputs=(measured("glow"),), higher_is_better=True)\n',
        ["metric 'glow_metric'", "measured('glow')", "no measurement 'glow' is registered"]),
    "state_without_merge": (
        '@evalkit.metric("rows_metric", inputs=(Input.FEATURES,), states=[("rows", Input.FEATURES)],'
        ' higher_is_better=True)\n',
        ["metric 'rows_metric'", "state 'rows' has no merge rule", "'sum' or 'cat'"]),
    "state_with_an_unknown_merge": (
        '@evalkit.metric("avg_metric", inputs=(Input.FEATURES,), states=[("rows", Input.FEATURES, "mean")],'
        ' higher_is_better=True)\n',
        ["metric 'avg_metric'", "state 'rows' has no merge rule (got 'mean')"]),
    "state_of_an_undeclared_input": (
        '@evalkit.metric("lab_metric", inputs=(Input.FEATURES,), states=[("asked", Input.LABELS, "cat")],'
        ' higher_is_better=True)\n',
        ["metric 'lab_metric'", "state 'asked' folds labels, which is not among its inputs"]),
    "check_reading_nothing_provided": (
        '@evalkit.check("moon_check", inputs=("moonlight",))\n',
        ["check 'moon_check'", "input 'moonlight'", "nothing provides"]),
}


def plugin_source(decorator: str) -> str:
    body = "def it(obs):\n    return obs.images.isfinite()\n" if "check(" in decorator else \
        "class It:\n    def compute(self, inputs, confidence, /):\n        return None\n"
    return "import evalkit\nfrom evalkit import Input, measured\n\n" + decorator + body


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_refused_through_a_specs_plugins_with_exit_2(tmp_path, capsys, case, command):
    decorator, fragments = BAD[case]
    module = f"bad_{case}_{command}"  # a fresh module name: a failed import is not cached, a good one would be
    (tmp_path / f"{module}.py").write_text(plugin_source(decorator))
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("PLUGIN", module))
    args = [command, str(spec)] + (["--out", str(tmp_path / "out")] if command == "run" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"spec.yaml:3:11: plugins[0]: {module}: " in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing ran
    refused = {"moon_metric", "glow_metric", "rows_metric", "avg_metric", "lab_metric", "moon_check"}
    assert not refused & set(registry.metrics.names() + registry.checks.names())  # nothing half-registered


def test_refused_through_an_installed_entry_point_with_exit_2(tmp_path):
    """An installed package whose ``evalkit.plugins`` entry point registers a bad metric: every
    command that reads the registry stops with exit 2 naming the entry point, the module and the field."""
    site = tmp_path / "site"
    dist = site / "badplug-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: badplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[evalkit.plugins]\nmoon = badplug_moon\n")
    (site / "badplug_moon.py").write_text(plugin_source(BAD["input_nobody_provides"][0]))
    spec = Path(__file__).resolve().parents[2] / "specs" / "ci-smoke.yaml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    for args in (["list", "metrics"], ["validate", str(spec)]):
        done = subprocess.run([sys.executable, "-m", "evalkit", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "plugin 'moon' (entry point evalkit.plugins: badplug_moon): badplug_moon: metric 'moon_metric'" in done.stderr
        assert "'pixels_of_the_moon', which nothing provides" in done.stderr and "Traceback" not in done.stderr
