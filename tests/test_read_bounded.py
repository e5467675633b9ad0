"""read_bounded reads a file in growing pieces, all of it, never past the limit."""

from __future__ import annotations

import io

import pytest

from dedup.readers import text


class Trickle(io.RawIOBase):
    """A stream that hands out at most ``step`` bytes a read (a pipe, a socket)."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.at, self.asked = data, step, 0, []

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.asked.append(n)
        piece = self.data[self.at : self.at + min(n, self.step)]
        self.at += len(piece)
        return piece


@pytest.mark.parametrize("size", [0, 1, 99_999, 100_000, 300_000])
def test_short_reads_are_read_past_and_the_limit_holds(size):
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    stream = Trickle(data, 7_777)
    assert text.read_bounded(stream, 300_000) == data
    assert text.read_bounded(Trickle(data, 7_777), size) == data
    if size:
        with pytest.raises(text.TooLarge):
            text.read_bounded(Trickle(data, 7_777), size - 1)


def test_a_bottomless_stream_costs_the_limit_and_no_more():
    class Bottomless(Trickle):
        def read(self, n: int = -1) -> bytes:
            self.asked.append(n)
            return b"y" * n

    stream = Bottomless(b"", 0)
    with pytest.raises(text.TooLarge):
        text.read_bounded(stream, 1_000_000)
    assert sum(stream.asked) == 1_000_001
    assert stream.asked[0] == text._FIRST_READ  # not the whole limit up front


def test_a_regular_file_is_read_in_one_piece_of_its_size(tmp_path):
    class Recording(io.BufferedReader):
        def read(self, n=-1):
            self.asked.append(n)
            return super().read(n)

    path = tmp_path / "doc.txt"
    path.write_bytes(b"z" * 300_000)
    with Recording(io.FileIO(path, "rb")) as stream:
        stream.asked = []
        stream.read(1000)  # a reader that has looked at the start already (a BOM, a format sniff)
        assert text.read_bounded(stream, 1_000_000) == b"z" * 299_000
    assert stream.asked[1] == 299_001  # its size and one byte: not the limit, not 64 KB pieces
