"""Whether a stored index can be used by this dedup with the settings asked for.

Why one module for every backend: an index stores the *outputs* of normalization,
shingle hashing, MinHash and banding.  If any of them differs between the dedup that
wrote an index and the one reading it, stored buckets and signatures silently stop
matching new ones -- the index would answer "nothing seen" for a verbatim copy.  So each
backend stores the same four facts when it creates an index (as plain strings, under
the keys of :func:`describe`) and hands them back to :func:`check` on every open, which
refuses a mismatch with a message naming the index.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Optional

from ..settings import NORMALIZE_VERSION, SCHEME, Settings
from .protocol import Derive, IndexCorrupt, SettingsMismatch

def describe(settings: Settings, derive: Derive) -> dict[str, str]:
    """What a new index stores about how it was built (all values strings)."""
    return {
        "settings": json.dumps(settings.to_dict(), sort_keys=True),
        "scheme": SCHEME,
        "normalize_version": str(NORMALIZE_VERSION),
        "pipeline": derive.fingerprint(settings),
    }


def check_layout(name: str, found: Optional[str], reads: str, backend: str) -> None:
    """Refuse an index whose stored layout (``found``, a backend's format version) is
    not the one this dedup reads (``reads``): its rows cannot be read.  An older layout
    is rebuilt (converting it in place on a shared server is not safe); a newer one was
    written by a newer dedup, which is what reads it.

    Raises :class:`SettingsMismatch` naming the index, both versions and the way out."""
    if found == reads:
        return
    if newer(found, reads):
        raise SettingsMismatch(
            f"{name}: the index is stored in {backend} layout version {found}, written by a newer dedup "
            f"(this one reads version {reads}); upgrade dedup to use it")
    raise SettingsMismatch(
        f"{name}: the index is stored in {backend} layout version {found or '(none)'}, this dedup reads "
        f"version {reads}; rebuild the index: `dedup index add` the original documents into a new one "
        "(`dedup index export` of the dedup that built it lists their ids, not their texts)"
    )


def newer(found: Optional[str], reads: str) -> bool:
    """Whether the stored format version ``found`` is a whole number above ``reads``."""
    return found is not None and found.isdigit() and int(found) > int(reads)


def check(name: str, meta: Mapping[str, str], asked: Optional[Settings], derive: Derive) -> Settings:
    """The stored settings of the index ``name`` (from its ``meta``), after checking
    that this dedup builds the same signatures and band keys, and that ``asked`` (if
    given) equals them.

    Raises :class:`SettingsMismatch` (other normalization, scheme, pipeline or
    settings) or :class:`IndexCorrupt` (settings unreadable)."""
    if meta.get("normalize_version") != str(NORMALIZE_VERSION):
        raise SettingsMismatch(
            f"{name}: built with text normalization version {meta.get('normalize_version')}, "
            f"this dedup normalizes with version {NORMALIZE_VERSION}; rebuild the index"
        )
    try:
        data = json.loads(meta["settings"])
    except (KeyError, ValueError, TypeError) as err:
        raise IndexCorrupt(f"{name}: unreadable settings in the index ({err})") from None
    scheme = meta.get("scheme") or (data.get("scheme") if isinstance(data, dict) else None) or SCHEME
    if scheme != SCHEME:
        raise SettingsMismatch(
            f"{name}: the index holds MinHash signatures of scheme {scheme!r}, this dedup makes {SCHEME!r}; "
            "rebuild the index"
        )
    try:
        stored = Settings.from_dict(data)
    except (ValueError, TypeError, AttributeError) as err:
        raise IndexCorrupt(f"{name}: unreadable settings in the index ({err})") from None
    if meta.get("pipeline") != derive.fingerprint(stored):
        raise SettingsMismatch(
            f"{name}: this dedup normalizes, hashes, signs or bands text differently from the "
            "version that built the index, so stored signatures would not match; rebuild the index"
        )
    # Spare bands are how the index stores its buckets (an index made before them
    # searches its ``bands``, :mod:`dedup.index.bands`): the derived count is not asked
    # for -- the default settings open an old index -- but a count given is (review R10).
    given = asked is not None and asked.spare_bands != asked.derived_spare_bands()
    if asked is not None and {**asked.to_dict(), "spare_bands": 0} != {**stored.to_dict(), "spare_bands": 0} or (
            given and asked.spare_bands != stored.spare_bands):
        diff = [
            f"{k}={getattr(stored, k)!r} (asked for {getattr(asked, k)!r})"
            for k in stored.to_dict() if k in asked.__dataclass_fields__ and getattr(stored, k) != getattr(asked, k)
            and (k != "spare_bands" or given)
        ]
        raise SettingsMismatch(
            f"{name}: the index was built with other settings: {', '.join(diff)}; "
            "open it without settings to use its own, or build a new index"
        )
    return stored


def check_options(name: str, stored: Settings, given: Mapping[str, Any],
                  spell: Callable[[str], str] = lambda key: key) -> None:
    """Refuse setting options ``given`` (setting name -> value, e.g. from a command
    line; ``None`` values are not given) that would change the settings the index
    ``name`` was built with (``stored``): an index answers with its own settings.
    ``spell`` writes a setting's name as the caller's user knows it (``--ngram``).

    Raises :class:`SettingsMismatch` naming each differing option with both values
    (the derived bands and rows when only those differ), or ``ValueError`` for an
    invalid value."""
    wanted = stored.with_changes(**given)
    if wanted == stored:
        return
    named = [k for k, v in given.items() if v is not None and getattr(wanted, k) != getattr(stored, k)]
    named = named or [k for k in ("bands", "rows") if getattr(wanted, k) != getattr(stored, k)]
    differences = "; ".join(f"{spell(k)} {getattr(wanted, k)} differs from the index's {getattr(stored, k)}"
                            for k in named)
    raise SettingsMismatch(f"{name}: {differences}: an index answers with the settings it was built with; "
                           "drop these options (`dedup index stats` shows its settings)")
