"""Detection settings: one frozen value that every stage reads.

Why one object: the same numbers decide how text is shingled, how signatures are
made and how they are banded, so a scan, a cache entry and a persistent index must
all agree on them.  ``Settings.signature_key`` (and the index's pipeline fingerprint) is what gets stored next to anything
persisted, so that mixing incompatible sketches is an error instead of silent garbage
(the lesson of datasketch 2.0's hashing change).

How the defaults were chosen (measured on ``eval-dev``; see README "Defaults"):

* word 2-grams: a 20 % word rewrite of a news paragraph keeps a word-2-gram Jaccard of
  about 0.46 at its 5th percentile, while unrelated paragraphs stay below 0.07 and
  name-sharing hard negatives below 0.16.  Word 5-grams (the web-dedup default) fall to
  ~0.2 at the same edit level, which is why "word 5-grams at 0.8" misses light rewrites.
* threshold 0.3 on the *verified* Jaccard sits in the wide gap between those two.
* 256 permutations in 49 bands of 2 rows (:func:`dedup.lsh.choose_bands`, target 0.99):
  the LSH S-curve ``1-(1-s^2)^49`` catches a pair at J=0.3 with p=0.990, at J=0.365 with
  p=0.999 and at J=0.46 with p=0.99999, while a pair at J=0.05 becomes a candidate 11 %
  of the time (most are dropped by the MinHash-estimate floor before verification).
  The layout was 85 x 3 before (target 0.9), which catches a pair at J=0.3 with
  p=0.90 only: one near-duplicate in ten at the threshold was lost by design.  An
  index keeps the layout it was made with (its stored settings).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, Mapping, Optional

from .lsh import catch_probability, choose_bands

Unit = Literal["word", "char"]

#: MinHash permutation scheme.  Signatures are bit-identical to datasketch 2.x
#: ``MinHash(scheme="affine32", seed=seed)`` fed the same 32-bit shingle hashes.
SCHEME = "affine32"


@dataclass(frozen=True)
class Settings:
    """Everything that changes which pairs are found.

    ``bands`` x ``rows`` must not exceed ``num_perm``; when either is 0 they are
    derived from ``threshold`` and ``num_perm`` by :func:`dedup.lsh.choose_bands`.
    ``containment``: a pair whose smaller text is at least this share inside the larger
    one (``|A∩B| / min(|A|, |B|)`` of shingle sets) is reported as ``contained`` even
    below ``threshold``; 0 turns that off (see :mod:`dedup.containment`).
    ``boilerplate``: a paragraph text found in at least this many documents (and 0.1 %
    of them) is boilerplate: reported once and left out of document similarity; 0
    turns that off (see :mod:`dedup.boilerplate`).
    ``min_tokens`` is the length rule: texts of fewer tokens (:mod:`dedup.tokenize`:
    words, or graphemes of scripts written without spaces; whatever ``unit``) are
    matched only as exact copies.  It was called ``min_words`` until tokens stopped
    being words; ``Settings(min_words=...)``, ``settings.min_words`` and the key
    ``min_words`` in :meth:`from_dict` still mean it.
    ``spare_bands``: bands of ``rows`` rows an *index* stores beyond ``bands`` (the
    scan ignores them), so that a look-up can leave out a paragraph's heaviest buckets
    and still search ``bands`` of its bands (:mod:`dedup.index.bands`); ``-1`` derives
    it (:func:`spare_bands`), ``0`` is the layout of indexes made before session 16.
    Reports list it with the other settings (a scan's too, which has no use for it),
    so two runs' settings compare whole; an index refuses a count given that differs
    from its own, not the derived one (the defaults open an index made before).
    """

    unit: Unit = "word"
    ngram: int = 2
    num_perm: int = 256
    bands: int = 0
    rows: int = 0
    threshold: float = 0.3
    doc_threshold: float = 0.3
    min_tokens: int = 8
    seed: int = 1
    containment: float = 0.7
    boilerplate: int = 10
    spare_bands: int = -1

    def __post_init__(self) -> None:
        problems = []
        if self.unit not in ("word", "char"):
            problems.append(f"unit must be 'word' or 'char', not {self.unit!r}")
        if not 1 <= self.ngram <= 64:
            problems.append(f"ngram must be between 1 and 64, not {self.ngram}")
        if not 16 <= self.num_perm <= 1024:
            problems.append(f"num_perm must be between 16 and 1024, not {self.num_perm}")
        if self.boilerplate < 0:
            problems.append(f"boilerplate must be at least 0 documents (0: off), not {self.boilerplate}")
        if not 0.0 <= self.containment <= 1.0:
            problems.append(f"containment must be in [0, 1] (0: off), not {self.containment}")
        for name in ("threshold", "doc_threshold"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                problems.append(f"{name} must be in (0, 1], not {value}")
        if self.min_tokens < 1:
            problems.append(f"min_tokens must be at least 1, not {self.min_tokens}")
        if self.bands > self.num_perm or self.rows > self.num_perm:
            problems.append(f"bands and rows must each be at most num_perm = {self.num_perm}")
        elif self.bands and self.rows and self.bands * self.rows > self.num_perm:
            problems.append(
                f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}"
            )
        if self.spare_bands < -1:
            problems.append(f"spare_bands must be at least 0 (-1: derived), not {self.spare_bands}")
        if problems:
            raise ValueError("; ".join(problems))
        if self.rows and not self.bands:  # one given: the other uses every permutation
            object.__setattr__(self, "bands", self.num_perm // self.rows)
        elif self.bands and not self.rows:
            object.__setattr__(self, "rows", self.num_perm // self.bands)
        if not self.bands:
            bands, rows = choose_bands(min(self.threshold, self.doc_threshold), self.num_perm)
            object.__setattr__(self, "bands", bands)
            object.__setattr__(self, "rows", rows)
        room = self.num_perm // self.rows - self.bands
        if self.spare_bands < 0:
            object.__setattr__(self, "spare_bands", self.derived_spare_bands())
        elif self.spare_bands > room:
            raise ValueError(f"bands + spare_bands = {self.bands + self.spare_bands} bands of {self.rows} rows "
                             f"exceed num_perm = {self.num_perm}")

    def derived_spare_bands(self) -> int:
        """The ``spare_bands`` these thresholds, bands and rows derive
        (:func:`spare_bands`): what ``-1`` stands for."""
        room = self.num_perm // self.rows - self.bands
        return spare_bands(min(self.threshold, self.doc_threshold), self.bands, self.rows, room)

    def lsh_warning(self) -> Optional[str]:
        """Why these bands x rows would miss most pairs at the threshold, or ``None``:
        the LSH S-curve ``1 - (1 - s**rows) ** bands`` at the lower of the two
        thresholds is below 0.5 (e.g. ``rows=100``: 2 bands of 100 rows catch a pair
        at J = 0.3 with probability ~1e-52).  Derived bands never warn (they catch a
        pair at the threshold with probability >= 0.99 whenever ``num_perm`` allows it,
        :func:`dedup.lsh.choose_bands`)."""
        at = min(self.threshold, self.doc_threshold)
        chance = float(catch_probability(at, self.bands, self.rows))
        if chance >= 0.5:
            return None
        return (f"LSH with {self.bands} bands x {self.rows} rows makes a pair at the threshold {at} a candidate "
                f"with probability {f'{chance:.2g}' if chance >= 1e-3 else 'below 0.001'} (S-curve 1-(1-s^rows)^bands): most near-duplicates at the "
                "threshold would be missed; leave bands and rows to be derived from the threshold "
                "(`dedup explain` shows the curve)")

    def with_changes(self, **changes: Any) -> "Settings":
        """A copy with some fields changed (``None`` means unchanged).

        Bands and rows that are not given are derived again whenever anything they
        depend on changes, so ``with_changes(rows=4)`` means "4 rows, as many bands as
        fit", not "4 rows on top of the old band count".
        """
        changes = {_OLD_NAMES.get(k, k): v for k, v in changes.items() if v is not None}
        if changes.keys() & {"threshold", "doc_threshold", "num_perm", "bands", "rows"}:
            changes.setdefault("bands", 0)
            changes.setdefault("rows", 0)
            changes.setdefault("spare_bands", -1)
        return replace(self, **changes)

    @property
    def min_words(self) -> int:
        """The old name of :attr:`min_tokens`."""
        return self.min_tokens

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON values; ``min_words`` repeats ``min_tokens`` for readers
        of reports written before the rename."""
        data = asdict(self)
        data["min_words"] = self.min_tokens
        data["scheme"] = SCHEME
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Settings":
        known = {f.name for f in fields(cls)} | set(_OLD_NAMES)
        scheme = data.get("scheme", SCHEME)
        if scheme != SCHEME:
            raise ValueError(f"signatures use MinHash scheme {scheme!r}; this dedup makes {SCHEME!r}")
        # Settings stored before ``spare_bands`` existed are an index without them.
        return cls(**{"spare_bands": 0, **{k: v for k, v in data.items() if k in known}})

    def signature_key(self) -> str:
        """A short digest of the fields that decide a signature (not the thresholds).

        Cached signatures and stored sketches are only reusable when this matches.
        """
        key = {k: getattr(self, k) for k in ("unit", "ngram", "num_perm", "seed")}
        key["scheme"] = SCHEME
        key["normalize"] = NORMALIZE_VERSION
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def spare_bands(threshold: float, bands: int, rows: int, room: int) -> int:
    """The derived ``Settings.spare_bands``: the fewest extra bands (at most ``room``,
    the bands of ``rows`` rows left in the signature) with which a pair at
    ``threshold`` collides in *two* bands at least as often as it collides in one of
    ``bands`` -- ``P(Binomial(bands + spare, t**rows) >= 2) >= 1 - (1 - t**rows)**bands``
    -- or 0 if none fits (the look-up then searches every band, as before).

    Why: a look-up reads a heavy bucket's rows only where they collide with the checked
    text in two bands or more (:mod:`dedup.index.bands`), so a pair whose every
    collision is in a heavy bucket is still a candidate with this probability.  At
    the defaults (0.3, 49 x 2): 23 spare bands (72 in all), 0.9909 against 0.9902."""
    p = threshold**rows
    plain = 1.0 - (1.0 - p) ** bands
    for total in range(bands, bands + room + 1):
        if 1.0 - (1.0 - p) ** total - total * p * (1.0 - p) ** (total - 1) >= plain:
            return total - bands
    return 0


#: Old field names still accepted by ``Settings(...)`` and :meth:`Settings.from_dict`.
_OLD_NAMES = {"min_words": "min_tokens"}
_dataclass_init = Settings.__init__


def _init_with_old_names(self: Settings, *args: Any, **kwargs: Any) -> None:
    for old, new in _OLD_NAMES.items():
        if old in kwargs:
            value = kwargs.pop(old)
            if kwargs.setdefault(new, value) != value:
                raise ValueError(f"{old} (the old name of {new}) and {new} disagree: {value} and {kwargs[new]}")
    _dataclass_init(self, *args, **kwargs)


Settings.__init__ = _init_with_old_names  # type: ignore[method-assign]

#: Bumped whenever normalization, tokenization or shingle hashing changes what a text
#: hashes to: persisted indexes of another version are refused, cache entries rebuilt.
#: 2: tokens by script (dedup.tokenize), optional vowel marks dropped, exact keys for
#: texts without tokens.  3: Thai, Lao, Khmer and Myanmar shingles span 3 graphemes
#: (were 5; :func:`dedup.tokenize.shingle_widths`).  4: Greek accents, breathings, iota
#: subscript and dialytika dropped (:mod:`dedup.normalize`).  5: Russian "ё" written
#: as "е" (:mod:`dedup.normalize`).  6: Arabic-script letter forms (alef with hamza,
#: Farsi yeh, keheh, teh marbuta, ...) folded, every script's decimal digits ASCII.
#: 7: a ZWNJ next to an Arabic-script character is a space (Lucene's PersianCharFilter; #10).
NORMALIZE_VERSION = 7
