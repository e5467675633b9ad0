"""The bulk JSON encoding (dedup.report.bulk) writes exactly what ``json.dumps`` of
``to_dict()`` writes, object by object, and counts exactly what the per-object tally
counts -- for a scan's columns and for plain pair and group objects alike."""

import io
import json
import random

import numpy as np
import pytest

from conftest import FIXTURES
from dedup import scan
from dedup.corpus import DocumentInfo
from dedup.report.bulk import document_objects, four_places, group_blocks, group_objects, pair_blocks, pair_objects
from dedup.report.machine import _names, dumps, write_json
from dedup.report.summary import Tally
from dedup.results import Group, Location, Pair, ScanResult, document_dict


def test_four_places_is_repr_of_round_for_ties_edges_and_odd_values():
    rng = random.Random(7)
    values = ([k / 32 for k in range(33)] + [k / 10_000 for k in range(10_001)]
              + [(k + 0.5) / 10_000 for k in range(0, 10_000, 7)]  # near halves, either side
              + [rng.random() for _ in range(20_000)] + [a / b for b in range(1, 200) for a in range(b + 1)]
              + [0.0, -0.0, 1.0, -1e-17, 1 + 1e-15, 1.5, 2.0, 0.99995, 0.00005, 5e-324])
    assert four_places(np.array(values)) == [repr(round(v, 4)) for v in values]


def _location(rng, paths, document):
    start = rng.randrange(0, 5000)
    return Location(rng.choice(paths), None if document else rng.randrange(0, 300), start,
                    start + rng.randrange(1, 900), "", rng.choice([None, rng.randrange(1, 4000)]))


PATHS = ["a.txt", 'quote"d\\back.txt', "ünï/cödé.md", "tab\there.txt", "bad\udcffbyte.txt", "x.jsonl#7", "新闻/稿.txt"]


def _pairs(seed, n=3000):
    rng = random.Random(seed)
    scores = [0.0, 1.0, 1 / 32, 3 / 32, 0.7292, 0.35, 0.3]
    pairs = []
    for i in range(n):
        kind = "document" if i < n // 5 else "paragraph"
        sim = rng.choice(scores) if rng.random() < 0.3 else rng.random()
        ca, cb = rng.choice(scores + [sim]), rng.random()
        pairs.append(Pair(kind, sim, (ca, cb), rng.random(), _location(rng, PATHS, kind == "document"),
                          _location(rng, PATHS, kind == "document"), rng.random() < 0.2,
                          rng.choice(["near-duplicate", "contained"])))
    return pairs


def _groups(seed, n=400):
    rng = random.Random(seed)
    return [Group(kind, *(lambda ms: (ms[0], ms))(tuple(_location(rng, PATHS, kind == "document")
                                                        for _ in range(rng.randrange(2, 9)))))
            for kind in ("document", "paragraph") for _ in range(n)]


@pytest.mark.parametrize("seed", [1, 2])
def test_pairs_groups_and_documents_encode_as_json_dumps_of_to_dict(seed):
    pairs, groups = _pairs(seed), _groups(seed)
    names = _names()
    encoded = [text for block in pair_blocks(pairs, 500) for text in pair_objects(block, names)]
    assert encoded == [dumps(p.to_dict()) for p in pairs]
    assert ", ".join(group_objects(b, names) for b in group_blocks(groups, 97)) == dumps([g.to_dict() for g in groups])[1:-1]
    docs = [DocumentInfo(p, 10 * i, i, source) for i, (p, source) in enumerate(zip(PATHS, ["file", "html", "x\"y"] * 3))]
    assert document_objects(docs, names) == [dumps(document_dict(d)) for d in docs]


@pytest.mark.parametrize("seed", [3, 4])
def test_tally_of_columns_counts_as_the_tally_of_objects(seed):
    """(Seven paths in all: paragraph groups have members in documents the document
    groups remove, and members outside them.)"""
    pairs, groups = _pairs(seed), _groups(seed)
    result = ScanResult({}, [], pairs, groups)
    by_objects, by_columns = Tally(), Tally()
    for p in pairs:
        by_objects.pair(p)
    for g in groups:
        by_objects.group(g)
    for block in pair_blocks(pairs, 333):
        by_columns.pair_columns(block)
    for block in group_blocks(groups, 41):
        by_columns.group_columns(block)
    assert by_objects.summary(result) == by_columns.summary(result)
    known = [Group(g.kind, g.canonical, tuple(Location(m.path, m.paragraph, m.start, m.end, "", 7) for m in g.members))
             for g in groups]
    by_objects, by_columns = Tally(), Tally()
    for g in known:
        by_objects.group(g)
    for block in group_blocks(known, 41):
        by_columns.group_columns(block)
    assert by_objects.summary(result) == by_columns.summary(result)
    assert by_columns.summary(result).duplicated_bytes > 0


def test_a_scans_columns_encode_as_its_pair_and_group_objects():
    """The scan's pairs and groups straight from its columns (dedup.plan.located) give
    the text their objects give."""
    result = scan(FIXTURES)
    assert len(result.pairs) > 5 and {p.kind for p in result.pairs} == {"document", "paragraph"}
    names = _names()
    assert [t for b in pair_blocks(result.pairs, 0) for t in pair_objects(b, names)] == [
        dumps(p.to_dict()) for p in result.pairs]
    assert ", ".join(group_objects(b, names) for b in group_blocks(result.groups, 0)) == dumps(
        [g.to_dict() for g in result.groups])[1:-1]
    as_objects = ScanResult(result.settings, result.documents, list(result.pairs), list(result.groups),
                            result.errors, result.boilerplate, result.warnings)
    texts = []
    for r in (result, as_objects):
        out = io.StringIO()
        write_json(r, out)
        texts.append(out.getvalue())
    assert texts[0] == texts[1]
    assert json.loads(texts[0])["summary"]["pairs"] == len(result.pairs)
