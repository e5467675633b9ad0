"""The SQLite index file's schema: creating, upgrading and checking it on open (SQLite's
errors translated into :class:`~dedup.storage.protocol.StorageError` s: :mod:`.errors`).

The settings / scheme / pipeline check itself is shared by every backend
(:mod:`dedup.storage.compat`); this module stores its facts in the ``meta`` table.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from contextlib import contextmanager
from typing import Iterator, Optional

import numpy as np
import xxhash

from ...settings import Settings
from .. import compat
from ..protocol import Derive, IndexCorrupt, StorageError
from ..rowcheck import damaged, row_checks

FORMAT = "dedup-index"
FORMAT_VERSION = 14
#: Versions this dedup upgrades in place when it opens them writable (1-3: bucket and
#: sketch tables, no ``uid``, id floors or ``heirs``; 4 and 5, briefly on main: bucket
#: or sketch tables beside the bucket file; 6: no ``digest`` column, no index on
#: ``added``; 7: no ``tallies`` table, no ``judged`` meta row: its counts start at 0;
#: 8: no row checksums, computed for every stored row by the upgrade -- whatever damage
#: the file had then is taken as it is -- and stored after the blobs, so a read of a
#: paragraph's signature alone then also reads its overflow pages); 9: documents'
#: checksums without the time added, tallies without theirs (both computed by the upgrade);
#: 10: ``banded``, word and paragraph counts, digest, metadata and text outside the
#: checksums (every upgrade from 10 or older checks the rows' structure before it
#: computes checksums: :mod:`.upgrade`, what it can and cannot know); 11: no
#: ``meta_check`` row (added, the rows as they are); 12: no ``judged_check`` and
#: ``tally_floor`` rows (added: :func:`_tally_meta`, one indexed query); 13: ``meta`` a
#: rowid table (its keys in a separate index), no ``counts`` table, no ``live_check`` and
#: ``heirs`` meta rows, no ``heirs.row_check`` (all added by :func:`_live_upgrade`: the
#: counts read through SQLite's indexes -- damage already there is taken as it is).
_UPGRADABLE = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13"}
#: The meta rows written once, when the index is created, under the ``meta_check`` row's
#: checksum (verified on every open): one flipped bit of the settings' JSON made a
#: threshold of 0.3 a 0.7, and every answer changed with it.
_FIXED_META = ("format", "settings", "scheme", "normalize_version", "pipeline", "uid", "tally_floor")
#: WAL pages between checkpoints (64 MB of 4 KB pages) instead of SQLite's 1000: fewer
#: adds pay for a checkpoint.  Measured when an add still dirtied ~1000 pages (bucket
#: tables): add p50 17 ms with it against 69 ms with the default at 2k articles; an add
#: now writes ~20 pages, so the difference is smaller (not re-measured).
WAL_CHECKPOINT_PAGES = 16384
#: Bytes of the file read through a memory map instead of ``read`` calls (random row
#: reads of candidates).  SQLite caps the map at 2 GB.
MMAP_BYTES = 1 << 31
#: KB of SQLite page cache per connection.
CACHE_KB = 65536

#: ``meta`` and ``counts`` are WITHOUT ROWID tables: their key is the table's own B-tree,
#: with no second index whose lost entry would hide a row (:mod:`.counts`).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    key INTEGER NOT NULL,
    chars INTEGER NOT NULL,
    paragraphs INTEGER NOT NULL,
    banded INTEGER NOT NULL,
    added REAL NOT NULL,
    sig_check INTEGER NOT NULL,
    row_check INTEGER NOT NULL,
    text_check INTEGER NOT NULL,
    signature BLOB NOT NULL,
    digest TEXT,
    meta TEXT,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_key ON documents (key);
CREATE INDEX IF NOT EXISTS documents_added ON documents (added);
CREATE TABLE IF NOT EXISTS paragraphs (
    id INTEGER PRIMARY KEY,
    doc INTEGER NOT NULL,
    position INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    words INTEGER NOT NULL,
    key INTEGER NOT NULL,
    banded INTEGER NOT NULL,
    sig_check INTEGER NOT NULL,
    row_check INTEGER NOT NULL,
    signature BLOB NOT NULL,
    shingles BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS paragraphs_doc ON paragraphs (doc);
CREATE INDEX IF NOT EXISTS paragraphs_key ON paragraphs (key);
CREATE TABLE IF NOT EXISTS heirs (seq INTEGER PRIMARY KEY, level TEXT NOT NULL, id INTEGER NOT NULL,
                                  row_check INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tallies (key INTEGER PRIMARY KEY, documents INTEGER NOT NULL, sum_check INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counts (level INTEGER NOT NULL, key INTEGER NOT NULL, rows INTEGER NOT NULL,
                                   sum_check INTEGER NOT NULL, PRIMARY KEY (level, key)) WITHOUT ROWID;
"""
#: Meta rows an index has (since format 4) besides format, settings and fingerprints: its id
#: (pairs it with its bucket file) and the highest row ids ever removed (ids are
#: never reused, so "rows above the bucket file's" are exactly the rows added since).
_ID_META = ("uid", "paragraph_floor", "document_floor", "judged", "judged_check", "tally_floor", "heirs",
            "live_check")
#: The meta rows that change as the index lives, under the ``live_check`` row's checksum
#: (:func:`read_live`, verified wherever one is read): the floors (a removal raises
#: them), the bucket file in use (``optimize`` names it) and the last ``heirs.seq`` logged
#: (a removal's hand-over).  A lowered floor let a new row take a removed row's id, which
#: the bucket file still holds with the old row's signature bytes; a lost heir left a text
#: out of every look-up.
_LIVE_META = ("paragraph_floor", "document_floor", "bucket_file", "heirs")
#: Tables every version has (a file without them is not a dedup index).
_TABLES = {"meta", "documents", "paragraphs"}
#: Tables of older formats that an upgrade drops.
_DROPPED = ("paragraph_buckets", "document_buckets", "paragraph_sketches", "document_sketches")
_ROWS = {"paragraph": "paragraphs", "document": "documents"}


def table_names(conn: sqlite3.Connection) -> set[str]:
    """The names of the tables of ``conn``'s database (raises ``sqlite3.Error`` for a
    file that is not one): whether it is a dedup index (:data:`_TABLES`), and which
    tables an older format has."""
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception -- if it is still
    open: a Ctrl-C can arrive just after ``COMMIT`` returned (then the change is stored,
    and a ``ROLLBACK`` would fail with "cannot rollback - no transaction is active",
    replacing the interrupt by an error, exit 2 instead of 130)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the original exception is the one to report
        raise


def create_schema(conn: sqlite3.Connection, settings: Settings, derive: Derive) -> None:
    """Create the schema and meta rows; a concurrent creator's rows win (and are then
    compared with ours like on any open)."""
    with _immediate(conn):
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        rows = [("format", FORMAT), ("format_version", str(FORMAT_VERSION)),
                *compat.describe(settings, derive).items(), *_id_meta()]
        conn.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                         [*rows, ("meta_check", meta_check(dict(rows)))])


def meta_check(meta: dict[str, Optional[str]], keys: tuple[str, ...] = _FIXED_META) -> str:
    """The checksum of the meta rows ``keys`` (the fixed ones, :data:`_FIXED_META`; a
    missing one counts as ``NULL``), as the ``meta_check`` row stores it."""
    return str(int(row_checks(np.zeros(1, np.int64), text_columns=[[meta.get(k)] for k in keys])[0]))


def live_check(meta: dict[str, Optional[str]]) -> str:
    """The ``live_check`` meta row of the rows :data:`_LIVE_META` (``bucket_file`` is
    missing until the first ``optimize``): XXH3-64 of their values (``repr``: ``None``
    differs from every text).  Not :func:`meta_check`: it is read on every
    transaction, and the row checksums cost ~30 us for a handful of values."""
    return str(xxhash.xxh3_64_intdigest(repr([meta.get(k) for k in _LIVE_META]).encode("utf-8", "surrogatepass")))


def read_live(conn: sqlite3.Connection, name: str) -> dict[str, Optional[str]]:
    """The meta rows :data:`_LIVE_META`, verified against ``live_check``.

    Raises :class:`IndexCorrupt` naming them when one was changed or deleted."""
    rows = dict(conn.execute(f"SELECT key, value FROM meta WHERE key IN ({', '.join('?' * (len(_LIVE_META) + 1))})",
                             (*_LIVE_META, "live_check")).fetchall())
    if rows.get("live_check") != live_check(rows):
        said = ", ".join(f"{k} {rows.get(k)!r}" for k in _LIVE_META)
        raise IndexCorrupt(damaged(name, f"its meta rows {said} do not match their checksum (live_check)"))
    return {k: rows.get(k) for k in _LIVE_META}


def write_live(conn: sqlite3.Connection, name: str, **changes: str) -> None:
    """Change meta rows of :data:`_LIVE_META` (verified first) and their ``live_check``."""
    rows = {**read_live(conn, name), **changes}
    conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     [*changes.items(), ("live_check", live_check(rows))])


def _id_meta() -> list[tuple[str, str]]:
    live = {"paragraph_floor": "0", "document_floor": "0", "heirs": "0"}
    return [("uid", uuid.uuid4().hex), *live.items(), ("judged", "0"), ("judged_check", judged_check(0)),
            ("tally_floor", "0"), ("live_check", live_check(live))]


def _tally_meta(conn: sqlite3.Connection, name: str, version: str) -> None:
    """An upgrade's ``judged_check`` (of the ``judged`` count as it is) and ``tally_floor``:
    the highest paragraph row id whose content key has no tally (rows stored before
    format 8 had none; 0 when every stored paragraph has its tally) -- the rows above it
    must have one (:meth:`SQLiteStorage.tallies` checks).  One query on the key index."""
    judged = conn.execute("SELECT value FROM meta WHERE key = 'judged'").fetchone()[0]
    try:
        count = int(judged)
    except (TypeError, ValueError):
        count = -1
    if count < 0:
        raise IndexCorrupt(damaged(name, f"format {version} cannot be upgraded: meta judged is {judged!r}, "
                                         "not a count of documents"))
    floor = conn.execute("SELECT COALESCE(MAX(p.id), 0) FROM paragraphs AS p WHERE NOT EXISTS"
                         " (SELECT 1 FROM tallies AS t WHERE t.key = p.key)").fetchone()[0]
    conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     [("judged_check", judged_check(count)), ("tally_floor", str(floor))])


def _live_upgrade(conn: sqlite3.Connection) -> None:
    """An upgrade from format 13 or older: ``meta`` made a WITHOUT ROWID table,
    ``heirs`` rows given their checksums and meta ``heirs`` its last ``seq``,
    ``live_check`` computed over the rows as they are, and the table ``counts`` filled
    (:func:`.counts.fill`)."""
    from .checks import heir_checks
    from .counts import fill

    if "WITHOUT ROWID" not in (conn.execute("SELECT sql FROM sqlite_master WHERE name = 'meta'").fetchone()[0] or ""):
        conn.execute("ALTER TABLE meta RENAME TO meta_rowid")
        conn.execute(_SCHEMA.split(";")[0])
        conn.execute("INSERT INTO meta (key, value) SELECT key, value FROM meta_rowid")
        conn.execute("DROP TABLE meta_rowid")
    if "row_check" not in {r[1] for r in conn.execute("PRAGMA table_info(heirs)")}:
        conn.execute("ALTER TABLE heirs ADD COLUMN row_check INTEGER")
    rows = conn.execute("SELECT seq, level, id FROM heirs ORDER BY seq").fetchall()
    if rows:
        seqs, levels, ids = zip(*rows)
        checks = heir_checks(np.array(seqs), [str(v) for v in levels], np.array(ids)).view(np.int64)
        conn.executemany("UPDATE heirs SET row_check = ? WHERE seq = ?", zip(checks.tolist(), seqs))
    live = dict(conn.execute(f"SELECT key, value FROM meta WHERE key IN ({', '.join('?' * len(_LIVE_META))})",
                             _LIVE_META).fetchall())
    live["heirs"] = str(rows[-1][0] if rows else 0)
    conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     [("heirs", live["heirs"]), ("live_check", live_check(live))])
    fill(conn)


def judged_check(judged: int) -> str:
    """The ``judged_check`` meta row of a ``judged`` count (kept by the tally's update
    in SQL: ``+ 7 * n``): a changed or unreadable ``judged`` no longer matches it."""
    return str(7 * judged + 3)


def upgrade_schema(conn: sqlite3.Connection, name: str) -> None:
    """Bring an older index to the current format, in one transaction: add the
    ``heirs`` table, the id meta rows, the ``digest`` column and the index on ``added``, drop the bucket and sketch tables (the
    buckets are then read from the signatures until :meth:`SQLiteStorage.optimize`
    writes a bucket file), check the rows' structure and compute their checksums
    (:mod:`.upgrade`; :class:`IndexCorrupt` if the structure is wrong, and nothing
    changes); a concurrent opener that upgraded first wins and this does nothing."""
    with _immediate(conn):
        version = conn.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()[0]
        if version in _UPGRADABLE:
            try:  # the rows are checked with the settings they were stored with
                settings = Settings.from_dict(json.loads(
                    conn.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()[0]))
            except (TypeError, ValueError):
                return  # not upgraded: opening it says what is wrong (check_meta)
            columns = {r[1] for r in conn.execute("PRAGMA table_info(documents)")}
            if "digest" not in columns:  # rows added before it have none (NULL)
                conn.execute("ALTER TABLE documents ADD COLUMN digest TEXT")
            from .checks import TALLY_CHECK_SQL
            from .upgrade import stamp

            for table, added in (("documents", ("sig_check", "row_check", "text_check")),
                                 ("paragraphs", ("sig_check", "row_check"))):
                have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                for column in added:
                    if column not in have:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER")
            if version not in ("11", "12"):  # 11's and 12's rows have their checksums
                stamp(conn, name, version, settings)
            tallies = {r[1] for r in conn.execute("PRAGMA table_info(tallies)")}
            if tallies and "sum_check" not in tallies:
                conn.execute("ALTER TABLE tallies ADD COLUMN sum_check INTEGER")
                conn.execute(f"UPDATE tallies SET sum_check = {TALLY_CHECK_SQL}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", _id_meta())
            _tally_meta(conn, name, version)
            for table in _DROPPED:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            _live_upgrade(conn)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(FORMAT_VERSION),))
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('meta_check', ?)", (meta_check(meta),))


def check_meta(meta: dict[str, str], name: str, asked: Optional[Settings], derive: Derive) -> Settings:
    if meta.get("format") != FORMAT:
        raise IndexCorrupt(f"{name}: is an SQLite database but not a dedup index")
    if compat.newer(meta.get("format_version"), str(FORMAT_VERSION)):
        compat.check_layout(name, meta.get("format_version"), str(FORMAT_VERSION), "SQLite")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise IndexCorrupt(
            f"{name}: index format version {meta.get('format_version')}, this dedup reads version {FORMAT_VERSION}"
        )
    if any(k not in meta for k in _ID_META):
        raise IndexCorrupt(f"{name}: the index has no {', '.join(k for k in _ID_META if k not in meta)} meta row")
    if meta.get("meta_check") != meta_check(meta):
        raise IndexCorrupt(damaged(name, f"its meta rows {', '.join(_FIXED_META)} do not match their checksum "
                                         "(meta_check)"))
    return compat.check(name, meta, asked, derive)
