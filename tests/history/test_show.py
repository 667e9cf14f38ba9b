"""`evalkit history show` and `runs`: the series, oldest first, with the reports' own numbers."""

from __future__ import annotations

import json
from dataclasses import replace

from evalkit.history.points import Point
from evalkit.history.show import history_rows, rows_text

from .conftest import cli, copies, write_spec

BASE = Point(run_id="r1", finished="2026-12-01T00:00:00+00:00", report="/r", spec="s", subject="vae", subject_key="k",
             name="right class", kind="rate", value=0.93, lower=0.87, upper=0.97, confidence=0.95, n=100, passed=93,
             verdict="PASS")


def test_rows_group_each_series_and_keep_it_oldest_first():
    later = replace(BASE, run_id="r2", finished="2026-12-02T00:00:00+00:00", passed=90, value=0.9, lower=0.83,
                    verdict="INCONCLUSIVE")
    fid = replace(BASE, name="fid", kind="metric", value=4.5, lower=4.0, upper=5.1, passed=None, verdict=None, n=300)
    fid_judged = replace(fid, verdict="PASS")
    other = replace(BASE, subject="gan", subject_key="k2")
    rows = history_rows([BASE, fid, fid_judged, other, later])
    assert [(r.subject, r.name, r.role, r.run_id) for r in rows] == [
        ("vae", "right class", "requirement", "r1"), ("vae", "right class", "requirement", "r2"),
        ("vae", "fid", "metric", "r1"), ("vae", "fid", "requirement", "r1"), ("gan", "right class", "requirement", "r1")]
    assert (rows[0].value, rows[0].interval, rows[0].verdict) == ("93/100=0.9300", "[0.87, 0.97] @0.95", "PASS")
    assert (rows[2].value, rows[2].interval, rows[2].verdict) == ("4.5 (N=300)", "[4, 5.1] @0.95", "")
    text = rows_text(rows)
    assert "vae: right class (requirement on a rate, 2 runs)" in text and "vae: fid (metric, 1 run)" in text
    assert "vae: fid (requirement on a metric, 1 run)" in text
    one_sided = history_rows([replace(fid, lower=None)])[0]
    assert one_sided.interval == "[-inf, 5.1] @0.95"


def test_show_prints_every_runs_values_and_runs_lists_newest_first(one_run, tmp_path, capsys):
    folders = copies(one_run, tmp_path / "tree", 3)
    db = tmp_path / "h.sqlite"
    assert cli(["history", "rebuild", tmp_path / "tree", "--history", db], capsys)[0] == 0
    code, out, err = cli(["history", "show", "--requirement", "light ink", "--history", db], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "fashion-vae: light ink (requirement on a rate, 3 runs)" and len(lines) == 5
    # 3 runs allow 3! = 6 orders: too few for a change point at 0.05 over 3 series, and the line says so
    assert lines[-1] == "hist / fashion-vae: no change point (3 series tested, family-wise error <= 0.05 per page)"
    for line, folder in zip(lines[1:], folders):  # oldest first: the order the copies finished in
        data = json.loads((folder / "report.json").read_text())
        r = next(x for x in data["subjects"][0]["requirements"] if x["name"] == "light ink")
        assert line.split()[0] == data["finished"]
        assert f"{r['passed']}/{r['n']}={r['passed'] / r['n']:.4f}" in line and f"[{r['lower']:.4g}, " in line
    code, out, _ = cli(["history", "runs", "--spec", "hist", "--history", db], capsys)
    finished = [line.split()[1] for line in out.splitlines()[1:]]
    assert code == 0 and finished == sorted(finished, reverse=True) and len(finished) == 3
    assert cli(["history", "runs", "--spec", "other", "--history", db], capsys)[1].strip() == "no runs indexed for spec 'other'"
    code, out, err = cli(["history", "show", "--subject", "nobody", "--history", db], capsys)
    assert code == 0 and out == "" and "no points match --subject 'nobody'" in err


def test_a_history_this_evalkit_did_not_write_is_an_error_naming_it(one_run, tmp_path, capsys):
    import sqlite3

    empty = tmp_path / "empty.sqlite"  # says it is at the current version, holds no tables
    conn = sqlite3.connect(empty)
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    code, _, err = cli(["history", "runs", "--history", empty], capsys)
    assert code == 2 and f"{empty}: the run history cannot be read (no such table: runs)" in err
    forged = tmp_path / "forged.sqlite"
    assert cli(["bless", one_run, "--history", forged], capsys)[0] == 0
    conn = sqlite3.connect(forged)
    conn.execute("UPDATE runs SET subjects = '{not json'")
    conn.commit()
    conn.close()
    code, _, err = cli(["history", "runs", "--history", forged], capsys)
    assert code == 2 and "holds a malformed row (JSONDecodeError" in err and "evalkit history rebuild DIR" in err
    code, _, err = cli(["run", write_spec(tmp_path), "--out", tmp_path / "r", "--baseline", "blessed", "--history", empty],
                       capsys)
    assert code == 2 and "the run history cannot be read (no such table: blessings)" in err and not (tmp_path / "r").exists()
