"""Exact copies never need tokens: empty, whitespace-only, emoji-only, symbol-only and
short texts are exact duplicates in a scan (the index's side: test_index_short.py)."""

from dedup import Document, scan_documents
from dedup.readers import read_bytes


def pairs(docs, levels=("document", "paragraph")):
    result = scan_documents([Document(k, v) for k, v in docs.items()], levels=list(levels))
    return {(p.kind, p.a.path, p.a.paragraph, p.b.path, p.b.paragraph, p.exact, p.similarity) for p in result.pairs}


def test_token_less_identical_files_are_document_duplicates():
    docs = {"e1": "😀🎉\n", "e2": "😀🎉", "s1": "* * *\n", "s2": "  * * *  ", "x": "😀😀"}
    assert pairs(docs, ["document"]) == {
        ("document", "e1", None, "e2", None, True, 1.0),
        ("document", "s1", None, "s2", None, True, 1.0),
    }


def test_empty_and_whitespace_only_files_are_documents_and_copies_of_each_other():
    docs = {"a": "", "b": " \n\n\t\n", "c": "\u2029", "d": "text"}
    assert pairs(docs) == {("document", "a", None, "b", None, True, 1.0), ("document", "a", None, "c", None, True, 1.0)}
    result = scan_documents([Document(k, v) for k, v in docs.items()])
    assert [(d.path, d.paragraphs, d.chars) for d in result.documents] == [("a", 0, 0), ("b", 0, 5), ("c", 0, 1), ("d", 1, 4)]
    [group] = [g for g in result.groups if g.kind == "document"]
    assert [m.path for m in group.members] == ["a", "b", "c"]
    assert (group.canonical.start, group.canonical.end) == (0, 0)


def test_short_and_symbol_paragraphs_are_exact_duplicates_at_paragraph_level():
    a = "Markets rallied on Monday as investors cheered the new trade deal.\n\n* * *\n\nAdvertisement"
    b = "A different story entirely, about rain and the harvest this autumn.\n\n* * *\n\nADVERTISEMENT"
    found = pairs({"a": a, "b": b}, ["paragraph"])
    assert found == {("paragraph", "a", 1, "b", 1, True, 1.0), ("paragraph", "a", 2, "b", 2, True, 1.0)}


def test_short_near_duplicates_are_not_matched():
    found = pairs({"a": "Shares fell 3 percent.", "b": "Shares fell 4 percent."})
    assert found == set()


def test_cjk_and_emoji_exact_copies_in_json_records():
    data = ('{"id": 1, "text": "🙂"}\n{"id": 2, "text": "🙂"}\n'
            '{"id": 3, "text": "好。"}\n{"id": 4, "text": "好。"}\n').encode()
    docs = list(read_bytes(data, "x.jsonl"))
    result = scan_documents(docs, levels=["document"])
    assert {(p.a.path, p.b.path) for p in result.pairs} == {("x.jsonl#1", "x.jsonl#2"), ("x.jsonl#3", "x.jsonl#4")}
