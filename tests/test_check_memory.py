"""``dedup check`` holds a bounded amount per document (tester's F10 of session 16: 13 MB
of 400,000 one-line paragraphs took 2.27 GB in ``check``, 546 MB in ``scan``).

Counted with :mod:`tracemalloc` (numpy reports its arrays to it), in this process: what
the index's look-up of one long article allocates above what it starts with, and
what the JSON report of many verdicts allocates while it is written.  The large
version (a fresh ``dedup check`` process, its peak RSS read from ``wait4``) is behind
the ``slow`` marker; ``benchmarks/README-memory.md`` has the figures."""

from __future__ import annotations

import io
import random
import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from textgen import one_line_paragraphs

import dedup.index.query as query
import dedup.index.signing
import dedup.plan.sign
from dedup.index import Index
from dedup.index.matches import MAX_COPIES
from dedup.verdict import Policy
from dedup.index.signing import sign
from dedup.corpus import sign_documents
from dedup.readers import Document
from dedup.report import write_verdicts
from dedup.settings import Settings
from dedup.verdict import Verdict, VerdictReport


@pytest.fixture
def index(tmp_path):
    path = tmp_path / "i.dedup"
    with Index.open(path) as idx:
        idx.add("the council met on tuesday to discuss the budget for the harbour bridge and its repairs", "a")
    return path


def traced_peak(fn):
    """``fn()`` and the peak bytes :mod:`tracemalloc` counted while it ran (started
    for it, stopped after)."""
    tracemalloc.start()
    try:
        return fn(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _peak_inside(monkeypatch, module, name) -> list[int]:
    """Bytes allocated above the start of each call of ``module.name``, at its peak."""
    real, peaks = getattr(module, name), []

    def counted(*args, **kwargs):
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        try:
            return real(*args, **kwargs)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1] - start)
    monkeypatch.setattr(module, name, counted)
    return peaks


def test_the_copies_of_a_long_articles_matches_are_held_as_places(backend, monkeypatch):
    """An article whose paragraphs are stored many times over: its check lists each
    matched text's oldest MAX_COPIES copies, and holds their places (~50 bytes a row),
    not their rows (a signature, 1 KB at 256 permutations, and a shingle set each:
    ~64 KB a paragraph of the look-up at 17 copies; session 23, #12 per-file memory)."""
    rng = random.Random(3)
    words = [f"w{i}" for i in range(5000)]
    paragraphs = 600
    text = "\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(paragraphs))
    with Index.open(backend.url, policy=Policy("flag", add_duplicates=True)) as idx:
        for copy in range(MAX_COPIES + 1):
            idx.add(text, f"c{copy}")
        peaks = _peak_inside(monkeypatch, query, "paragraph_matches")
        (verdict,), _ = traced_peak(lambda: idx.check_many([{"id": "q", "text": text}]))
    assert verdict.flagged and len(verdict.matches) == MAX_COPIES
    assert all(m.exact and len(m.paragraphs) == paragraphs for m in verdict.matches)
    # Was ~64 KB a paragraph (SQLite; Redis also derived each copy's signature); now
    # ~12 KB: the look-up's own candidates, signatures and sets of the paragraphs checked.
    assert peaks and max(peaks) < 30_000 * paragraphs, max(peaks)


def test_the_look_up_of_a_long_article_works_a_chunk_at_a_time(index, tmp_path, monkeypatch):
    path = tmp_path / "lines.txt"
    one_line_paragraphs(path, 640_000)  # ~40k one-line paragraphs in one article
    text = path.read_text()
    monkeypatch.setattr(query, "CANDIDATE_CHUNK", 2048, raising=False)
    peaks = _peak_inside(monkeypatch, query, "paragraph_matches")
    with Index.open(index, readonly=True) as idx:
        (verdict,), _ = traced_peak(lambda: idx.check_many([{"id": "long", "text": text}]))
    paragraphs = verdict.paragraphs
    assert paragraphs > 39_000 and not verdict.flagged
    # Was ~3.4 KB a paragraph at once (band keys, sketches, signature copies of all of
    # them); now a chunk's worth plus a few numbers a paragraph.
    assert peaks and max(peaks) < 200 * paragraphs + (20 << 20)


def test_the_json_report_writes_verdicts_a_chunk_at_a_time():
    n = 50_000
    judged = [(Document(f"docs/{i}.txt", ""),
               Verdict(f"docs/{i}.txt", "flag", chars=100, paragraphs=1)) for i in range(n)]
    report = VerdictReport("i.dedup", Settings(), judged, [])
    out = io.StringIO()
    write_verdicts(report, "json", out)
    assert len(json.loads(out.getvalue())["verdicts"]) == n
    _, peak = traced_peak(lambda: write_verdicts(report, "json", _Discard()))
    # Was a list of every verdict's dict, then one string of them all: 83 MB here
    # (main cfd92fa); now a chunk of them at a time besides the report's documents
    # and pairs (~0.4 KB a document, as a scan's report holds them): 19 MB.
    assert peak < 40 << 20


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


@pytest.mark.slow
def test_a_check_of_a_13_mb_article_of_one_line_paragraphs(index, tmp_path):
    path = tmp_path / "lines.txt"
    one_line_paragraphs(path, 13 << 20)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from dedup.cli import main; sys.exit(main())",
                             "check", "--db", str(index), str(path), "--format", "json", "-j", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert json.loads(out)["verdicts"][0]["paragraphs"] > 800_000
    assert usage.ru_maxrss // 1024 < 900  # MB; was 4,649 (main cfd92fa), 1,469 at d9cb501, 561 at d54aa7a


def test_a_long_article_is_signed_a_chunk_of_paragraphs_at_a_time(tmp_path, monkeypatch):
    path = tmp_path / "lines.txt"
    one_line_paragraphs(path, 640_000)  # ~40k one-line paragraphs in one article
    text = path.read_text()
    monkeypatch.setattr(dedup.plan.sign, "CHUNK_PARAGRAPHS", 2048)
    signed_at_once = []
    for module in (dedup.plan.sign, dedup.index.signing):
        real = module.sign_documents
        monkeypatch.setattr(module, "sign_documents", lambda docs, s, real=real: (
            signed_at_once.append(sum(d.text.count("\n") for d in docs)) or real(docs, s)))
    signed = sign(["a short article", text, "another short one"], Settings())
    # Signing's temporaries (split, normalized text, shingles, MinHash) were a whole
    # article's: 1.1 GB above what it kept for 850k one-line paragraphs (RSS).
    assert max(signed_at_once) <= 2048
    # ... and the same corpus as signing it whole
    whole, c = sign_documents([Document("1", text)], Settings()), signed.corpus
    assert whole.paragraphs > 39_000 and len(c.documents) == 3 and c.documents[1] == whole.documents[0]
    lo, hi = signed.first[1], signed.first[2]
    for name in ("para_index", "para_start", "para_end", "para_words", "para_key", "signatures"):
        assert np.array_equal(getattr(c, name)[lo:hi], getattr(whole, name)), name
    assert c.para_preview[lo:hi] == whole.para_preview


def test_a_check_of_a_long_article_holds_no_paragraph_signatures(index, tmp_path, monkeypatch):
    path = tmp_path / "lines.txt"
    one_line_paragraphs(path, 640_000)  # ~40k one-line paragraphs in one article
    text = path.read_text()
    monkeypatch.setattr(dedup.plan.sign, "CHUNK_PARAGRAPHS", 2048)
    monkeypatch.setattr(query, "CANDIDATE_CHUNK", 2048)
    with Index.open(index, readonly=True) as idx:
        idx.check("warm up the imports and the storage")
        (verdict,), peak = traced_peak(lambda: idx.check_many([{"id": "long", "text": text}]))
    assert verdict.paragraphs > 39_000 and not verdict.flagged
    # A check held each paragraph's signature (1 KB at 256 permutations) besides its
    # shingles, sets and spans: 63.6 MB at the peak here (main 7a359f5), ~1.6 KB a
    # paragraph; now its shingles, sets and spans and a chunk's signatures: 19.8 MB.
    assert peak < 700 * verdict.paragraphs


def test_a_check_without_paragraph_signatures_finds_what_one_with_them_finds(tmp_path, monkeypatch):
    # A long article that repeats, contains and rewrites stored ones, checked with its
    # paragraph signatures held (as an add signs it) and without (a check), in chunks.
    from dedup.index.items import input_of
    from dedup.index.run import decide, prepare
    monkeypatch.setattr(dedup.plan.sign, "CHUNK_PARAGRAPHS", 512)
    monkeypatch.setattr(query, "CANDIDATE_CHUNK", 700)
    rng = np.random.default_rng(3)
    words = np.array("the council met on tuesday to discuss a budget for harbour bridge repairs before "
                     "winter storms closed roads across northern valleys".split())
    paras = [" ".join(rng.choice(words, 12)) for _ in range(3000)]
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add("\n\n".join(paras[:1500]), "s")
        idx.add("\n\n".join(paras[1400:1600]), "t")
        items = [input_of({"id": "long", "text": "\n\n".join(paras[1000:3000])}),
                 input_of({"id": "short", "text": "\n\n".join(paras[:40])})]
        unheld = prepare(items, idx.settings)
        assert unheld.signed.derive is not None and not len(unheld.signed.corpus.signatures)
        with monkeypatch.context() as patch:  # (signed as a batch without a long article is)
            patch.setattr(dedup.index.signing, "may_be_long", lambda doc: False)
            held = prepare(items, idx.settings)
        assert held.signed.derive is None and len(held.signed.corpus.signatures)
        assert np.array_equal(unheld.signed.doc_signatures, held.signed.doc_signatures)
        first, second = decide(idx._store, unheld, idx.policy, False), decide(idx._store, held, idx.policy, False)
    assert first == second
    assert first[0].matches and first[0].seen and first[1].is_duplicate


def test_the_row_checksums_of_a_long_text_work_a_block_at_a_time(monkeypatch):
    # Tester's F6 (session 17): `dedup index add` of one 15 MB one-line file peaked at
    # 665 MB, 2x a scan: the text's checksum took ~38 bytes a character at once
    # (UTF-32, positions, a weight per position kept for the process's life, terms).
    from dedup.storage import rowcheck

    rng = np.random.default_rng(7)
    text = "".join(map(chr, rng.integers(0x20, 0x9FFF, 2_000_000)))
    ids = np.array([3, 4, 5])
    values = rng.integers(0, 2**63, 2_500_000, dtype=np.int64).view(np.uint64)
    offsets = np.array([0, 10, 2_499_990, 2_500_000])
    checks, peak = traced_peak(lambda: rowcheck.row_checks(ids, segments=(values, offsets), texts=["a", text, ""]))
    assert peak < 20 << 20, peak  # 76 MB here on main 96086be
    assert len(rowcheck._weights) <= rowcheck.KEPT_WEIGHTS
    # ... and the same checksums, whatever the block (what every stored row was checked with)
    monkeypatch.setattr(rowcheck, "BLOCK", 997)
    assert np.array_equal(rowcheck.row_checks(ids, segments=(values, offsets), texts=["a", text, ""]), checks)
    weights = rowcheck._weights_at(np.arange(2_499_980))
    expected = (values[10:2_499_990] * weights).sum(dtype=np.uint64)
    assert rowcheck._segment_sums(values, offsets)[1] == expected


def test_a_check_of_an_article_already_stored_works_a_chunk_at_a_time(tmp_path, monkeypatch):
    # Each paragraph of an article stored already has its own stored copy and, in
    # prose, ~100 chance candidates: main 96086be verified them all at once (rows,
    # estimates, sets: 106 MB traced here, 9.3 GB for 40,000 paragraphs); now a chunk
    # of paragraphs at a time, end to end (69 MB).
    import random

    from textgen import prose

    monkeypatch.setattr(query, "CANDIDATE_CHUNK", 512)
    rng = random.Random(4)
    text = "\n\n".join(prose(rng, 30) for _ in range(6000))
    with Index.open(tmp_path / "i.dedup") as idx:
        idx.add(text, "stored")
        idx.check("warm up the look-up")
        (verdict,), peak = traced_peak(lambda: idx.check_many([{"id": "again", "text": text}]))
    assert verdict.is_duplicate and verdict.seen_share == 1.0
    assert peak < 90 << 20, peak


def _copies_index(path, copies: int = MAX_COPIES + 1, paragraphs: int = 600):
    """An index of one article of ``paragraphs`` one-line paragraphs stored ``copies``
    times, and the article."""
    rng = random.Random(3)
    words = [f"w{i}" for i in range(5000)]
    text = "\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(paragraphs))
    with Index.open(path, policy=Policy("flag", add_duplicates=True)) as idx:
        idx.load([(f"c{copy}", text) for copy in range(copies)])
    return text


def test_the_stored_documents_sets_are_read_and_united_a_block_at_a_time(tmp_path, monkeypatch):
    """The whole-document scores of an article matched in 17 stored copies of itself
    read the copies' paragraph rows all at once as Python tuples and sorted all their
    shingles in one go (~7 arrays their size): +530 MB of a 1.6 GB check of a 2 MiB
    article (session 24, benchmarks/README-memory.md).  Now a block of rows, and about
    ``UNIQUE_BLOCK`` shingles, at a time -- the same sets."""
    import dedup.segments
    import dedup.storage.sqlite.rows as rows
    from dedup.storage.sqlite.store import SQLiteStorage

    text = _copies_index(tmp_path / "i.dedup", paragraphs=3000)
    found = {}
    real = SQLiteStorage.document_sets

    def kept(self, ids, leave_out=None):
        found["sets"] = real(self, ids, leave_out)
        return found["sets"]

    monkeypatch.setattr(SQLiteStorage, "document_sets", kept)
    with Index.open(tmp_path / "i.dedup", readonly=True) as idx:
        (whole,) = idx.check_many([{"id": "q", "text": text}])
        at_once = found.pop("sets")
        monkeypatch.setattr(rows, "COPY_BLOCK", 1024, raising=False)
        monkeypatch.setattr(dedup.segments, "UNIQUE_BLOCK", 40_000, raising=False)
        peaks = _peak_inside(monkeypatch, SQLiteStorage, "document_sets")
        (blocked,), _ = traced_peak(lambda: idx.check_many([{"id": "q", "text": text}]))
    assert blocked == whole and len(whole.matches) == MAX_COPIES
    assert np.array_equal(found["sets"].values, at_once.values)
    assert np.array_equal(found["sets"].offsets, at_once.offsets)
    shingles = len(at_once.values)  # (one per ~8-byte value of the 17 sets united)
    # Was 54.7 MB here (main ba28527: ~104 bytes a shingle of the union -- the rows'
    # tuples, the sort's arrays of all of them); now 26.6 MB (~50: the arrays of the
    # shingles read, which the union is made of, and a block's temporaries).
    assert peaks and max(peaks) < 75 * shingles, (max(peaks), shingles)


def test_a_verdicts_paragraph_matches_are_written_a_chunk_at_a_time():
    """One verdict of 17 stored copies of a long article holds ~500k paragraph matches:
    its JSON object (their dicts and its text) was built whole (session 24)."""
    from dedup.verdict import DocumentMatch, ParagraphMatch

    paragraphs = tuple(ParagraphMatch(paragraph=i, start=0, end=10, stored_paragraph=i, stored_start=0,
                                      stored_end=10, similarity=1.0, containment=(1.0, 1.0), estimate=1.0,
                                      exact=True, relation="near-duplicate") for i in range(20_000))
    matches = tuple(DocumentMatch(f"c{k}", 1.0, (1.0, 1.0), 1.0, True, 100, paragraphs, "duplicate")
                    for k in range(4))
    verdict = Verdict("q", "flag", similarity=1.0, chars=100, paragraphs=20_000, matches=matches)
    report = VerdictReport("i.dedup", Settings(), [(Document("q.txt", ""), verdict)], [])
    for fmt in ("json", "jsonl"):
        out = io.StringIO()
        write_verdicts(report, fmt, out)
        written = out.getvalue()
        line = written.splitlines()[-1] if fmt == "jsonl" else written
        got = json.loads(line)["verdicts"][0] if fmt == "json" else json.loads(line)
        assert got["matches"] == [m.to_dict() for m in matches], fmt
        report_only = VerdictReport("i.dedup", Settings(), [(Document("q.txt", ""), verdict)], [])
        _, peak = traced_peak(lambda: write_verdicts(report_only, fmt, _Discard()))
        # The pairs the report lists (80k, the scan's form) are held either way; the
        # verdict's 80k match dicts and their text are not any more: JSON was 122 MB
        # here (main ba28527), now 66 MB (JSON Lines: 65).
        assert peak < 80 << 20, (fmt, peak >> 20)
