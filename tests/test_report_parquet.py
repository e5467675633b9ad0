"""The Parquet report (``--format parquet -o FOLDER``) holds what the JSON report holds:
besides ``pairs`` and ``groups``, the ``documents``, the read ``errors``, the
``warnings``, the ``boilerplate`` texts and the ``summary`` -- and names that are not
valid UTF-8, as JSON gives them.

New user's N15 of session 17: a scan with 3 unreadable files said on stderr "3 documents
could not be read (listed in the report)", but the Parquet folder held only ``pairs/``
and ``groups/``: a CI job following the README's advice ("checks the report's
``errors``") could not with Parquet."""

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from conftest import FIXTURES
from dedup.cli import main

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")


def _scan(corpus, out, *extra):
    args = ["scan", str(corpus), "--no-cache", *extra]
    as_json = json.loads(CliRunner().invoke(main, args + ["--format", "json", "-q"]).stdout)
    done = CliRunner().invoke(main, args + ["--format", "parquet", "-o", str(out), "-q"])
    return done, as_json


def _rows(frame):
    return [{k: (None if (not isinstance(v, (bytes, str)) and pd.isna(v)) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def test_errors_warnings_documents_and_summary_are_tables(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES, corpus)
    (corpus / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (corpus / "latin1.txt").write_bytes(b"caf\xe9 au lait")
    (corpus / "feed.jsonl").write_text('{"id": "w1", "text": "one"}\n{"id": "w1", "text": "two"}\nnot json\n',
                                       encoding="utf-8")
    out = tmp_path / "report"
    done, as_json = _scan(corpus, out)
    assert done.exit_code == 1, done.output
    assert "3 documents could not be read (listed in the report)" in done.stderr
    assert {"pairs", "groups", "documents", "errors", "warnings", "boilerplate", "summary"} <= set(os.listdir(out))

    errors = _rows(pd.read_parquet(out / "errors"))
    assert [(e["path"], e["error"]) for e in errors] == [(e["path"], e["error"]) for e in as_json["errors"]]
    assert len(errors) == 3 and all(e["path_bytes"] is None for e in errors)
    warnings = _rows(pd.read_parquet(out / "warnings"))
    assert [(w["path"], w["warning"]) for w in warnings] == [(w["path"], w["warning"]) for w in as_json["warnings"]]
    assert warnings  # the repeated id
    documents = _rows(pd.read_parquet(out / "documents"))
    assert [{k: d[k] for k in ("path", "paragraphs", "chars", "text_source")} for d in documents] == as_json["documents"]
    summary = _rows(pd.read_parquet(out / "summary"))
    assert len(summary) == 1 and json.loads(summary[0].pop("settings")) == as_json["settings"]
    assert {k: v for k, v in summary[0].items()} == as_json["summary"]


def test_boilerplate_is_a_table(tmp_path):
    corpus = tmp_path / "site"
    corpus.mkdir()
    footer = "Sign up for our newsletter to get the best of the week's stories delivered to your inbox every Friday."
    for i in range(12):
        story = " ".join(f"word{i}x{j}" for j in range(40))
        (corpus / f"story-{i:02d}.txt").write_text(f"{story}\n\n{footer}\n", encoding="utf-8")
    out = tmp_path / "report"
    done, as_json = _scan(corpus, out)
    assert done.exit_code in (0, 1), done.output
    rows = _rows(pd.read_parquet(out / "boilerplate"))
    assert as_json["boilerplate"] and [
        {"path": r["path"], "paragraph": r["paragraph"], "start": r["start"], "end": r["end"],
         "documents": r["documents"], "copies": r["copies"], "text": r["text"]} for r in rows] == [
        {**b["canonical"], "documents": b["documents"], "copies": b["copies"], "text": b["text"]}
        for b in as_json["boilerplate"]]


def test_a_file_name_that_is_not_utf8_is_written_with_its_bytes(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = (FIXTURES / "news" / "port-strike.txt").read_bytes()
    (corpus / "port-strike.txt").write_bytes(text)
    odd = os.fsencode(str(corpus)) + b"/caf\xe9.txt"
    with open(odd, "wb") as f:
        f.write(text)
    out = tmp_path / "report"
    done, as_json = _scan(corpus, out)
    assert done.exit_code == 1, done.output
    pairs = _rows(pd.read_parquet(out / "pairs"))
    document = next(p for p in pairs if p["kind"] == "document")
    assert document["a_path"] == "caf\ufffd.txt" and document["a_path_bytes"] == b"caf\xe9.txt"
    assert document["b_path"] == "port-strike.txt" and document["b_path_bytes"] is None
    groups = _rows(pd.read_parquet(out / "groups"))
    assert {(g["path"], g["path_bytes"]) for g in groups} == {("caf\ufffd.txt", b"caf\xe9.txt"), ("port-strike.txt", None)}
    documents = _rows(pd.read_parquet(out / "documents"))
    assert [(d["path"], d["path_bytes"]) for d in documents] == [("caf\ufffd.txt", b"caf\xe9.txt"),
                                                                 ("port-strike.txt", None)]
