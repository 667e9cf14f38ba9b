"""_digest.file_sha256: the SHA-256 of a file's bytes, streamed, against hashlib over the whole file."""

import hashlib
import os

import pytest

from evalkit._digest import file_sha256


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 7, 3 << 20])
def test_the_streamed_digest_is_the_digest_of_the_whole_file(tmp_path, size):
    # sizes either side of the 1 MiB chunk: a chunking bug shows at the boundaries
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest() == file_sha256(str(path))


def test_the_empty_file_has_the_known_digest(tmp_path):
    (tmp_path / "e").write_bytes(b"")
    assert file_sha256(tmp_path / "e") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_a_fifo_is_refused_not_read_forever(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(Exception) as info:  # whichever error evalkit names it with, it must not block
        file_sha256(fifo)
    assert "pipe" in str(info.value)
