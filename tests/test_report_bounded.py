"""The readable views stay bounded however many pairs a result holds (issue #14): the
terminal view and the HTML page read the pairs once, as a stream, and keep only what
they show; the HTML page says what it left out."""

import io
import tracemalloc
from collections.abc import Sequence

import pytest

from dedup.corpus import DocumentInfo
from dedup.report import TextOptions, write_report
from dedup.results import Group, Location, Pair, ScanResult


class Streamed(Sequence):
    """``n`` pairs made as they are iterated (as a scan's are); reading them by index,
    or iterating twice, is an error here: a writer must stream them once."""

    def __init__(self, make, n):
        self.make, self.n, self.passes = make, n, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        raise AssertionError("pairs read by index")

    def __iter__(self):
        self.passes += 1
        assert self.passes == 1, "pairs iterated twice"
        return (self.make(i) for i in range(self.n))


CLUSTERS, SIZE = 30, 40  # all pairs of each cluster: 30 * 780 = 23,400 pairs


def big_result(every_pair=True):
    """``CLUSTERS`` groups of ``SIZE`` members, with every pair of each group or (not
    ``every_pair``) only the pairs that chain its members, ``SIZE - 1`` a group."""
    locs = [[Location(f"c{c}/{k}.txt", 0, 0, 120, f"cluster {c} text {k} words here", 120) for k in range(SIZE)]
            for c in range(CLUSTERS)]
    index = [(a, b) for a in range(SIZE) for b in range(a + 1, SIZE) if every_pair or b == a + 1]

    def make(i):
        c, (a, b) = i // len(index), index[i % len(index)]
        return Pair("paragraph", 0.5 + (b - a) / 100, (0.6, 0.6), 0.5, locs[c][a], locs[c][b])

    docs = [DocumentInfo(loc.path, 120, 1, utf8_bytes=120) for cluster in locs for loc in cluster]
    groups = [Group("paragraph", cluster[0], tuple(cluster)) for cluster in locs]
    return ScanResult({"threshold": 0.3, "doc_threshold": 0.3}, docs, Streamed(make, CLUSTERS * len(index)), groups)


def peak_of(result, fmt, **options):
    out = io.StringIO()
    tracemalloc.start()
    write_report(result, fmt, out, TextOptions(**options))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, out.getvalue()


def test_text_and_html_stream_the_pairs_once_and_keep_what_they_show():
    tracemalloc.start()
    listed = list(iter(big_result().pairs))
    _, list_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(listed) == 23_400
    del listed
    # What the views hold is bounded by what they show (2 pairs per group in the text,
    # 10 on the HTML page), not by the number of pairs: the same groups with 20 times
    # the pairs leave their peak about where it was, while a list of the pairs grows
    # with them.
    for fmt, options in (("text", {}), ("html", {}), ("text", {"max_groups": 0})):
        small, _ = peak_of(big_result(every_pair=False), fmt, **options)
        large, _ = peak_of(big_result(), fmt, **options)
        assert large < 1.5 * small, (fmt, options, small, large, list_peak)
        assert fmt == "html" or large < list_peak / 2, (fmt, options, large, list_peak)
    _, text = peak_of(big_result(), "text")
    assert "Paragraph duplicates: 30 groups, 23,400 pairs" in text
    assert "… 10 more paragraph groups (400 copies) not shown" in text
    assert "(140,400 bytes duplicated, 97.5 % of the text), 23,400 pairs" in text


def test_the_html_page_says_what_it_left_out_and_where_to_find_it():
    _, page = peak_of(big_result(), "html", max_groups=20)
    note = page[page.index('<p id="left-out"'):]
    note = note[:note.index("</p>")]
    assert "10 smaller groups (400 copies)" in note
    assert "15,400 pairs of the groups shown" in note  # 20 groups of 780 pairs, 10 carried each
    assert "--format json|jsonl|csv" in note
    assert page.count('"more_pairs":770') == 20
    _, everything = peak_of(big_result(), "html", max_groups=0)
    assert "smaller groups" not in everything and "23,100 pairs of the groups shown" in everything


def test_a_scans_documents_are_columns_read_back_as_document_infos(tmp_path):
    # #15: a scan's client keeps every document the report lists -- as columns
    # (DocumentTable), ~60 bytes a document here, where DocumentInfo objects took
    # ~260 -- and reads back exactly the DocumentInfo it was given, odd names included.
    import pickle

    from dedup import scan
    from dedup.corpus import DocumentTable

    docs = [DocumentInfo(f"shard-{i // 1000:04d}.jsonl#doc{i:07d}", 1500 + i % 700, 10, "file", 1500 + i % 700)
            for i in range(20_000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    table = DocumentTable.concat([DocumentTable.of(docs[i : i + 2500]) for i in range(0, len(docs), 2500)])
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert size < 80 * len(docs), size
    assert list(table) == docs and table[-1] == docs[-1] and table[5:9] == docs[5:9]
    assert table.paths[7] == docs[7].path and len(table.paths) == len(docs)
    assert table.paths[-1] == docs[-1].path
    for outside in (len(docs), -len(docs) - 1):  # a list's bounds (paths[-len-1] gave the last path)
        with pytest.raises(IndexError):
            table.paths[outside]
        with pytest.raises(IndexError):
            table[outside]
    odd = [DocumentInfo("caf\udce9.txt", 3, 1, "html", None), DocumentInfo("é/ü.md", 1, 1)]
    both = DocumentTable.concat([DocumentTable.of(odd), DocumentTable.of([]), pickle.loads(pickle.dumps(DocumentTable.of(odd)))])
    assert list(both) == odd + odd

    (tmp_path / "a.txt").write_text("One paragraph of text here.\n\nAnd a second one, longer than that.\n")
    (tmp_path / "b.txt").write_text("One paragraph of text here.\n")
    result = scan(tmp_path)
    assert isinstance(result.documents, DocumentTable)
    assert [(d.path, d.paragraphs, d.text_source) for d in result.documents] == [("a.txt", 2, "file"), ("b.txt", 1, "file")]
