"""The report writers agree with the JSON contract (``ScanResult.to_dict``)."""

import csv
import io
import json

from conftest import FIXTURES
from dedup import scan
from dedup.report import CSV_COLUMNS, write_report


def render(result, fmt):
    out = io.StringIO()
    write_report(result, fmt, out)
    return out.getvalue()


def test_json_writer_equals_to_dict_and_jsonl_equals_pairs():
    result = scan(FIXTURES)
    assert len(result.pairs) > 5 and any(p.exact for p in result.pairs)
    written = json.loads(render(result, "json"))
    summary = written.pop("summary")  # counted as the pairs are written (tests/test_report_summary.py)
    assert written == json.loads(json.dumps(result.to_dict()))
    assert summary["pairs"] == len(result.pairs) and summary["documents"] == len(result.documents)
    lines = [json.loads(line) for line in render(result, "jsonl").splitlines()]
    assert lines == [json.loads(json.dumps(p.to_dict())) for p in result.pairs]


def test_csv_has_one_row_per_pair():
    result = scan(FIXTURES)
    rows = list(csv.DictReader(io.StringIO(render(result, "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == len(result.pairs)
    assert {r["kind"] for r in rows} == {"document", "paragraph"}
    assert all(r["a_paragraph"] == "" for r in rows if r["kind"] == "document")
