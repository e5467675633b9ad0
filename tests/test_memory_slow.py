"""Memory per file stays bounded on large hostile files (``pytest -m slow``: they write
hundreds of MB).  Each file is scanned alone by a fresh ``dedup`` process whose peak RSS
is read from ``wait4``.  Before the per-file bounds a 200 MB one-line text peaked at
3.6 GB and a 4 MB ``.gz`` holding 900 MiB at 9.8 GB."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys

import pytest
from textgen import one_line_paragraphs

pytestmark = pytest.mark.slow

LINE = (b"the council said the harbour bridge would reopen after the storm and the "
        b"minister promised a budget for the railway station ") * 100
BOUND_MB = 700  # the interpreter and numpy (~100 MB) plus one document at the 16 MiB limit


def peak_rss_mb(*args: str) -> tuple[int, dict]:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from dedup.cli import main; sys.exit(main())",
                             "scan", *args, "-j", "1", "--no-cache", "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_maxrss // 1024, json.loads(out)


def test_a_200_mb_one_line_text(tmp_path):
    path = tmp_path / "one-line.txt"
    with open(path, "wb") as out:
        for _ in range((200 << 20) // len(LINE)):
            out.write(LINE)
    rss, report = peak_rss_mb(str(path))
    assert "--max-document-size" in report["errors"][0]["error"]
    assert rss < BOUND_MB


def test_a_gzip_bomb_of_900_mib(tmp_path):
    path = tmp_path / "bomb.txt.gz"
    block = LINE * ((1 << 20) // len(LINE))
    with gzip.open(path, "wb") as out:
        for _ in range(900):
            out.write(block)
    assert path.stat().st_size < 8 << 20
    rss, report = peak_rss_mb(str(path))
    assert "--max-document-size" in report["errors"][0]["error"]
    assert rss < BOUND_MB


def test_a_large_json_lines_gzip_is_streamed_and_read_whole(tmp_path):
    path = tmp_path / "records.jsonl.gz"
    rng = random.Random(5)
    words = LINE.decode().split()
    with gzip.open(path, "wt") as out:
        for i in range(4000):  # ~20 MiB of records, 20 times the per-document limit below
            out.write(json.dumps({"id": f"r{i}", "text": " ".join(rng.choices(words, k=900))}) + "\n")
    rss, report = peak_rss_mb(str(path), "--max-document-size", "1M")
    assert len(report["documents"]) == 4000 and report["errors"] == []
    assert rss < 2 * BOUND_MB  # the scan holds what it read; the reader adds no file-sized copy


SIGN = """
import resource, sys
from pathlib import Path
from dedup.plan.scratch import Scratch
from dedup.plan.sign import ShardTask, batches, sign_shard
from dedup.readers import Document
from dedup.settings import Settings
text = open(sys.argv[1]).read()
info = sign_shard(Scratch(Path(sys.argv[2])), ShardTask(0, list(batches([Document("x", text)]))), Settings())
print(info.items["paragraph"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.mark.parametrize("megabytes", [16, 64])
def test_signing_a_file_of_a_million_short_paragraphs_is_bounded(tmp_path, megabytes):
    """U2 of #12: signing one 16 MB file of a million one-line paragraphs peaked at
    2.8 GB (~2.8 KB a paragraph, all of them at once); signed a chunk of paragraphs at a
    time, the signing stage holds the text and one chunk -- well under the bound for
    16 MB, and 64 MB (four million paragraphs) costs about the text's extra bytes, not
    another 2.8 KB a paragraph."""
    path = tmp_path / "lines.txt"
    one_line_paragraphs(path, megabytes << 20)
    out = subprocess.run([sys.executable, "-c", SIGN, str(path), str(tmp_path / "scratch")],
                         capture_output=True, text=True, check=True).stdout.split()
    paragraphs, rss = int(out[0]), int(out[1])
    assert paragraphs > (megabytes << 20) // 17
    assert rss < BOUND_MB + 8 * megabytes, (paragraphs, rss)
