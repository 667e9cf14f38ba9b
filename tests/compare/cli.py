"""The `evalkit` command line run in-process, as the report tests drive it."""

from evalkit.cli import main


def cli(args, capsys):
    """(exit code, stdout, stderr) of ``evalkit ARGS``; no traceback may reach the user."""
    code = main(args)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err
