"""The SQL statements a check costs (SQLite): what a read snapshot cannot change is read
once in it -- the bucket rows stored since the bucket file, the log of handed-over
bands, the boilerplate tallies' meta values -- and read again in the next transaction."""

from __future__ import annotations

import re
from collections import Counter

from storage_contract import KEEP_ALL, article

from dedup import Index


def _statements(idx: Index) -> Counter:
    """Statements run on the index's connection from now on, numbers and ``IN`` lists elided."""
    seen: Counter = Counter()
    idx._store._conn.set_trace_callback(  # noqa: SLF001 -- the connection under test
        lambda sql: seen.update([re.sub(r"-?\d+", "N", re.sub(r"IN \([^)]*\)", "IN (..)", sql))]))
    return seen


def test_a_check_reads_what_its_snapshot_holds_once_and_the_next_one_sees_new_rows(tmp_path):
    path = str(tmp_path / "i.dedup")
    text = article(3)
    with Index.open(path, policy=KEEP_ALL) as idx, Index.open(path, policy=KEEP_ALL) as other:
        idx.add_many([(f"d{i}", article(10 + i)) for i in range(4)])
        idx.add(article(20) + "\n\n" + text, "held")  # (shares paragraphs with ``text``)
        seen = _statements(idx)
        with idx.snapshot():
            first = idx.check(text)
            other.add(text, "late")  # committed while the snapshot is open: not seen in it
            again = idx.check(text)
        caught_up = sum(n for sql, n in seen.items() if re.search(r"FROM (paragraphs|documents) AS r WHERE id > N", sql))
        log = sum(n for sql, n in seen.items() if sql.startswith("SELECT seq, level, id, row_check FROM heirs"))
        judged = sum(n for sql, n in seen.items() if "key = 'judged'" in sql)
        assert (caught_up, log, judged) == (2, 2, 1), seen  # once per level (paragraph, document) / value
        assert again.to_dict() == first.to_dict()
        assert "late" not in {m.doc_id for m in first.matches}
        assert "late" in {m.doc_id for m in idx.check(text).matches}  # a new snapshot reads the new rows
