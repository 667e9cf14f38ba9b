"""`evalkit export`: the run table and the sample table of a real report folder, read back with the
csv module and compared with report.json (read with json) and the sample store (read with
safetensors directly, not evalkit's reader); bad input refused with exit 2 and nothing written."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from evalkit.cli import main
from evalkit.report import export as exporter

from .conftest import HOSTILE


@pytest.fixture
def folder(small_run, tmp_path):
    _, out, _ = small_run
    dst = tmp_path / "run"
    shutil.copytree(out, dst)
    return dst


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _num(text: str) -> float | None:
    return None if text == "" else float(text)


def test_run_table_equals_report_json(folder, tmp_path, capsys):
    out = tmp_path / "tables"
    assert main(["export", str(folder), "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / "results.csv"), str(out / "per_sample.csv")]
    rows = _read_csv(out / "results.csv")
    data = json.loads((folder / "report.json").read_text())
    expect = []
    for s in data["subjects"]:
        names = {r["name"] for r in s["requirements"]}
        expect += [(s["name"], r["name"], r["kind"], r["value"], r["lower"], r["upper"], r["confidence"], r["n"],
                    r["passed"], r["verdict"]) for r in s["requirements"]]
        expect += [(s["name"], m["name"], "metric", m["value"], m["lower"], m["upper"], m["confidence"], m["n"], None,
                    None) for m in s["metrics"] if m["name"] not in names]
    got = [(r["subject"], r["name"], r["kind"], _num(r["value"]), _num(r["lower"]), _num(r["upper"]),
            float(r["confidence"]), None if r["n"] == "" else int(r["n"]), None if r["passed"] == "" else int(r["passed"]),
            r["verdict"] or None) for r in rows]
    assert got == expect  # floats exactly: repr round-trips
    assert {r["run"] for r in rows} == {"run"}  # the report folder's name
    assert any(HOSTILE.format("subject") == r["subject"] for r in rows)  # quoted by csv, read back as written
    assert list(rows[0]) == ["run", "subject", "name", "kind", "value", "lower", "upper", "confidence", "n", "passed",
                             "verdict"]


def test_sample_table_equals_the_sample_store(folder, tmp_path):
    out = tmp_path / "tables"
    assert main(["export", str(folder), "--out", str(out)]) == 0
    rows = _read_csv(out / "per_sample.csv")
    data = json.loads((folder / "report.json").read_text())
    seen = 0
    for s in data["subjects"]:
        files = list((folder / "samples").glob("*.safetensors"))
        # the store file of this subject, found by the subject name in its own metadata
        stores = [f for f in files if json.loads(_meta(f))["subject"] == s["name"]]
        assert len(stores) == 1
        t, meta = load_file(str(stores[0])), json.loads(_meta(stores[0]))
        mine = [r for r in rows if r["subject"] == s["name"]]
        assert [int(r["index"]) for r in mine] == t["index"].tolist()
        assert len(mine) == s["n"] == len(t["index"])
        if "asked" in t:
            assert [int(r["asked"]) for r in mine] == t["asked"].tolist()
        else:
            assert {r["asked"] for r in mine} == {""}
        assert {int(r["seed"]) for r in mine} == {data["seed"]}
        for k, req in enumerate(meta["requirements"]):
            assert [r[f"passed:{req}"] == "true" for r in mine] == t["passed"][k].tolist()
            assert [r[f"undefined:{req}"] == "true" for r in mine] == t["undefined"][k].tolist()
            # and the pass count is the report's
            rr = next(x for x in s["requirements"] if x["name"] == req)
            assert sum(r[f"passed:{req}"] == "true" for r in mine) == rr["passed"]
        for key in [k for k in t if k.startswith("m.")]:
            assert [float(r[key]) for r in mine] == t[key].astype("float64").tolist()
        seen += len(mine)
    assert seen == len(rows) > 0


def _meta(path: Path) -> str:
    """The evalkit metadata of a store file, read from the safetensors header by hand."""
    import struct

    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    return header["__metadata__"]["meta"]


def test_parquet_without_pyarrow_is_a_clear_usage_error(folder, tmp_path, capsys):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        out = tmp_path / "tables"
        assert main(["export", str(folder), "--out", str(out), "--format", "parquet"]) == 2
        err = capsys.readouterr().err
        assert "pyarrow" in err and "--format csv" in err and "Traceback" not in err
        assert not out.exists()
    else:
        import pyarrow.parquet as pq

        out = tmp_path / "tables"
        assert main(["export", str(folder), "--out", str(out), "--format", "parquet"]) == 0
        table = pq.read_table(out / "results.parquet").to_pylist()
        rows = _read_csv(_csv_of(folder, tmp_path))
        assert [r["name"] for r in table] == [r["name"] for r in rows]


def _csv_of(folder: Path, tmp_path: Path) -> Path:
    assert main(["export", str(folder), "--out", str(tmp_path / "csv")]) == 0
    return tmp_path / "csv" / "results.csv"


def test_unknown_format_and_missing_report_exit_2(folder, tmp_path, capsys):
    assert main(["export", str(folder), "--format", "xlsx", "--out", str(tmp_path / "x")]) == 2
    assert "csv or parquet" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "y")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_edited_sample_store_is_refused_and_nothing_written(folder, tmp_path, capsys):
    store = next((folder / "samples").glob("*.safetensors"))
    raw = bytearray(store.read_bytes())
    raw[-1] ^= 0xFF  # one flipped byte in the tensor data: the seal no longer verifies
    store.write_bytes(bytes(raw))
    out = tmp_path / "tables"
    assert main(["export", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert store.name in err and "Traceback" not in err
    assert not (out / "results.csv").exists() and not (out / "per_sample.csv").exists()


def test_default_writes_beside_the_report_and_lists_the_files_in_the_manifest(folder):
    assert main(["export", str(folder)]) == 0
    manifest = json.loads((folder / ".evalkit-manifest.json").read_text())
    assert {"results.csv", "per_sample.csv"} <= set(json.dumps(manifest).replace('"', " ").split())


def test_a_provider_adds_columns(small_run):
    report, out, _ = small_run
    extra = [*exporter.SAMPLE_COLUMNS, lambda item: {"twice": [2 * i for i in item.record.tensors["index"].tolist()]}]
    items = exporter.sample_items(report, out)
    table = exporter.sample_table(items, extra)
    assert table.columns[-1] == "twice"
    assert all(row["twice"] == 2 * row["index"] for row in table.rows)
    runs = exporter.run_table(report, "r", [*exporter.RUN_COLUMNS, lambda item: {"spec": item.report.name}])
    assert runs.columns[-1] == "spec" and {r["spec"] for r in runs.rows} == {report.name}
