"""Every input format finds the same duplicates as the same articles in plain text.

tests/fixtures/formats/ holds four articles (a: original; b: copies a's paragraph 2 and
rewrites its paragraph 4; c: a light rewrite of all of a; d: unrelated) as .txt, .html
(with navigation, scripts, styles, comments, hidden and aside boilerplate), .md (front
matter, links, emphasis, lists, code spans), one .jsonl and one .json file.
Compressed copies are made here from those files.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import shutil
from pathlib import Path

import pytest
import zstandard

from dedup import ReadOptions, scan
from dedup.readers import read_file

FORMATS = Path(__file__).resolve().parent / "fixtures" / "formats"
JSON_OPTIONS = ReadOptions(text_field="body", id_field="slug")
COMPRESSORS = {
    ".gz": lambda b: gzip.compress(b, mtime=0),
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".zst": lambda b: zstandard.ZstdCompressor().compress(b),
}


def article(path: str) -> str:
    """The article a report path names: ``a.html`` -> ``a``, ``x.jsonl.gz#b`` -> ``b``."""
    return path.split("#", 1)[1] if "#" in path else path.split("/")[-1].split(".", 1)[0]


def found(result) -> set[tuple]:
    """What a scan found, independent of format: pairs by article and paragraph, with
    their exact scores; and every document's paragraph count."""
    pairs = {
        (p.kind, article(p.a.path), p.a.paragraph, article(p.b.path), p.b.paragraph,
         round(p.similarity, 6), p.exact)
        for p in result.pairs
    }
    docs = {("doc", article(d.path), d.paragraphs) for d in result.documents}
    return pairs | docs


@pytest.fixture(scope="module")
def reference() -> set[tuple]:
    result = scan(FORMATS / "txt")
    assert not result.errors
    kinds = {(f[0], f[1], f[3]) for f in found(result) if f[0] != "doc"}
    # The fixtures hold what the tests are about: a copy, rewrites, a rewritten document.
    assert {("paragraph", "a", "b"), ("paragraph", "a", "c"), ("document", "a", "c")} <= kinds
    assert any(f[0] == "paragraph" and f[6] for f in found(result))
    return found(result)


@pytest.mark.parametrize("folder, options", [
    ("html", None), ("md", None), ("jsonl", None), ("json", JSON_OPTIONS),
])
def test_format_finds_the_same_pairs_as_plain_text(reference, folder, options):
    result = scan(FORMATS / folder, read_options=options)
    assert not result.errors
    assert found(result) == reference


@pytest.mark.parametrize("suffix", COMPRESSORS)
@pytest.mark.parametrize("folder", ["txt", "html", "jsonl"])
def test_compressed_files_read_as_their_inner_format(reference, tmp_path, folder, suffix):
    for source in sorted((FORMATS / folder).iterdir()):
        (tmp_path / (source.name + suffix)).write_bytes(COMPRESSORS[suffix](source.read_bytes()))
    result = scan(tmp_path)
    assert not result.errors
    assert found(result) == reference
    assert all(d.path.endswith(suffix) or f"{suffix}#" in d.path for d in result.documents)


def test_mixed_formats_in_one_folder(reference, tmp_path):
    """One article per format in one folder: the reader is chosen file by file."""
    shutil.copy(FORMATS / "html" / "a.html", tmp_path)
    shutil.copy(FORMATS / "md" / "b.md", tmp_path)
    (tmp_path / "c.txt.gz").write_bytes(gzip.compress((FORMATS / "txt" / "c.txt").read_bytes()))
    shutil.copy(FORMATS / "txt" / "d.txt", tmp_path)
    assert found(scan(tmp_path)) == reference


def paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip())]


@pytest.mark.parametrize("name", ["a", "b", "c", "d"])
def test_extracted_text_is_the_article_and_nothing_else(name):
    """Not only the same pairs: the same paragraphs, with no boilerplate."""
    expected = paragraphs((FORMATS / "txt" / f"{name}.txt").read_text("utf-8"))
    for path in (FORMATS / "html" / f"{name}.html", FORMATS / "md" / f"{name}.md"):
        [doc] = read_file(path, path.name)
        assert paragraphs(doc.text) == expected, path.name


def test_offsets_refer_to_the_extracted_text():
    result = scan(FORMATS / "html")
    texts = {d.path: d.text for d in read_file_all(FORMATS / "html")}
    copy = next(p for p in result.pairs if p.exact)
    a = texts[copy.a.path][copy.a.start : copy.a.end]
    b = texts[copy.b.path][copy.b.start : copy.b.end]
    assert a == b and a.startswith("The vessel, renamed the Reading Room") and "café" in a


def read_file_all(folder: Path):
    for path in sorted(folder.iterdir()):
        yield from read_file(path, path.name)


@pytest.mark.parametrize(
    "folder,source",
    [("txt", "file"), ("html", "extracted-html"), ("md", "extracted-markdown"), ("jsonl", "json-field")],
)
def test_the_report_says_what_offsets_count_in(folder, source):
    report = scan(FORMATS / folder, read_options=JSON_OPTIONS if folder == "json" else None).to_dict()
    assert {d["text_source"] for d in report["documents"]} == {source}
