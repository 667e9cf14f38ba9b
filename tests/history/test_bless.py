"""`evalkit bless RUN`: by folder (indexing it when new) or run id, for all subjects or those named."""

from __future__ import annotations

from evalkit.history.db import History, run_id_of

from .conftest import cli, copies


def test_bless_a_folder_the_history_never_saw_indexes_and_blesses_it(one_run, tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    code, out, err = cli(["bless", one_run, "--history", db], capsys)
    run_id = run_id_of((one_run / "report.json").read_bytes())
    assert code == 0, err
    assert out.startswith(f"blessed run {run_id} (") and "for spec 'hist', subject 'fashion-vae'" in out
    with History.open(db) as h:
        assert [r.run_id for r in h.runs()] == [run_id]
        assert [(b.run_id, b.subject, b.note) for b in h.blessings("hist")] == [(run_id, "fashion-vae", "evalkit bless")]


def test_bless_refuses_unknown_subjects_ambiguous_ids_and_bad_reports(one_run, tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    folders = copies(one_run, tmp_path / "c", 20)
    assert cli(["history", "rebuild", tmp_path / "c", "--history", db], capsys)[0] == 0
    code, _, err = cli(["bless", folders[0], "--subject", "nobody", "--history", db], capsys)
    assert code == 2 and "has no subject 'nobody' (its subjects: fashion-vae)" in err
    ids = [run_id_of((f / "report.json").read_bytes()) for f in folders]
    prefix = next(a[0] for a in ids if sum(b[0] == a[0] for b in ids) > 1)  # 20 ids, 16 digits: one is shared
    code, _, err = cli(["bless", prefix, "--history", db], capsys)
    assert code == 2 and f"{sum(b[0] == prefix for b in ids)} runs start with it" in err and "give more of the id" in err
    code, _, err = cli(["bless", "no-such-run", "--history", db], capsys)
    assert code == 2 and "neither a report folder nor a run id" in err and "evalkit history runs" in err
    with History.open(db) as h:
        assert h.conn.execute("SELECT COUNT(*) FROM blessings").fetchone()[0] == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "report.json").write_text("[]")
    code, _, err = cli(["bless", bad, "--history", db], capsys)
    assert code == 2 and str(bad / "report.json") in err
