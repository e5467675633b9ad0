"""Generated test text: real English words, seeded, with known rewrites."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

# Vocabulary for generated prose: real English words, so shingle statistics resemble text.
WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there been one all we their has would when if so no will "
    "more about can out up them some could into time only other new these two may first then do "
    "any like my now over such our man me even most made after also did many before must through "
    "back years where much your way well down should because each just those people how too "
    "little state good very make world still own see men work long get here between both life "
    "being under never day same another know while last might us great old year off come since "
    "against go came right used take three council river market harbour bridge station railway "
    "museum library garden festival orchestra minister budget election parliament treaty border "
    "village coast mountain forest valley island engine factory harvest weather storm drought"
).split()


# Zipf-like weights: frequent function words repeat as in real prose, which gives
# unrelated paragraphs the chance overlaps ("of the", "in the") real text has.
WEIGHTS = [1 / (rank + 1) for rank in range(len(WORDS))]


def prose(rng: random.Random, n_words: int) -> str:
    """A pseudo-sentence stream of real words (deterministic for a seeded ``rng``)."""
    words = rng.choices(WORDS, weights=WEIGHTS, k=n_words)
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def rewrite(rng: random.Random, text: str, rate: float, vocabulary: Sequence[str] = WORDS) -> str:
    """Edit about ``rate`` of the words: substitutions, insertions and deletions (new
    words drawn from ``vocabulary``)."""
    words = text.split()
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            out.append(rng.choice(vocabulary))  # substitute
        elif r < 2 * rate / 3:
            continue  # delete
        elif r < rate:
            out.extend([w, rng.choice(vocabulary)])  # insert
        else:
            out.append(w)
    return " ".join(out)


def news_article(rng: random.Random, paragraphs: int = 5) -> str:
    """``paragraphs`` blank-line separated paragraphs of 40-70 words of :func:`prose`."""
    return "\n\n".join(prose(rng, rng.randint(40, 70)) for _ in range(paragraphs))


def rewrite_paragraphs(rng: random.Random, text: str, rate: float) -> str:
    """:func:`rewrite` applied to each blank-line separated paragraph of ``text``."""
    return "\n\n".join(rewrite(rng, p, rate) for p in text.split("\n\n"))


def write_docs(root: Path, docs: dict[str, list[str]]) -> Path:
    """Write each document as blank-line separated paragraphs."""
    for name, paragraphs in docs.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return root


def _pseudo_words(count: int) -> list[str]:
    """``count`` distinct pronounceable pseudo-words (deterministic)."""
    rng = random.Random(12345)
    onsets, vowels, codas = "b c d f g h k l m n p r s t v w".split(), "a e i o u ai ou".split(), ["", "n", "r", "s", "t"]
    out: set[str] = set()
    while len(out) < count:
        out.add("".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(rng.randint(1, 3))))
    return sorted(out)


#: A large vocabulary (function words first, then 20,000 pseudo-words) with Zipf
#: weights: as in real prose, unrelated texts share "of the" but rarely a content bigram.
RICH_WORDS = WORDS[:60] + _pseudo_words(20_000)
RICH_WEIGHTS = [1 / (rank + 1) for rank in range(len(RICH_WORDS))]


def rich_prose(rng: random.Random, n_words: int) -> str:
    """Like :func:`prose`, over :data:`RICH_WORDS`."""
    return " ".join(rng.choices(RICH_WORDS, weights=RICH_WEIGHTS, k=n_words))


def one_line_paragraphs(path: Path, size: int) -> None:
    """``size`` bytes of one-line paragraphs of 8 one-letter words (no blank line: one
    paragraph per line, ~16 bytes each: a million in 16 MiB), the session-13 tester's U2
    of #12 (tests/test_memory_slow.py, benchmarks/bench_memory.py)."""
    rng = random.Random(2)
    with open(path, "w") as out:
        written = 0
        while written < size:
            line = " ".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8)) + "\n"
            out.write(line)
            written += len(line)


def footer_sites(seed: int, sites: int = 3, stories: int = 20, reprints: int = 5,
                 ) -> tuple[dict[str, str], dict[str, list[str]], dict[int, list[str]]]:
    """Issue #11's case family: ``sites`` sites of ``stories`` stories (1-3 paragraphs of
    30-80 words) each followed by its site's footer (site ``s``: ``1 + 2 s`` paragraphs
    of 15-60 words) and nothing else, and ``reprints`` stories of site 0 reprinted by
    site 1 (5 % of their words edited, under site 1's footer).  Returns the pages by
    path (``site{s}/story{i:02}.txt``, ``site1/reprint{i}.txt``, in that order), their
    story paragraphs by path, and each site's footer paragraphs."""
    rng = random.Random(seed)
    furniture = {s: [rich_prose(rng, rng.randint(15, 60)) for _ in range(1 + 2 * s)] for s in range(sites)}
    pages: dict[str, str] = {}
    bodies: dict[str, list[str]] = {}
    for s in range(sites):
        for i in range(stories):
            bodies[f"site{s}/story{i:02}.txt"] = [rich_prose(rng, rng.randint(30, 80)) for _ in range(rng.randint(1, 3))]
            pages[f"site{s}/story{i:02}.txt"] = "\n\n".join(bodies[f"site{s}/story{i:02}.txt"] + furniture[s])
    for i in range(reprints):
        bodies[f"site1/reprint{i}.txt"] = [rewrite(rng, p, 0.05) for p in bodies[f"site0/story{i:02}.txt"]]
        pages[f"site1/reprint{i}.txt"] = "\n\n".join(bodies[f"site1/reprint{i}.txt"] + furniture[1])
    return pages, bodies, furniture
