"""A read-optimized copy of an index's LSH buckets: sorted arrays in a memory-mapped file.

Why: checking an article (~10 paragraphs) looks up ~1,300 bucket keys: per paragraph
49 Jaccard band keys at the default 49 x 2 layout (85 in an index made with the older
85 x 3) and 79 containment keys (:mod:`dedup.index.contain`).  In a database table
(``WITHOUT ROWID``, keyed by band key) that was one random B-tree seek a key --
measured when that was ~850 band keys (85 a paragraph): ~4 ms of CPU at 100k stored
articles even with every page cached -- and an add wrote ~900 rows onto random pages
(~15 ms).  The same buckets as one sorted uint64 key array, with
the stored row each key points at, answer all keys of a check with a fence search and
a compiled search inside one 4 KB block per key (:mod:`.search`).  The rows' b-bit sketches and
signature bytes (the low byte of each MinHash value: an exact upper bound of a pair's
equal positions, :mod:`dedup.index.bytebound`) sit beside them in arrays indexed by
row id, so a chance candidate is dismissed without touching the database at all.

The file is derived data, never the source of truth: the database keeps every row's
signature and whether it is banded, from which the buckets are computed (and without a
usable file, the same goes into memory).  Files are immutable and named by a random id
(``<index>-lsh.<file_id>``); the database names the one to use, so a reader never sees
a file change under it, a file whose writer died before naming it is never used, and a
database restored from a backup ignores files written after the backup.  What changed
since the named file was written is read from the database into :class:`DeltaBuckets`
as it appears: rows with ids above the file's ``upto`` (the backend never reuses ids)
and rows that inherited the bands of a removed exact copy (the backend logs them; the
file's ``heirs`` says how much of that log it includes).  Removed rows that the file
still lists are candidates whose rows are gone: the caller drops them.

Crash safety: a file is written under a temporary name, flushed to disk, renamed to its
final name and only then named in the database; whatever is left by a process killed
on the way is unnamed, and removed by the next writer.

Damage (flipped bytes, a zeroed array, a file overwritten in place) is detected, never
answered from: the header carries its own checksum, and every 4 KB page of the arrays
has a checksum in a table at the end of the file (:class:`Pages`).  Pages are verified
*lazily*: a lookup verifies the pages it is about to read (key blocks, refs, sketches)
the first time this process reads them, so an open costs nothing extra and a lookup at
most one pass over the pages it reads anyway (measured in ``benchmarks/README-index.md``:
first check of a fresh process, and a warm one).  A page that does not verify raises
:class:`BucketFileDamaged`; the backend then drops the file and answers from the
database (what a missing file does), and the next optimize writes a new file from the
database, never from the damaged one.

Nothing is pickled: a JSON header and raw little-endian arrays.

The package, one concern per module: :mod:`.pages` (checksums), :mod:`.lookup` (a
level's buckets), :mod:`.search` (the compiled key search), :mod:`.files` (the layout, opening a file),
:mod:`.write` (writing and replacing files), :mod:`.delta` (what is held in memory).
"""

from .delta import MAX_RUN, DeltaBuckets, merge_runs
from .files import MAGIC, OLDEST, VERSION, BucketFile, bucket_path, empty_bucket_file, older_version, open_bucket_file
from .lookup import BLOCK, Found, LevelBuckets, bounded, find, member, positions
from .pages import PAGE, BucketFileDamaged, Pages, page_sums
from .write import LevelSource, merged_level, remove_unnamed, write_bucket_file, writer_lock

__all__ = [
    "BLOCK", "MAGIC", "MAX_RUN", "OLDEST", "PAGE", "VERSION", "BucketFile", "BucketFileDamaged", "DeltaBuckets", "Found",
    "LevelBuckets", "LevelSource", "Pages", "bounded", "bucket_path", "empty_bucket_file", "find",
    "member", "merge_runs", "merged_level", "older_version", "open_bucket_file", "page_sums", "positions", "remove_unnamed",
    "write_bucket_file", "writer_lock",
]
