"""The user-code boundary: what a subject's work raised becomes an honest reason or an interrupt."""

import signal
import sys
import time

import pytest

from evalkit.boundary import SubjectTimeout, TimeLimit, cli_guard, subject_failure


def test_sys_exit_is_a_crash_with_its_code_named():
    try:
        sys.exit(0)
    except SystemExit as exc:
        assert "sys.exit(0)" in subject_failure(exc)


def test_interrupt_is_not_a_failure():
    assert subject_failure(KeyboardInterrupt()) is None


def test_cli_guard_never_lets_user_code_pick_the_exit_code(capsys):
    assert cli_guard(lambda: sys.exit(0)) == 3
    assert "sys.exit(0)" in capsys.readouterr().err

    class Odd(BaseException):
        pass

    def odd():
        raise Odd("x")

    assert cli_guard(odd) == 3
    with pytest.raises(KeyboardInterrupt):
        cli_guard(lambda: (_ for _ in ()).throw(KeyboardInterrupt()))


def test_time_limit_survives_a_model_that_swallows_exceptions():
    """The alarm is a BaseException and fires again every second until the work unwinds."""
    limit = TimeLimit(0.3, "test")
    t0 = time.monotonic()
    with pytest.raises(SubjectTimeout):
        with limit.running():
            while True:
                try:
                    time.sleep(0.01)
                except Exception:
                    pass
    assert time.monotonic() - t0 < 3
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_no_limit_costs_nothing():
    limit = TimeLimit(None, "none")
    with limit.running():
        pass
    assert limit.spent == 0.0
