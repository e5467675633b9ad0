"""Damage to the Redis index's texts, metadata, ``banded`` flags, ``ids`` hash and
published marks is detected, never answered from (#12's last silent Redis cases,
layout 8 -> 9).

Measured on layout 8 (main at ecde908), each without a word:

* ``t:N`` (metadata JSON + zlib text) had no checksum: ``SET t:1`` to ``t:2``'s value
  made ``get("article-0")`` return article-1's text; ``wire-2`` edited to ``wire-9`` in
  the metadata came back from ``get`` and ``index export``; a broken JSON byte gave a
  ``JSONDecodeError`` traceback, not the damage message;
* the ``banded`` byte of ``d:`` and ``p:`` records was outside their checksums: with
  the paragraph rows' flags cleared, removing the original skipped the hand-over of
  its bands, and a near-copy of it matched its surviving exact copy with no paragraph
  seen (``seen_share`` 0.0 instead of 1.0);
* an ``ids`` entry deleted (``HDEL``) was not seen by a check (only by add, remove and
  ``stats``); repointed (``HSET ids article-0 2``), ``get`` returned article-1's text;
* a ``dg`` entry (the digest an id was added with) copied from another id made a re-add
  of that other text under this id "already indexed";
* ``top:p`` set back by one after a removal (so ``n:p`` stays below it) hid the last
  paragraph row from a check that reads no document row: the last paragraph of a
  30-paragraph article, checked alone, was "nothing seen before".
"""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner
from conftest import redis_url
from test_storage_redis_damage import _cli_check, _client, _stored
from textgen import prose

from dedup import Index, IndexCorrupt
from dedup.cli import main
from dedup.storage.protocol import document_id_keys
from dedup.storage.redis.records import DOC_BANDED, ENTRY, PARA_BANDED


@pytest.fixture
def texts():
    rng = random.Random(11)
    return ["\n\n".join(prose(rng, rng.randint(40, 70)) for _ in range(5)) for _ in range(6)]


def _with_meta(prefix: str, texts: list[str]) -> str:
    """An index of 4 articles, ``article-I`` (document row I + 1) with metadata
    ``{"source": "wire-I"}``."""
    url = redis_url(prefix=prefix)
    with Index.open(url) as idx:
        for i, t in enumerate(texts[:4]):
            idx.add(t, doc_id=f"article-{i}", meta={"source": f"wire-{i}"})
    return url


@pytest.mark.parametrize("how", ["swapped", "meta edited", "meta broken"])
def test_a_damaged_text_record_is_detected(redis_prefix, texts, how):
    url = _with_meta(redis_prefix, texts)
    client = _client()
    name = f"{redis_prefix}:t:3"
    if how == "swapped":
        client.set(name, client.get(f"{redis_prefix}:t:2"))
    else:
        old, new = (b"wire-2", b"wire-9") if how == "meta edited" else (b"{", b"[")
        assert old in client.get(name)
        client.set(name, client.get(name).replace(old, new, 1))
    client.close()
    said = f"stored document text row 3 \\(Redis key {name}\\) does not match its checksum"
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=f"the index is damaged: {said}"):
            idx.get("article-2")
        assert idx.get("article-1").meta == {"source": "wire-1"}  # the others read as stored
        with pytest.raises(IndexCorrupt, match=said):
            list(idx.documents())
    res = CliRunner().invoke(main, ["index", "export", "--db", url], catch_exceptions=False)
    assert res.exit_code == 2 and "does not match its checksum" in res.stderr, (res.exit_code, res.stderr)
    assert "wire-9" not in res.stdout


def _paragraph_flags_cleared(prefix: str, rows: range) -> None:
    """Clear the ``banded`` byte of paragraph rows ``rows`` (all in chunk ``p:0``)."""
    client = _client()
    blob, at = bytearray(client.get(f"{prefix}:p:0")), 0
    while at < len(blob):
        row, size = ENTRY.unpack_from(blob, at)
        if row in rows:
            assert blob[at + ENTRY.size + PARA_BANDED] == 1
            blob[at + ENTRY.size + PARA_BANDED] = 0
        at += ENTRY.size + size
    client.set(f"{prefix}:p:0", bytes(blob))
    client.close()


@pytest.mark.parametrize("level", ["document", "paragraph"])
def test_a_cleared_banded_flag_is_detected(redis_prefix, texts, tmp_path, level):
    """The original (row 1, paragraph rows 1-5, all banded) and its exact copy
    ``copy``: the flag says whose bands a removal hands over."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:4])] + [("copy", texts[0])])
    if level == "document":
        client = _client()
        record = bytearray(client.get(f"{redis_prefix}:d:1"))
        assert record[DOC_BANDED] == 1
        record[DOC_BANDED] = 0
        client.set(f"{redis_prefix}:d:1", bytes(record))
        client.close()
        said = "stored document row 1 does not match its checksum"
    else:
        _paragraph_flags_cleared(redis_prefix, range(1, 6))
        said = "stored paragraph rows 1, 2, 3, 4, 5 do not match their checksums"
    before = _stored(redis_prefix)
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=f"the index is damaged: {said}"):
            idx.remove("article-0")
        with pytest.raises(IndexCorrupt, match=said):
            idx.check(texts[0])
    assert _stored(redis_prefix) == before
    assert said in _cli_check(url, texts[0], tmp_path)


def test_bands_handed_over_on_removal_still_verify(redis_prefix, texts):
    """The hand-over sets ``banded`` on the surviving copy's records in place, and
    their checksums with it: the copy is read (and found) as before."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:4])] + [("copy", texts[0])])
        idx.remove("article-0")
        client = _client()
        assert client.get(f"{redis_prefix}:d:5")[DOC_BANDED] == 1
        client.close()
        verdict = idx.check(texts[0])
        assert verdict.is_duplicate and verdict.matches[0].doc_id == "copy"
        assert verdict.seen == (0, 1, 2, 3, 4)
        idx.remove("copy")
        assert not idx.check(texts[0]).is_duplicate


def test_a_deleted_ids_entry_is_detected_by_a_check(redis_prefix, texts, tmp_path):
    url = _with_meta(redis_prefix, texts)
    client = _client()
    client.hdel(f"{redis_prefix}:ids", "article-1")
    client.close()
    said = f"\\({redis_prefix}:ids\\) lists 3 documents, the document count \\({redis_prefix}:n:d\\) is 4"
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=f"the index is damaged: the document ids hash {said}"):
            idx.check(texts[1])
    assert "lists 3 documents" in _cli_check(url, texts[1], tmp_path)


def test_a_repointed_ids_entry_is_detected_by_get(redis_prefix, texts):
    url = _with_meta(redis_prefix, texts)
    client = _client()
    client.hset(f"{redis_prefix}:ids", "article-0", 2)
    client.close()
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=f"{redis_prefix}:ids lists 'article-0' at document row 2, "
                                               "which holds 'article-1'"):
            idx.get("article-0")
        assert idx.get("article-1").text == texts[1]


def _renamed(prefix: str, texts: list[str]) -> str:
    """:func:`_with_meta`'s index with the ``ids`` entry ``article-0`` renamed ``renamed``
    (``HDEL`` + ``HSET``, the count unchanged)."""
    url = _with_meta(prefix, texts)
    client = _client()
    row = client.hget(f"{prefix}:ids", "article-0")
    client.hdel(f"{prefix}:ids", "article-0")
    client.hset(f"{prefix}:ids", "renamed", row)
    client.close()
    return url


def test_a_renamed_ids_entry_is_detected_by_in(redis_prefix, texts):
    """``HDEL ids article-0`` + ``HSET ids renamed 1`` (the count unchanged): ``in``
    said ``renamed`` was stored."""
    url = _renamed(redis_prefix, texts)
    with Index.open(url) as idx:
        assert "article-1" in idx and "absent" not in idx
        with pytest.raises(IndexCorrupt, match=f"{redis_prefix}:ids lists 'renamed' at document row 1, "
                                               "which holds 'article-0'"):
            _ = "renamed" in idx


def test_the_old_name_of_a_renamed_ids_entry_is_damage_not_absent(redis_prefix, texts):
    """The same rename: the old name read "not stored" to ``in`` and ``get``, and an
    add under it stored the text a second time (session 12 left it to the README).
    Its ``dg`` entry, written and deleted with the ``ids`` entry, still names it."""
    url = _renamed(redis_prefix, texts)
    said = (f"the index is damaged: {redis_prefix}:dg holds the digest of document 'article-0', which "
            f"{redis_prefix}:ids does not list \\(its ids entry was renamed or deleted\\)")
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=said):
            _ = "article-0" in idx
        with pytest.raises(IndexCorrupt, match=said):
            idx.get("article-0")
        with pytest.raises(IndexCorrupt, match=said):
            idx.add(texts[0], doc_id="article-0")
        assert "absent" not in idx and idx.get("absent") is None  # a name never stored: as before
        assert idx.get("article-2").text == texts[2]
    res = CliRunner().invoke(main, ["index", "add", "--db", url, "--id", "article-0", "-"], input=texts[0])
    assert res.exit_code == 2 and "its ids entry was renamed or deleted" in res.stderr, (res.exit_code, res.stderr)


def test_a_name_renamed_in_both_ids_and_dg_is_damage_under_either_name(redis_prefix, texts, tmp_path):
    """Session 13's stated blind spot: ``article-0`` renamed ``renamed`` in ``ids`` *and*
    in ``dg`` (its digest entry rewritten to verify under the new name) read "not stored"
    under its old name, and an add stored the text again.  Layout 11 binds each name to
    its row a third time, in the sealed name shards ``k:n:``."""
    from dedup.storage.redis.records import digest_value, stored_digest

    url = _with_meta(redis_prefix, texts)
    client = _client()
    row = int(client.hget(f"{redis_prefix}:ids", "article-0"))
    digest = stored_digest(client.hget(f"{redis_prefix}:dg", "article-0"), "article-0", row, "x", "dg")
    client.hdel(f"{redis_prefix}:ids", "article-0")
    client.hdel(f"{redis_prefix}:dg", "article-0")
    client.hset(f"{redis_prefix}:ids", "renamed", row)
    client.hset(f"{redis_prefix}:dg", "renamed", digest_value("renamed", row, digest))
    client.close()
    said = f"{redis_prefix}:ids does not list document 'article-0', which {redis_prefix}:k:n:\\d+ binds to document row {row}"
    with Index.open(url) as idx:
        for call in (lambda: "article-0" in idx, lambda: idx.get("article-0"),
                     lambda: idx.add(texts[0], doc_id="article-0"),
                     lambda: idx.add_many([("other", texts[5]), ("article-0", texts[0])])):
            with pytest.raises(IndexCorrupt, match=said):
                call()
        with pytest.raises(IndexCorrupt, match="lists 'renamed' at document row 1, which holds 'article-0'"):
            _ = "renamed" in idx
        assert "absent" not in idx and idx.get("absent") is None and idx.get("article-2").text == texts[2]
        assert "other" not in idx  # the batch was refused whole
    res = CliRunner().invoke(main, ["index", "add", "--db", url, "--id", "article-0", "-"], input=texts[0])
    assert res.exit_code == 2 and "its ids entry was renamed or deleted" in res.stderr, (res.exit_code, res.stderr)


def test_name_shards_follow_adds_and_removals(redis_prefix, texts):
    """A removed document's name leaves ``k:n:`` with it (the name is absent, not
    damage, and can be stored again); a damaged name shard is named."""
    url = _with_meta(redis_prefix, texts)
    with Index.open(url) as idx:
        idx.remove("article-1")
        assert "article-1" not in idx and idx.get("article-1") is None
        idx.add(texts[1], doc_id="article-1")
        assert idx.get("article-1").text == texts[1]
        count = idx._store._shards["k:n:"]
    client = _client()
    shards = {int(k.rsplit(b":", 1)[1]) for k in client.scan_iter(match=f"{redis_prefix}:k:n:*")
              if not k.endswith(b"on")}
    assert shards
    for shard in shards:
        client.setrange(f"{redis_prefix}:k:n:{shard}", 0, b"\xff")
    client.close()
    # An id never stored whose name key falls in a damaged shard.
    probe = next(name for name in (f"probe-{i}" for i in range(100_000))
                 if int(document_id_keys([name])[0]) % (1 << 32) % count in shards)
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match="does not match the checksum it ends with or its bit in "
                                               f"{redis_prefix}:k:n:on"):
            _ = probe in idx


def test_a_decremented_paragraph_count_is_detected(redis_prefix, texts, tmp_path):
    """Tester's T2 (session 12): ``DECR n:p`` made stats say 14 paragraphs of 15 and
    nothing else noticed.  ``n:p`` is sealed like ``judged`` now (layout 10): every
    read and every write names it."""
    url = _with_meta(redis_prefix, texts)
    with Index.open(url) as idx:
        paragraphs = idx.stats()["paragraphs"]
    client = _client()
    value = client.get(f"{redis_prefix}:n:p")
    assert value.split(b" ")[0] == str(paragraphs).encode()
    for damage in (b"%d" % (paragraphs - 1), b"%d" % paragraphs, value.replace(b"%d " % paragraphs, b"%d " % (paragraphs - 1)),
                   None):
        if damage is None:
            client.delete(f"{redis_prefix}:n:p")
        else:
            client.set(f"{redis_prefix}:n:p", damage)
        said = f"the count of the paragraphs stored \\({redis_prefix}:n:p\\) is missing or does not match its checksum"
        with Index.open(url) as idx:
            for call in (idx.stats, lambda: idx.check(texts[1]), lambda: idx.add(texts[5], doc_id="new"),
                         lambda: idx.remove("article-3")):
                with pytest.raises(IndexCorrupt, match=said):
                    call()
        assert "is missing or does not match its checksum" in _cli_check(url, texts[1], tmp_path)
    client.set(f"{redis_prefix}:n:p", value)
    client.close()
    with Index.open(url) as idx:  # put back, it reads again; removals keep it sealed
        idx.remove("article-3")
        assert idx.stats()["paragraphs"] == paragraphs - 5 and "article-3" not in idx
        idx.add(texts[3], doc_id="article-3")
        assert idx.stats()["paragraphs"] == paragraphs


def test_a_counter_set_back_is_named_by_its_key(redis_prefix, texts, tmp_path):
    """Tester's T3 (session 12): the message named ``PREFIX:seq:p``, not the key."""
    url = _with_meta(redis_prefix, texts)
    client = _client()
    client.decrby(f"{redis_prefix}:seq:p", 3)
    client.close()
    (tmp_path / "new.txt").write_text(texts[5])
    res = CliRunner().invoke(main, ["index", "add", "-q", "--db", url, str(tmp_path / "new.txt")])
    assert res.exit_code == 2, (res.exit_code, res.stderr)
    assert f"the row id counter {redis_prefix}:seq:p (" in res.stderr and "PREFIX" not in res.stderr
    client = _client()
    client.set(f"{redis_prefix}:top:d", b"x1")  # not a number: named by its key too (it said PREFIX:top:d)
    client.close()
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=f"the index is damaged: {redis_prefix}:top:d is not a number"):
            idx.check(texts[1])


def test_an_edited_digest_entry_is_detected(redis_prefix, texts):
    url = _with_meta(redis_prefix, texts)
    client = _client()
    client.hset(f"{redis_prefix}:dg", "article-1", client.hget(f"{redis_prefix}:dg", "article-2"))
    client.close()
    said = f"the digest entry of document 'article-1' \\({redis_prefix}:dg\\) is not the one written with row 2"
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=f"the index is damaged: {said}"):
            idx.add(texts[2], doc_id="article-1")
        with pytest.raises(IndexCorrupt, match=said):
            idx.holds([{"id": "article-1", "text": texts[2]}], texts=True)
        assert idx.holds([{"id": "article-0", "text": texts[0]}], texts=True) == [True]


def test_a_deleted_meta_hash_is_not_created_again_over_the_rows(redis_prefix, texts, tmp_path):
    """Layout 9 before this: ``DEL meta`` and the next ``Index.open`` (which creates an
    index where none is) wrote a new meta hash over the stored rows, with this caller's
    settings, and reset ``n:d``, ``log:n`` and ``judged`` to 0 (found by
    ``benchmarks/redis_damage_trials.py``)."""
    url = _with_meta(redis_prefix, texts)
    client = _client()
    client.delete(f"{redis_prefix}:meta")
    client.close()
    before = _stored(redis_prefix)
    said = f"the meta hash \\({redis_prefix}:meta\\) is missing while the index's other keys exist"
    with pytest.raises(IndexCorrupt, match=f"the index is damaged: {said}"):
        Index.open(url)
    with pytest.raises(IndexCorrupt, match=said):
        Index.open(url, readonly=True)
    assert _stored(redis_prefix) == before
    assert "is missing while" in _cli_check(url, texts[0], tmp_path)


def test_a_deleted_document_record_is_detected_by_listings(redis_prefix, texts):
    """Tester's T1 (session 12): ``DEL d:2`` -- ``index list`` / ``export`` left the
    document out (a removed row is a missing key too), exit 0."""
    url = _with_meta(redis_prefix, texts)
    client = _client()
    client.delete(f"{redis_prefix}:d:2")
    client.close()
    with Index.open(url) as idx:
        idx.remove("article-2")  # a removed row is skipped as before
        with pytest.raises(IndexCorrupt, match=f"stored document row 2 is missing \\(Redis key {redis_prefix}:d:2\\)"):
            list(idx.documents())



def test_a_deleted_document_record_fails_the_list_and_export_commands(redis_prefix, texts):
    """Tester's T1 (session 12) as the tester ran it: ``DEL d:2``, then ``index list``
    and ``index export`` printed the other documents and exited 0."""
    url = _with_meta(redis_prefix, texts)
    client = _client()
    client.delete(f"{redis_prefix}:d:2")
    client.close()
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=f"\\(Redis key {redis_prefix}:d:2\\)"):
            list(idx.ids())
    for command in ("list", "export"):
        res = CliRunner().invoke(main, ["index", command, "--db", url])
        assert res.exit_code == 2, (command, res.exit_code, res.stdout, res.stderr)
        assert f"{redis_prefix}:d:2" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_a_small_set_back_after_removals_is_detected_by_a_check_reading_no_document(redis_prefix, texts, tmp_path):
    """One paragraph shared with a 30-paragraph article matches no document as a whole,
    so the check reads no document row (``_whole`` never runs), and after a removal
    ``n:p`` stays below the mark: only the bucket log's record of what was published
    says the mark went back."""
    rng = random.Random(4)
    long = "\n\n".join(prose(rng, 50) for _ in range(30))
    last = long.split("\n\n")[-1]
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:3] + [long])])
        assert idx.check(last).seen == (0,)
        idx.remove("article-0")
        assert idx.check(last).seen == (0,)
    client = _client()
    client.decr(f"{redis_prefix}:top:p")
    client.close()
    said = f"the published-rows mark {redis_prefix}:top:p \\(44\\) is behind the stored rows"
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=f"the index is damaged: {said}"):
            idx.check(last)
    assert "is behind the stored rows" in _cli_check(url, last, tmp_path)


@pytest.mark.parametrize("tag", ["p", "d"])
def test_a_published_mark_moved_forward_is_detected(redis_prefix, texts, tag):
    """A mark past the rows published would show a dead writer's unpublished rows."""
    url = redis_url(prefix=redis_prefix)
    with Index.open(url) as idx:
        idx.load([(f"article-{i}", t) for i, t in enumerate(texts[:3])])
    client = _client()
    client.incr(f"{redis_prefix}:top:{tag}")
    client.close()
    with Index.open(url) as idx:
        with pytest.raises(IndexCorrupt, match=f"the published-rows mark {redis_prefix}:top:{tag} .* is past the rows"):
            idx.check(texts[0])
        with pytest.raises(IndexCorrupt, match=f"{redis_prefix}:top:{tag} .* is past the rows"):
            idx.add(texts[4], doc_id="x")



@pytest.mark.parametrize("how", ["swapped", "text deleted", "both deleted"])
def test_a_damaged_text_is_never_answered_from_by_the_batch_text_read(redis_prefix, texts, how):
    """The texts read together (:meth:`document_texts`, what coverage and a site's
    frames read) verify as ``get`` does: a text copied from another row, a text deleted
    beside its document record, or both records of a live row deleted are damage
    naming the row; a removed document is left out."""
    import numpy as np

    url = _with_meta(redis_prefix, texts)
    client = _client()
    if how == "swapped":
        client.set(f"{redis_prefix}:t:3", client.get(f"{redis_prefix}:t:2"))
        said = rf"stored document text row 3 \(Redis key {redis_prefix}:t:3\) does not match its checksum"
    elif how == "text deleted":
        client.delete(f"{redis_prefix}:t:3")
        said = rf"the text of stored document row 3 is missing \(Redis key {redis_prefix}:t:3\)"
    else:
        client.delete(f"{redis_prefix}:t:3", f"{redis_prefix}:d:3")
        said = "document row 3"
    client.close()
    with Index.open(url) as idx:
        store = idx._store
        with store.transaction(write=False):
            assert store.document_texts(np.array([1, 2, 4])) == {1: texts[0], 2: texts[1], 4: texts[3]}
        with store.transaction(write=False), pytest.raises(IndexCorrupt, match=said):
            store.document_texts(np.array([1, 3]))
        if how == "swapped":
            idx.remove("article-2")
            with store.transaction(write=False):
                assert store.document_texts(np.array([1, 3])) == {1: texts[0]}
