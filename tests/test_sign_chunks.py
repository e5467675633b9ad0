"""A long document is signed a chunk of paragraphs at a time and a shard's files are
written a part at a time (U2 of #12: 16 MB of one million one-line paragraphs took
2.8 GB, signed at once), with files and results identical to signing it whole."""

from __future__ import annotations

import json
import random

import numpy as np
from textgen import prose, rewrite

from dedup import scan
from dedup.plan import shardfiles, sign
from dedup.plan.scratch import Scratch
from dedup.plan.sign import ShardTask, batches, sign_shard
from dedup.readers import Document
from dedup.settings import Settings
from dedup.split import span_array, split_paragraphs


def texts(rng: random.Random) -> dict[str, str]:
    """Short documents around long ones of every split rule: one paragraph per line (no
    blank line), blank-line paragraphs that hold line breaks, CRLF and U+2029, and a
    long document whose last chunk would hold a single multi-line paragraph."""
    base = [prose(rng, 30) for _ in range(6)]
    lines = "\n".join(rewrite(rng, rng.choice(base), 0.1) if rng.random() < 0.3 else prose(rng, 8) for _ in range(41))
    blocks = "\n\n \n".join(f"{prose(rng, 6)}\n{prose(rng, 5)}" for _ in range(23))
    odd = "\r\n\r\n".join(prose(rng, 7) for _ in range(10)) + "\u2029" + "\r\n".join(prose(rng, 4) for _ in range(9))
    one_left = "\n\n".join(f"{prose(rng, 5)}\nsecond line of it" for _ in range(9))  # 9 = 2 chunks of 4 + 1
    return {"a.txt": base[0], "lines.txt": lines, "b.txt": "\n\n".join(base[1:4]), "blocks.txt": blocks,
            "odd.txt": odd, "one-left.txt": one_left, "c.txt": base[4] + "\n\n" + base[0], "é.txt": "Ünïcode " + lines}


def signed(tmp_path, name: str, documents: list[Document]) -> tuple[dict, list]:
    scratch = Scratch(tmp_path / name)
    info = sign_shard(scratch, ShardTask(0, list(batches(documents))), Settings())
    folder = scratch.shard(0, "paragraph", "keys").parent
    files = {p.name: np.load(p) for p in sorted(folder.iterdir())}
    return files, info.documents


def test_chunks_and_spilled_parts_write_the_same_shard_files(tmp_path, rng, monkeypatch):
    documents = [Document(path, text) for path, text in texts(rng).items()]
    whole, infos = signed(tmp_path, "whole", documents)
    monkeypatch.setattr(sign, "CHUNK_PARAGRAPHS", 4)
    monkeypatch.setattr(shardfiles, "SPILL_BYTES", 3000)
    seen: list[int] = []
    real = sign.sign_documents

    def counted(docs, settings):
        corpus = real(docs, settings)
        seen.append(corpus.paragraphs)
        return corpus

    monkeypatch.setattr(sign, "sign_documents", counted)
    chunked, chunk_infos = signed(tmp_path, "chunked", documents)
    assert chunk_infos == infos
    assert not [p for p in (tmp_path / "chunked").rglob("*.part")]
    assert whole.keys() == chunked.keys() and "sigs.npy" in "".join(whole)
    for name, array in whole.items():
        assert chunked[name].dtype == array.dtype and np.array_equal(chunked[name], array), name
    # Every long document went in chunks of at most 4 paragraphs (its last one takes
    # a paragraph left over: lines.txt, é.txt, one-left.txt), the short ones in runs.
    assert sorted(seen)[-4:] == [4, 5, 5, 5] and sum(seen) == sum(d.paragraphs for d in infos)
    assert len(seen) > 25


def test_a_scan_is_the_same_whatever_the_chunks(tmp_path, rng, monkeypatch):
    root = tmp_path / "docs"
    root.mkdir()
    for path, text in texts(rng).items():
        (root / path).write_text(text, encoding="utf-8")
    expected = json.dumps(scan(root).to_dict(), sort_keys=True)
    assert json.loads(expected)["pairs"]
    monkeypatch.setattr(sign, "CHUNK_PARAGRAPHS", 4)
    monkeypatch.setattr(shardfiles, "SPILL_BYTES", 3000)
    for jobs in (1, 2):
        assert json.dumps(scan(root, jobs=jobs).to_dict(), sort_keys=True) == expected


def test_documents_around_a_long_one_are_cached(tmp_path, rng, monkeypatch):
    # Review (s15): a batch that held a long document signed its other documents
    # without the cache, so every later scan signed them again.  A long document is
    # now a batch of its own; the second scan signs only it (a chunk at a time).
    monkeypatch.setattr(sign, "CHUNK_PARAGRAPHS", 4)
    documents = [Document(path, text) for path, text in texts(rng).items()]
    long = {d.path for d in documents if sign.may_be_long(d)}
    assert long and len(long) < len(documents)
    assert [b.long for b in batches(documents)].count(True) == len(long)
    signed_paths: list[str] = []
    real = sign.sign_documents

    def counted(docs, settings):
        signed_paths.extend(d.path for d in docs)
        return real(docs, settings)

    monkeypatch.setattr(sign, "sign_documents", counted)
    root = tmp_path / "docs"
    root.mkdir()
    for doc in documents:
        (root / doc.path).write_text(doc.text, encoding="utf-8")
    first = scan(root, cache_dir=tmp_path / "cache")
    assert set(signed_paths) == {d.path for d in documents}
    signed_paths.clear()
    again = scan(root, cache_dir=tmp_path / "cache")
    assert {path.split("/")[-1] for path in signed_paths} == long
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(first.to_dict(), sort_keys=True)


def test_span_array_splits_as_split_paragraphs_whatever_its_windows():
    """The long document's spans come from :func:`span_array`, a window at a time (no
    Python object per paragraph of the whole text): the same spans for every window
    size, blank-line rule or one paragraph per line, every line break Unicode names."""
    rng = random.Random(1)
    atoms = ["a", "bb", " ", "\n", "\n\n", "\r\n", "\r", "\r\n\r\n", "\u2029", "\x85", "\u2028", "  \n  \n",
             "\t", "word"]
    for _ in range(1500):
        pool = atoms if rng.random() < 0.5 else ["a", "bb", " ", "\n", "\n\n", "  \n \n", "word"]
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 60)))
        expected = np.array(split_paragraphs(text), dtype=np.int64).reshape(-1, 2)
        for window in (1, 2, 3, 5, 8, 1 << 20):
            assert np.array_equal(span_array(text, window), expected), (text, window)
