"""The readable views stay bounded however many pairs a result holds (issue #14): the
terminal view and the HTML page read the pairs once, as a stream, and keep only what
they show; the HTML page says what it left out."""

import io
import tracemalloc
from collections.abc import Sequence

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


CLUSTERS, SIZE = 400, 40  # all pairs of each cluster: 400 * 780 = 312,000 pairs


def big_result():
    locs = [[Location(f"c{c}/{k}.txt", 0, 0, 120, f"cluster {c} text {k} words here", 120) for k in range(SIZE)]
            for c in range(CLUSTERS)]
    pairs_per = SIZE * (SIZE - 1) // 2
    index = [(a, b) for a in range(SIZE) for b in range(a + 1, SIZE)]

    def make(i):
        c, (a, b) = divmod(i, pairs_per)[0], index[i % pairs_per]
        return Pair("paragraph", 0.5 + (b - a) / 100, (0.6, 0.6), 0.5, locs[c][a], locs[c][b])

    docs = [DocumentInfo(loc.path, 120, 1, utf8_bytes=120) for cluster in locs for loc in cluster]
    groups = [Group("paragraph", cluster[0], tuple(cluster)) for cluster in locs]
    return ScanResult({"threshold": 0.3, "doc_threshold": 0.3}, docs, Streamed(make, CLUSTERS * pairs_per), groups)


def peak_of(result, fmt, **options):
    out = io.StringIO()
    tracemalloc.start()
    write_report(result, fmt, out, TextOptions(**options))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, out.getvalue()


def test_text_and_html_stream_the_pairs_once_and_keep_what_they_show():
    # A list of the 312,000 pairs alone would take ~20 MB (a pointer and a Pair of
    # ~64 bytes each); the views stay far below, with the default caps and with all
    # 400 groups shown.
    for fmt, options in (("text", {}), ("html", {}), ("text", {"max_groups": 0})):
        peak, report = peak_of(big_result(), fmt, **options)
        assert peak < 8e6, (fmt, options, peak)
    _, text = peak_of(big_result(), "text")
    assert "Paragraph duplicates: 400 groups, 312,000 pairs" in text
    assert "… 380 more paragraph groups (15,200 copies) not shown" in text
    assert "(1,872,000 bytes duplicated, 97.5 % of the text), 312,000 pairs" in text


def test_the_html_page_says_what_it_left_out_and_where_to_find_it():
    _, page = peak_of(big_result(), "html", max_groups=30)
    note = page[page.index('<p id="left-out"'):]
    note = note[:note.index("</p>")]
    assert "370 smaller groups (14,800 copies)" in note  # 400 - 30 groups of 40
    assert "23,100 pairs of the groups shown" in note  # 30 groups of 780 pairs, 10 carried each
    assert "--format json|jsonl|csv" in note
    assert page.count('"more_pairs":770') == 30
    _, everything = peak_of(big_result(), "html", max_groups=0)
    assert "370 smaller groups" not in everything and "308,000 pairs of the groups shown" in everything
