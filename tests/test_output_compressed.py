"""``-o FILE`` with a compressed suffix (``.gz``, ``.bz2``, ``.xz``, ``.zst``: what the
readers decompress) writes the report compressed, in the format the suffix under it
names: ``report.json.gz`` is gzipped JSON.

New user's N30 of session 17: ``dedup scan fixtures -o r.json.gz`` wrote the *text*
report, uncompressed, into a file named ``.json.gz``; a nightly job writing
``report.json.gz`` got neither JSON nor gzip."""

import bz2
import gzip
import json
import lzma

import pytest
from click.testing import CliRunner

from conftest import FIXTURES
from dedup.cli import main


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


OPEN = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress, ".zst": _zstd}


def _run(*args):
    return CliRunner().invoke(main, ["scan", str(FIXTURES), "--no-cache", *args])


@pytest.mark.parametrize("name, fmt", [("r.json.gz", "json"), ("r.csv.bz2", "csv"), ("r.jsonl.xz", "jsonl"),
                                       ("r.html.zst", "html"), ("r.gz", "text"), ("r.txt.gz", "text")])
def test_a_compressed_suffix_compresses_the_format_under_it(tmp_path, name, fmt):
    target = tmp_path / name
    done = _run("-o", str(target))
    assert done.exit_code == 1, done.output
    suffix = "." + name.rsplit(".", 1)[1]
    text = OPEN[suffix](target.read_bytes()).decode("utf-8")
    plain = _run("--format", fmt, "--color", "never").stdout
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and text.count('id="data"') == 1
    else:
        assert text == plain
    if fmt == "json":
        assert json.loads(text)["summary"]["pairs"] == 9


def test_format_given_is_compressed_by_the_suffix_too(tmp_path):
    target = tmp_path / "report.out.gz"
    done = _run("--format", "json", "-o", str(target))
    assert done.exit_code == 1, done.output
    assert json.loads(gzip.decompress(target.read_bytes()))["summary"]["duplicate_documents"] == 1


def test_the_same_report_is_the_same_bytes_and_is_recorded_as_a_report(tmp_path):
    corpus = tmp_path / "news"
    corpus.mkdir()
    for f in (FIXTURES / "news").iterdir():
        (corpus / f.name).write_bytes(f.read_bytes())
    target = corpus / "report.json.gz"
    first = CliRunner().invoke(main, ["scan", str(corpus), "-o", str(target)])
    data = target.read_bytes()
    assert json.loads(gzip.decompress(data))["documents"]
    again = CliRunner().invoke(main, ["scan", str(corpus), "-o", str(target)])
    assert first.exit_code == again.exit_code == 1, again.output
    assert target.read_bytes() == data  # no time stamp in the gzip header
    other = CliRunner().invoke(main, ["scan", str(corpus), "--format", "json"])
    warnings = json.loads(other.stdout)["warnings"]
    assert [w["path"] for w in warnings] == ["report.json.gz"]  # left out: a report dedup wrote


def test_a_parquet_folder_with_a_compressed_suffix_is_refused(tmp_path):
    done = _run("-o", str(tmp_path / "pairs.parquet.gz"))
    assert done.exit_code == 2 and "folder" in done.stderr
    assert not (tmp_path / "pairs.parquet.gz").exists()
