"""Issue #10: below ``min_tokens`` a paragraph is matched only as an exact copy -- and the
index lists that copy (and strips it) in a stored document the article matches
otherwise, without weighing it in the seen share of an article that has comparable
paragraphs; a short text alone (a dateline, a byline, a heading shared with another
story) is neither listed nor counted (dedup.index.short, dedup.index.judge)."""

import random

import pytest

from dedup import Index, Policy
from dedup.index.signing import sign

HEADING = "D.3.8. Finishing the harbour quay"  # 7 tokens, below min_tokens (8)
BYLINE = "By Maria Lopez"
STORY = [
    "The council approved the final design of the harbour walkway on Tuesday, with wider steps "
    "down to the water and a new ramp for wheelchairs at the northern end of the quay.",
    "Work on the stone wall will start in spring and should take about eight months, the "
    "engineers said, while the fish market stays open on the usual days throughout.",
]
OTHER = [
    "Residents asked for more benches and shade along the new path, and the planners agreed to "
    "add twelve trees in large planters once the paving is finished next autumn.",
    "A second public meeting is planned for March, when the contractor will show samples of the "
    "paving stones and the lamps chosen for the evening lighting of the promenade.",
]


def tokens(idx: Index, text: str) -> int:
    return int(sign([text], idx.settings).corpus.para_words[0])


def test_a_short_paragraph_is_listed_and_counted_where_the_stored_document_matches(backend):
    """The update of a stored story repeats its heading and byline: they are listed as
    exact copies (stored spans and all) in the stored story, and the seen share is
    that of the comparable text (tester's F4 of session 19: they weighed in it)."""
    stored = "\n\n".join([HEADING, BYLINE] + STORY)
    update = "\n\n".join([HEADING, BYLINE, STORY[0], OTHER[0], OTHER[1]])
    with Index.open(backend.url) as idx:
        idx.add(stored, doc_id="walkway")
        verdict = idx.check(update, doc_id="update")
        [match] = verdict.matches
        assert match.doc_id == "walkway"
        by_paragraph = {p.paragraph: p for p in match.paragraphs}
        assert sorted(by_paragraph) == [0, 1, 2] and verdict.seen == (0, 1, 2)
        byline = by_paragraph[1]
        at = len(HEADING) + 2
        assert byline.exact and byline.similarity == 1.0 and byline.stored_paragraph == 1
        assert (byline.start, byline.end, byline.stored_start, byline.stored_end) == (at, at + len(BYLINE),
                                                                                        at, at + len(BYLINE))
        parts = [tokens(idx, t) for t in (HEADING, BYLINE, STORY[0], OTHER[0], OTHER[1])]
        assert verdict.seen_share == pytest.approx(parts[2] / sum(parts[2:]))


def test_shared_bylines_and_captions_do_not_tip_a_story_into_a_duplicate(backend):
    """Tester's F4 of session 19: a story quoting one 40-word paragraph of a stored story
    and adding 48-55 words of its own, with the stored story's byline, dateline and
    captions (six short lines, 14 tokens), was "7 of 8 paragraphs already seen (53%)"
    and rejected.  The short copies are listed, the share is of the comparable text,
    the story is accepted as partly seen; a story mostly copied is still a duplicate."""
    rng = random.Random(9)
    vocab = [f"{rng.choice(['ba', 'de', 'fi', 'go', 'hu'])}{i}" for i in range(4000)]

    def para(n: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(n)) + "."

    short = ["By Jane Doe", "LONDON, Dec 1 (Reuters)", "Share this article", "Photo: Reuters", "Advertisement",
             "Read more"]
    quoted = para(40)
    stored = "\n\n".join(short[:3] + [quoted, para(50), para(45)] + short[3:])
    with Index.open(backend.url) as idx:
        idx.add(stored, doc_id="A")
        for own in (48, 55):
            verdict = idx.check("\n\n".join(short[:3] + [quoted, para(own)] + short[3:]))
            assert not verdict.is_duplicate and verdict.accepted, verdict.reason
            assert verdict.seen_share == pytest.approx(41 / (41 + own + 1), abs=0.02)
            assert verdict.reason.startswith("1 of 2 paragraphs already seen"), verdict.reason
            assert len(verdict.matches[0].paragraphs) == 7 and verdict.seen == (0, 1, 2, 3, 5, 6, 7)
        mostly = idx.check("\n\n".join(short[:3] + [quoted, para(20)] + short[3:]))
        assert mostly.is_duplicate and not mostly.accepted and mostly.seen_share == pytest.approx(41 / 62, abs=0.02)


def test_a_shared_heading_or_dateline_alone_is_not_seen(backend):
    """A new story that shares only its heading and dateline with stored ones is "new":
    nothing listed, nothing seen, not flagged -- while the same heading in the stored
    story it updates is listed."""
    dateline = "GENEVA, December 1"
    with Index.open(backend.url) as idx:
        idx.add("\n\n".join([HEADING, dateline] + STORY), doc_id="walkway")
        idx.add("\n\n".join([dateline] + OTHER), doc_id="benches")
        new = idx.check("\n\n".join([HEADING, dateline, "A ferry strike closed the port for the whole "
                                     "weekend and hundreds of travellers waited in the terminal for news."]))
        assert not new.flagged and new.matches == () and new.seen == () and new.seen_share == 0.0
        assert new.reason == "nothing seen before"
        update = idx.check("\n\n".join([HEADING, STORY[1]]))
        assert update.seen == (0, 1) and [m.doc_id for m in update.matches] == ["walkway"]


def test_under_strip_a_listed_short_copy_goes_with_the_seen_text_and_is_no_new_material(backend):
    with Index.open(backend.url) as idx:
        idx.add("\n\n".join([HEADING] + STORY), doc_id="walkway")
        kept = idx.check("\n\n".join([HEADING, STORY[0], OTHER[0]]), policy="strip")
        assert kept.accepted and kept.text == OTHER[0]
        # its long paragraph seen, only a new short one left: nothing new to keep
        only_short = idx.check("\n\n".join([HEADING, "Fresh words here.", STORY[0]]), policy="strip")
        assert not only_short.accepted and only_short.seen == (0, 2), only_short.reason


def news(rng: random.Random, words: list[str], names: list[str], cities: list[str]) -> str:
    body = [" ".join(rng.choice(words) for _ in range(rng.randint(30, 60))) + "." for _ in range(4)]
    return "\n\n".join([" ".join(rng.choice(words) for _ in range(6)), "By " + rng.choice(names),
                        f"{rng.choice(cities)}, December {rng.randint(1, 28)}"] + body)


def test_a_batch_of_news_gets_the_verdicts_of_one_at_a_time(tmp_path):
    """Bylines and datelines repeat across a batch: each article gets the verdict it
    would get alone, an update of an earlier article of the batch lists its heading and
    dateline, and no new story is "partly seen" for a shared byline or dateline."""
    rng = random.Random(5)
    words, names, cities = [f"w{i}" for i in range(3000)], [f"Name{i} Surname{i}" for i in range(4)], ["Oslo", "Rome"]
    stored = [(f"s{k}", news(rng, words, names, cities)) for k in range(12)]
    batch = [(f"b{k}", news(rng, words, names, cities)) for k in range(12)]
    first = batch[0][1].split("\n\n")
    batch.append(("update", "\n\n".join(first[:3] + first[4:] + ["An added closing paragraph with words "
                                                                   "that are all new to the index here."])))
    verdicts = {}
    for name in ("add_many", "one at a time"):
        with Index.open(tmp_path / f"{name}.dedup") as idx:
            idx.add_many(stored)
            verdicts[name] = (idx.add_many(batch) if name == "add_many"
                              else [idx.add(text, doc_id=doc_id) for doc_id, text in batch])
    assert verdicts["add_many"] == verdicts["one at a time"]
    *new, update = verdicts["add_many"]
    assert not any(v.flagged for v in new) and all(v.added for v in new)
    [match] = update.matches
    # its heading and dateline are listed; its byline, in a third of the articles, is boilerplate
    assert match.doc_id == "b0" and update.seen == (0, 2, 3, 4, 5) and update.boilerplate == (1,)


def test_many_short_lines_are_checked_in_bounded_memory(tmp_path):
    """A transcript of 5,000 short lines sharing its long paragraph with stored
    transcripts: one match per short line and stored document, no signature or set
    read for them (session 18's look-up held 260 MB for such a check)."""
    import tracemalloc

    rng = random.Random(9)
    words = [f"w{i}" for i in range(3000)]
    lead = " ".join(rng.choice(words) for _ in range(40)) + "."
    lines = [f"Line {rng.randint(0, 40)}." for _ in range(200)]
    with Index.open(tmp_path / "t.dedup", policy=Policy("flag", add_duplicates=True)) as idx:
        idx.add_many([(f"t{k}", "\n\n".join([lead] + lines)) for k in range(3)])
        transcript = "\n\n".join([lead] + [f"Line {rng.randint(0, 40)}." for _ in range(5000)])
        tracemalloc.start()
        verdict = idx.check(transcript)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert {m.doc_id for m in verdict.matches} == {"t0", "t1", "t2"}
    listed = [p for m in verdict.matches for p in m.paragraphs]
    assert len(listed) == 3 * 5001 and all(p.exact for p in listed)
    assert peak < 60 << 20, peak
