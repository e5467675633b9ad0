"""A JSON Lines line longer than ``--max-document-size`` is skipped to its end, but not
forever: ``dedup scan - --stdin-format jsonl < /dev/zero`` read on and never ended,
saying nothing (tester T2, session 24)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from dedup import scan
from dedup.readers import ReadOptions, read_stdin
from dedup.readers.jsonl import LONG_LINE_SKIPPED

GOOD = "A perfectly ordinary paragraph of text that should always be read and scanned."

class Zeros(io.RawIOBase):
    """An endless stream of NUL bytes (as ``/dev/zero``), that counts what is read and
    fails past ``most`` bytes (so that reading on forever fails instead of hanging)."""

    def __init__(self, most: int):
        self.read_so_far, self.most = 0, most

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.read_so_far > self.most:
            raise AssertionError("read on past the bound")
        buffer[:] = bytes(len(buffer))
        self.read_so_far += len(buffer)
        return len(buffer)


def test_a_line_without_an_end_stops_the_reading():
    limit = 1000
    stream = Zeros(most=64 << 20)
    items = list(read_stdin(ReadOptions(stdin_format="jsonl", max_document=limit), io.BufferedReader(stream)))
    assert len(items) == 1 and items[0].path == "<stdin>:1"
    assert f"no line end within {LONG_LINE_SKIPPED * limit:,} bytes" in items[0].error
    assert "the rest of the file is not read" in items[0].error
    assert stream.read_so_far <= LONG_LINE_SKIPPED * limit + (2 << 20)  # one skip chunk and a buffer over


def test_a_long_line_that_ends_is_skipped_and_the_rest_read(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text('{"id": "x", "text": "' + "a" * 5000 + '"}\n' + json.dumps({"id": "y", "text": GOOD}) + "\n")
    result = scan(path, read_options=ReadOptions(max_document=1000))
    assert [d.path for d in result.documents] == ["long.jsonl#y"] and "longer than 1,000 bytes" in result.errors[0].error


def test_dev_zero_on_stdin_as_json_lines_ends_with_an_error():
    with open("/dev/zero", "rb") as zero:
        done = subprocess.run([sys.executable, "-m", "dedup", "scan", "-", "--stdin-format", "jsonl", "-q"],
                              stdin=zero, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no line end within" in done.stdout + done.stderr
