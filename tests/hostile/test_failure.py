"""Hostile cases: results lost to a bad path, a full or read-only disk, a stale folder.

Causes from issue 12 covered here: an ``--out`` that is a file or under a file, a
read-only or full disk, a ``--junit`` that is a folder, a 300-character spec name, an
existing ``--out`` keeping stale files of another run. Preflight finds what it can
before the first sample (exit 2, nothing sampled, every problem at once); what happens
during the run (the disk fills, turns read-only) sends the report to a fallback folder
with exit 3 and a message saying where.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .conftest import TINY_SPEC

# A generator that, while sampling, does something to the disk named in its environment:
# the output folder turns read-only, or a ballast file fills the disk. Preflight has passed by then.
SABOTEUR = '''
import os, subprocess, torch

class Saboteur:
    image_shape = (1, 28, 28)
    num_classes = None

    def sample(self, n, *, labels=None, generator=None):
        target = os.environ["SABOTAGE_DIR"]
        if os.environ["SABOTAGE"] == "read-only":
            os.makedirs(target, exist_ok=True)
            os.chmod(target, 0o555)
            subprocess.run(["chattr", "+i", target], capture_output=True)  # binds root too
        else:
            with open(os.path.join(target, "ballast"), "wb") as fh:
                try:
                    while True:
                        fh.write(b"x" * 65536)
                        fh.flush()
                except OSError:
                    pass
        return torch.rand(n, 1, 28, 28, generator=generator)

def make():
    return Saboteur()
'''

TWO_SUBJECTS = TINY_SPEC.replace(
    "sampling:", "  - {model: 'saboteur:make', name: saboteur}\nsampling:")


def _no_report_sampled(hostile, out: str = "out") -> None:
    assert not (hostile.work / out / "report.json").exists()


# ---------------------------------------------------------------- preflight (exit 2, nothing sampled)


def test_out_is_an_existing_file(hostile):
    spec = hostile.spec()
    hostile.file("out", "not a folder")
    r = hostile.run("run", spec, "--out", "out", code=2, allow=())
    assert "--out 'out': is a file, not a folder" in r.err
    assert (hostile.work / "out").read_text() == "not a folder"


def test_out_under_a_file(hostile):
    spec = hostile.spec()
    hostile.file("afile", "x")
    r = hostile.run("run", spec, "--out", "afile/report", code=2, allow=())
    assert "afile' is a file, so no folder can be made under it" in r.err


def test_out_is_a_dangling_link(hostile):
    spec = hostile.spec()
    (hostile.work / "out").symlink_to(hostile.work / "gone")
    r = hostile.run("run", spec, "--out", "out", code=2, allow=())
    assert "is a link to" in r.err and "does not exist" in r.err


def test_out_in_a_read_only_folder(hostile):
    spec = hostile.spec()
    hostile.lock("ro")
    r = hostile.run("run", spec, "--out", "ro/out", code=2, allow=())
    assert "cannot write in" in r.err and "ro" in r.err


def test_out_read_only_itself_and_empty(hostile):
    spec = hostile.spec()
    hostile.lock("out")
    r = hostile.run("run", spec, "--out", "out", code=2, allow=())
    assert "--out 'out': cannot write in" in r.err


def test_junit_is_a_folder(hostile):
    spec = hostile.spec()
    (hostile.work / "ci").mkdir()
    r = hostile.run("run", spec, "--out", "out", "--junit", "ci", code=2)
    assert "--junit 'ci': is a folder" in r.err
    _no_report_sampled(hostile)


def test_junit_in_a_read_only_folder(hostile):
    spec = hostile.spec()
    hostile.lock("ci")
    r = hostile.run("run", spec, "--out", "out", "--junit", "ci/junit.xml", code=2)
    assert "--junit 'ci/junit.xml': cannot write in" in r.err


def test_every_problem_at_once_and_nothing_sampled(hostile):
    """Spec, output, JUnit and baseline problems together in one answer; no sample drawn."""
    spec = hostile.spec(TINY_SPEC.replace("check: in_range", "check: in_rnage"))
    hostile.file("afile", "x")
    (hostile.work / "ci").mkdir()
    hostile.file("base.json", "[1, 2]")
    r = hostile.run("run", spec, "--out", "afile/o", "--junit", "ci", "--baseline", "base.json", code=2, allow=())
    for needle in ("in_rnage", "is a file, so no folder", "--junit 'ci': is a folder", "a JSON array"):
        assert needle in r.err, needle
    assert "n=" not in r.out  # no verdict table: nothing ran


def test_disk_too_small_for_the_report(hostile):
    spec = hostile.spec()
    hostile.tmpfs("disk", "128k")
    r = hostile.run("run", spec, "--out", "disk/out", code=2, allow=("disk",))
    assert "KiB free" in r.err
    assert not (hostile.work / "disk" / "out").exists()


def test_300_character_spec_name_gets_a_short_default_folder(hostile):
    """The default folder is named after the spec: a 300-character name must not make it unwritable."""
    name = "n" * 300
    # a pool big enough that the replay never repeats an image (which it would rightly warn about)
    spec = hostile.spec(TINY_SPEC.replace("name: tiny", f"name: {name}").replace("[5000, 5100]", "[5000, 6000]"))
    r = hostile.run("run", spec, "--quiet", code=0, allow=("reports",))
    folders = [p for p in (hostile.work / "reports").iterdir() if p.is_dir()]  # beside them: history.sqlite
    assert len(folders) == 1 and len(folders[0].name) <= 100
    assert (folders[0] / "report.json").is_file()
    assert json.loads((folders[0] / "report.json").read_text())["name"] == name
    assert r.err == ""


def test_300_character_out_name(hostile):
    spec = hostile.spec()
    r = hostile.run("run", spec, "--out", "o" * 300, code=2, allow=())
    assert "file systems allow 255" in r.err


def test_hostile_spec_name_stays_inside_reports(hostile):
    spec = hostile.spec(TINY_SPEC.replace("name: tiny", "name: '../../escape/..'"))
    hostile.run("run", spec, "--quiet", code=0, allow=("reports",))
    assert [p.parent for p in (hostile.work / "reports").iterdir() if p.is_dir()] == [hostile.work / "reports"]
    assert not (hostile.root / "escape").exists()


# ---------------------------------------------------------------- a fresh --out per run


def test_existing_non_empty_out_is_refused_before_sampling(hostile):
    spec = hostile.spec()
    hostile.file("out/notes.txt", "mine")
    r = hostile.run("run", spec, "--out", "out", code=2, allow=())
    assert "exists and holds 1 file(s) (notes.txt)" in r.err and "--overwrite" in r.err
    assert (hostile.work / "out" / "notes.txt").read_text() == "mine"


def test_existing_empty_out_is_used(hostile):
    spec = hostile.spec()
    (hostile.work / "out").mkdir()
    hostile.run("run", spec, "--out", "out", "--quiet", code=0)
    assert (hostile.work / "out" / "report.json").is_file()


def test_overwrite_removes_exactly_what_the_manifest_lists(hostile):
    spec = hostile.spec()
    hostile.run("run", spec, "--out", "out", "--quiet", "--format", "json", "--format", "html", code=0)
    out = hostile.work / "out"
    listed = [e["path"] for e in json.loads((out / ".evalkit-manifest.json").read_text())["files"]]
    assert sorted(listed) == sorted(str(p.relative_to(out)) for p in out.rglob("*")
                                    if p.is_file() and p.name not in (".evalkit-manifest.json", ".evalkit-lock"))
    assert "report.html" in listed
    hostile.run("run", spec, "--out", "out", "--quiet", "--format", "json", "--overwrite", code=0)
    # the earlier run's HTML page is gone: no stale file of another run beside the new report
    # (samples/ holds the new run's sample store: one record per subject, rewritten; journal/ the new run's journal)
    assert sorted(p.name for p in out.iterdir()) == [".evalkit-lock", ".evalkit-manifest.json", "journal",
                                                     "report.json", "samples"]


def test_overwrite_never_removes_files_evalkit_did_not_write(hostile):
    spec = hostile.spec()
    hostile.run("run", spec, "--out", "out", "--quiet", code=0)
    hostile.file("out/keep.txt", "mine")
    r = hostile.run("run", spec, "--out", "out", "--overwrite", code=2, allow=())
    assert "keep.txt" in r.err
    assert (hostile.work / "out" / "keep.txt").read_text() == "mine"
    assert (hostile.work / "out" / "report.json").is_file()


def test_crafted_manifest_cannot_delete_outside_the_folder(hostile):
    spec = hostile.spec()
    victim = hostile.file("victim.txt", "precious")
    hostile.file("out/.evalkit-manifest.json", json.dumps(
        {"files": [str(victim), "../victim.txt", "report.json"]}))
    hostile.file("out/report.json", "{}")
    # not an evalkit manifest (no format, no digests): nothing it lists is taken as evalkit's (issue 25)
    r = hostile.run("run", spec, "--out", "out", "--overwrite", "--quiet", code=2)
    assert "report.json" in r.err and "manifest" in r.err
    assert victim.read_text() == "precious"


# ---------------------------------------------------------------- write time: fallback, exit 3


def _fallbacks(hostile) -> list[Path]:
    return sorted(hostile.tmp.glob("evalkit-fallback-*"))


def test_out_turns_read_only_during_the_run(hostile):
    hostile.file("saboteur.py", SABOTEUR)
    spec = hostile.spec(TWO_SUBJECTS)
    out = hostile.work / "out"
    hostile.locked.append(out)
    r = hostile.run("run", spec, "--out", "out", "--junit", "out/junit.xml", code=3, allow=("out", hostile.tmp),
                    env={"SABOTAGE": "read-only", "SABOTAGE_DIR": str(out)})
    [fb] = _fallbacks(hostile)
    assert f"the report is in {fb}/ instead" in r.err
    assert "cannot write" in r.err
    report = json.loads((fb / "report.json").read_text())
    assert [s["status"] for s in report["subjects"]] == ["ok", "ok"]  # every measurement kept
    assert (fb / "junit.xml").is_file() and (fb / "report.md").is_file()
    # at most the run journal, made before the lock, and the folder's lock file (issue 25)
    assert sorted(p.name for p in out.iterdir()) in ([], [".evalkit-lock"], [".evalkit-lock", "journal"], ["journal"])


def test_disk_full_at_write_time_simulated(hostile):
    """ENOSPC from the file system on every write into the output folder (no root needed)."""
    spec = hostile.spec()
    prelude = '''
import errno, os
_fsync = os.fsync
def fsync(fd):
    if "/out/" in os.readlink(f"/proc/self/fd/{fd}"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return _fsync(fd)
os.fsync = fsync
'''
    r = hostile.run("run", spec, "--out", "out", code=3, prelude=prelude, allow=("out", hostile.tmp))
    [fb] = _fallbacks(hostile)
    assert "No space left on device" in r.err and str(fb) in r.err
    assert json.loads((fb / "report.json").read_text())["subjects"][0]["status"] == "ok"
    assert not list((hostile.work / "out").glob("*.tmp")) and not list((hostile.work / "out").glob(".*.tmp"))


def test_disk_fills_up_during_the_run(hostile):
    """A real small disk (tmpfs) that a process fills while sampling runs."""
    disk = hostile.tmpfs("disk", "4m")
    hostile.file("saboteur.py", SABOTEUR)
    spec = hostile.spec(TWO_SUBJECTS)
    r = hostile.run("run", spec, "--out", "disk/out", code=3, allow=("disk", hostile.tmp),
                    env={"SABOTAGE": "fill", "SABOTAGE_DIR": str(disk)})
    [fb] = _fallbacks(hostile)
    assert "No space left on device" in r.err and str(fb) in r.err
    assert json.loads((fb / "report.json").read_text())["subjects"][1]["status"] == "ok"


def test_fallback_also_fails(hostile):
    """Nowhere to write at all: a clear message and exit 3, the verdicts on stdout, no traceback."""
    spec = hostile.spec()
    prelude = '''
import errno, os
_fsync = os.fsync
def fsync(fd):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))
os.fsync = fsync
'''
    r = hostile.run("run", spec, "--out", "out", code=3, prelude=prelude, allow=("out", hostile.tmp))
    assert "could not be written anywhere" in r.err
    assert "PASS" in r.out


def test_junit_unwritable_at_write_time_goes_beside_the_report(hostile):
    spec = hostile.spec()
    prelude = '''
import errno, os
_fsync = os.fsync
def fsync(fd):
    if "/ci/" in os.readlink(f"/proc/self/fd/{fd}"):
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    return _fsync(fd)
os.fsync = fsync
'''
    r = hostile.run("run", spec, "--out", "out", "--junit", "ci/junit.xml", code=3, prelude=prelude,
                    allow=("out", "ci", hostile.tmp))
    assert "the JUnit XML is in" in r.err
    [fb] = _fallbacks(hostile)
    assert (fb / "junit.xml").is_file()
    assert (hostile.work / "out" / "report.json").is_file()


def test_python_api_reports_where_the_files_went(tmp_path, monkeypatch):
    """``evalkit.run`` returns exit_code 3 and ``written_to`` the fallback folder; it does not raise."""
    import errno

    import evalkit
    from evalkit import _io

    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    spec = tmp_path / "spec.yaml"
    spec.write_text(TINY_SPEC)
    real = _io.os.fsync

    def fsync(fd):
        if "/out/" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(_io.os, "fsync", fsync)
    report = evalkit.run(spec, out=tmp_path / "out")
    assert report.exit_code == 3
    assert report.written_to is not None and report.written_to.parent == tmp_path / "tmp"
    assert (report.written_to / "report.json").is_file()
    assert "No space left on device" in report.write_errors[0]
