import signal
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "plugins"))  # user-code modules referenced as module:attribute


def pytest_configure(config):
    # A shell without job control starts a background job (`bash .ci/run > log &`) with
    # SIGINT ignored, every process below it inherits that, and Python then installs no
    # KeyboardInterrupt handler: the tests' Ctrl-C would be dropped and `evalkit run` exit 0.
    # They stand for a user pressing Ctrl-C at a terminal, where SIGINT is delivered; a
    # handler here is reset to the default across exec, so each evalkit child gets its own.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    # module-scoped fixtures run before the function-scoped one below: they, too, must seal
    # saved state under the same cache key as the tests that read it back
    mp = pytest.MonkeyPatch()
    mp.setenv("EVALKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    mp.setenv("EVALKIT_CACHE_KEY", str(tmp_path_factory.getbasetemp() / "cache-key" / "cache.key"))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("EVALKIT_CACHE_KEY", str(tmp_path_factory.getbasetemp() / "cache-key" / "cache.key"))


@pytest.fixture
def write_spec(tmp_path):
    def write(text: str, name: str = "spec.yaml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text))
        return p

    return write


BASIC = """\
version: 1
name: basic
reference: {dataset: fashion-mnist, split: test, range: [0, 400]}
features: pixels
classifier: null
subjects:
  - model: dataset
    params: {range: [5000, 6000]}
sampling: {n: 200, batch_size: 50, seed: 3}
requirements:
  - {name: in range, check: in_range, at_least: 0.9}
  - {name: sane ink, where: "0.02 < ink < 0.8", at_least: 0.5}
"""


@pytest.fixture
def basic_spec(write_spec):
    return write_spec(BASIC)


@pytest.fixture
def make_spec(tmp_path):
    """make_spec(sampling={...}, filename="spec.yaml") -> the path of a spec built by tests/specs.py
    from keyword parts, with defaults for the rest (pixel features, no classifier, a replay)."""
    from tests.specs import write_spec_file

    def make(filename: str = "spec.yaml", **parts) -> Path:
        return write_spec_file(tmp_path, filename, **parts)

    return make
