"""``clean``: write a deduplicated copy of a corpus (``dedup clean SRC DEST``).

What it does, in order:

1. scans SRC as ``dedup scan`` would (document level; paragraph level too with
   ``strip_paragraphs``);
2. decides: of each group of duplicate documents the canonical copy (the first in path
   order) is kept and a member is dropped only as a near-duplicate of one kept before it
   (see :func:`_copies`); with ``strip_paragraphs``, of each group of repeated
   paragraphs the first copy in a kept document is kept and, alike, the others are cut out of their documents (a document left with no paragraph is dropped);
3. writes DEST with SRC's folder layout: a file none of whose documents changed is
   copied byte for byte (links as links); a plain-text file is written without its cut
   paragraphs (everything else in it byte for byte, as UTF-8); JSON Lines are cleaned
   record by record (a dropped record's line is left out, a stripped record is written
   again with its new text, every other line is copied as it was); a JSON array is
   written again without its dropped records; a compressed file is cleaned inside and
   compressed again with the same codec.  HTML and Markdown documents are kept or
   dropped whole: their paragraph offsets are in the extracted text, not the markup, so
   cutting paragraphs out of them is not attempted (the manifest says so);
4. writes the manifest (JSON, ``DEST/dedup-clean.json`` unless told otherwise): what was
   dropped or stripped, why, and what it duplicated.

Safety: SRC is only read.  DEST may not be inside SRC, nor SRC inside DEST, and must be
empty or missing unless ``force``.  Every file is written under a temporary name in
its folder and renamed when complete, so an interrupted run leaves no half-written file
under a final name; the manifest is written last, so a DEST without it is incomplete.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import json
import lzma
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Optional, Sequence, Union

from .progress import NO_PROGRESS, Progress
from .readers import Document, ReadOptions, reader_for
from .readers.compressed import CODECS, decompress, inner_name
from .readers.text import decode, has_bom
from .results import Pair, ScanResult
from .scan import scan
from .settings import Settings
from .sources import Selection
from .split import split_paragraphs

MANIFEST_NAME = "dedup-clean.json"
#: Manifest keys holding file names, besides ``path``: a name that is not valid UTF-8 is
#: written as the reports write it (U+FFFD for each undecodable byte, plus
#: ``KEY_bytes``, the exact bytes in base64; see :func:`dedup.report.safety.json_name`).
MANIFEST_NAME_KEYS = frozenset({"source", "dest", "document", "duplicate_of"})
_RECOMPRESS = {".gz": lambda b: gzip.compress(b, mtime=0), ".bz2": bz2.compress, ".xz": lzma.compress,
               ".zst": lambda b: __import__("zstandard").ZstdCompressor().compress(b)}


class CleanError(ValueError):
    """SRC and DEST cannot be used as asked (overlap, DEST not empty, missing SRC)."""


@dataclass
class CleanReport:
    """What :func:`clean` did: counts, and the manifest it wrote (``manifest``: the
    JSON object, ``manifest_path``: where)."""

    documents: int = 0
    dropped: int = 0
    stripped_documents: int = 0
    stripped_paragraphs: int = 0
    files_copied: int = 0
    files_rewritten: int = 0
    files_dropped: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)
    manifest_path: Optional[Path] = None


@dataclass
class _Plan:
    drop: dict[str, dict[str, Any]] = field(default_factory=dict)     # document -> why
    strip: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # document -> paragraphs cut
    notes: list[dict[str, str]] = field(default_factory=list)


def clean(
    src: Union[str, Path],
    dest: Union[str, Path],
    settings: Settings | None = None,
    *,
    strip_paragraphs: bool = False,
    force: bool = False,
    manifest: Union[str, Path, None] = None,
    selection: Selection | None = None,
    read_options: ReadOptions | None = None,
    jobs: int = 1,
    cache_dir: Union[str, Path, None] = None,
    progress: Progress = NO_PROGRESS,
) -> CleanReport:
    """Write SRC (a folder or a file) to DEST without its duplicates (module docstring).

    Raises :class:`CleanError` when SRC is missing, the two overlap, or DEST is not
    empty and ``force`` is not given; ``OSError`` when DEST cannot be written.
    """
    src, dest = Path(src), Path(dest)
    manifest_path = Path(manifest) if manifest is not None else dest / MANIFEST_NAME
    _check_paths(src, dest, force, manifest_path)
    read_options = read_options or ReadOptions()
    result = scan(src, settings, levels=("document", "paragraph") if strip_paragraphs else ("document",),
                  selection=selection, read_options=read_options, jobs=jobs, cache_dir=cache_dir,
                  progress=progress, all_pairs=True)  # every pair: a drop needs a direct one
    plan = _plan(result, strip_paragraphs)
    report = CleanReport(documents=len(result.documents))
    dest.mkdir(parents=True, exist_ok=True)
    files = list(_files(src))
    progress.stage("writing", "files", len(files))
    for rel, path in files:
        _write_one(src, dest, rel, path, plan, read_options, report)
        progress.advance()
    progress.close()
    report.dropped = len(plan.drop)
    report.stripped_documents = len(plan.strip)
    report.stripped_paragraphs = sum(len(p) for p in plan.strip.values())
    report.manifest = {
        "source": str(src), "dest": str(dest), "settings": result.settings,
        "strip_paragraphs": strip_paragraphs,
        "counts": {"documents": report.documents, "dropped": report.dropped,
                   "stripped_documents": report.stripped_documents,
                   "stripped_paragraphs": report.stripped_paragraphs, "files_copied": report.files_copied,
                   "files_rewritten": report.files_rewritten, "files_dropped": report.files_dropped},
        "dropped": [{"document": k, **v} for k, v in plan.drop.items()],
        "stripped": [{"document": k, "paragraphs": v} for k, v in plan.strip.items()],
        "notes": plan.notes,
        "errors": [{"path": e.path, "error": e.error} for e in result.errors],
    }
    from .report.machine import NAME_KEYS, dumps
    from .report.output import report_file  # atomic, fsynced, mode from the umask

    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with report_file(str(manifest_path)) as out:  # names as in the reports: valid UTF-8, plus KEY_bytes
        out.write(dumps(report.manifest, NAME_KEYS | MANIFEST_NAME_KEYS) + "\n")
    report.manifest_path = manifest_path
    return report


def _check_paths(src: Path, dest: Path, force: bool, manifest: Path) -> None:
    if not src.exists():
        raise CleanError(f"{src}: no such file or folder")
    s, d, m = src.resolve(), dest.resolve(), manifest.resolve()
    if m == s or m.is_relative_to(s):
        raise CleanError(f"the manifest {manifest} is inside {src}: writing it would change the source")
    if d == s or d.is_relative_to(s):
        raise CleanError(f"{dest} is inside {src}: the cleaned copy would be part of what it copies")
    if s.is_relative_to(d):
        raise CleanError(f"{src} is inside {dest}: writing the copy would change the source")
    if dest.exists() and not dest.is_dir():
        raise CleanError(f"{dest} exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise CleanError(f"{dest} is not empty (--force writes into it, replacing files of the same name)")


# -- deciding ---------------------------------------------------------------------------


def _plan(result: ScanResult, strip_paragraphs: bool) -> _Plan:
    plan = _Plan()
    links = _links(result.pairs)
    same = {p.b.key(): p.a.key() for p in result.pairs if p.exact}  # copy -> first occurrence
    for g in result.groups:
        if g.kind != "document":
            continue
        for m, keeper, pair in _copies(g.members, links, same):
            plan.drop[m.path] = {"reason": "duplicate document", "duplicate_of": keeper.path,
                                 "similarity": round(pair.similarity, 4) if pair else None,
                                 "exact": pair.exact if pair else None}
    if not strip_paragraphs:
        return plan
    paragraphs = {d.path: d.paragraphs for d in result.documents}
    for g in result.groups:
        if g.kind != "paragraph":
            continue
        kept = [m for m in g.members if m.path not in plan.drop]
        for m, keeper, pair in _copies(kept, links, same):
            plan.strip.setdefault(m.path, []).append({
                "paragraph": m.paragraph, "start": m.start, "end": m.end,
                "duplicate_of": {"path": keeper.path, "paragraph": keeper.paragraph},
                "similarity": round(pair.similarity, 4) if pair else None})
    for path, cut in list(plan.strip.items()):
        cut.sort(key=lambda c: c["paragraph"])
        if len(cut) >= paragraphs.get(path, 0):
            del plan.strip[path]
            plan.drop[path] = {"reason": "every paragraph repeated elsewhere", "paragraphs": cut}
    return plan


def _copies(members: Sequence, links: dict[tuple, Pair], same: dict[tuple, tuple]) -> Iterator[tuple]:
    """(member, kept member, pair) for each member of a group, in order, that is itself a
    near-duplicate (a verified pair at the threshold, or the same exact text) of a member
    kept before it; the others are kept.  A group is transitive (A~B, B~C) but C may share
    nothing with A: it is only left out for a copy of it that stays."""
    kept: list = []
    for m in members:
        for k in kept:
            pair = links.get((k.key(), m.key()))
            exact = same.get(k.key(), k.key()) == same.get(m.key(), m.key())
            if exact or (pair is not None and pair.relation == "near-duplicate"):
                yield m, k, pair
                break
        else:
            kept.append(m)


def _links(pairs: Sequence[Pair]) -> dict[tuple, Pair]:
    out: dict[tuple, Pair] = {}
    for p in pairs:
        out.setdefault((p.a.key(), p.b.key()), p)
        out.setdefault((p.b.key(), p.a.key()), p)
    return out


# -- writing ----------------------------------------------------------------------------


def _files(src: Path) -> Iterator[tuple[str, Path]]:
    """Every entry to reproduce under SRC (relative POSIX name, path), in path order;
    a file SRC is the one entry named by its file name.  Links are not followed."""
    if not src.is_dir():
        yield src.name, src
        return
    for folder, dirs, names in os.walk(src):
        dirs.sort()
        base = Path(folder)
        for name in sorted(names) + [d for d in dirs if (base / d).is_symlink()]:
            path = base / name
            yield path.relative_to(src).as_posix(), path


def _documents_of(rel: str, plan: _Plan) -> bool:
    """Whether any decision concerns a document of the file ``rel``."""
    return any(name == rel or name.startswith((rel + "#", rel + ":")) for name in (*plan.drop, *plan.strip))


def _write_one(src: Path, dest: Path, rel: str, path: Path, plan: _Plan, options: ReadOptions,
               report: CleanReport) -> None:
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        if target.is_symlink() or target.exists():
            target.unlink()
        os.symlink(os.readlink(path), target)
        report.files_copied += 1
        return
    if not stat.S_ISREG(mode):
        plan.notes.append({"file": rel, "note": "not a regular file; not copied"})
        return
    name = rel if src.is_dir() else src.name
    if not _documents_of(name, plan):
        _copy_atomic(path, target)
        report.files_copied += 1
        return
    cleaned = _clean_bytes(path.read_bytes(), name, plan, options)
    if cleaned is None:
        report.files_dropped += 1
        if target.exists() or target.is_symlink():
            target.unlink()
        return
    _write_atomic(target, cleaned)
    shutil.copystat(path, target)
    report.files_rewritten += 1


def _clean_bytes(data: bytes, name: str, plan: _Plan, options: ReadOptions) -> Optional[bytes]:
    """The cleaned content of a file named ``name`` (``None``: nothing is left of it)."""
    inner, layers = inner_name(name)
    if layers:
        raw = data
        for suffix in layers:
            raw = decompress(raw, suffix, options.max_decompressed)
        cleaned = _clean_plain(raw, inner, name, plan, options)
        if cleaned is None:
            return None
        for suffix in reversed(layers):
            cleaned = _RECOMPRESS[suffix](cleaned)
        return cleaned
    return _clean_plain(data, name, name, plan, options)


def _clean_plain(data: bytes, inner: str, name: str, plan: _Plan, options: ReadOptions) -> Optional[bytes]:
    """``data`` (already decompressed) read as ``inner`` says, its documents named as
    the scan named them (after the file ``name``)."""
    suffix = PurePosixPath(inner).suffix.lower()
    items = list(reader_for(inner)(data, name, options))
    if suffix in (".jsonl", ".ndjson"):
        return _clean_lines(data, items, name, plan, options)
    if suffix == ".json":
        return _clean_array(data, items, plan, options)
    if name in plan.drop:
        return None
    if suffix in (".html", ".htm", ".md", ".markdown"):
        plan.notes.append({"file": name, "note": "repeated paragraphs kept: offsets are into the text "
                                                 "extracted from the markup, which is copied unchanged"})
        return data
    docs = [d for d in items if isinstance(d, Document)]
    if not docs or name not in plan.strip:
        return data
    return _strip(docs[0].text, plan.strip[name], name, plan).encode("utf-8")


def _strip(text: str, cut: list[dict[str, Any]], name: str, plan: _Plan) -> str:
    """``text`` without the paragraphs in ``cut`` (each with the separator after it;
    the text after the last paragraph kept as it was).  Everything else is unchanged."""
    spans = split_paragraphs(text)
    gone = set()
    for c in cut:
        i = c["paragraph"]
        if i < len(spans) and tuple(spans[i]) == (c["start"], c["end"]):
            gone.add(i)
        else:
            plan.notes.append({"file": name, "note": f"paragraph {i} changed since the scan; kept"})
    kept = [i for i in range(len(spans)) if i not in gone]
    if not kept:
        return ""
    pieces = [text[:spans[0][0]]]
    for i in kept:
        pieces.append(text[spans[i][0]:spans[i + 1][0] if i + 1 < len(spans) else len(text)])
    if kept[-1] != len(spans) - 1:  # the last paragraphs went: end as the text ended
        last = kept[-1]
        pieces[-1] = text[spans[last][0]:spans[last][1]] + text[spans[-1][1]:]
    return "".join(pieces)


def _records(items: Sequence) -> Iterator[tuple[Optional[str], Optional[str]]]:
    """(document name, text) per record as the reader saw it; (None, None) for a
    record the reader reported as an error (it is copied unchanged)."""
    for item in items:
        yield (item.path, item.text) if isinstance(item, Document) else (None, None)


def _clean_lines(data: bytes, items: list, name: str, plan: _Plan, options: ReadOptions) -> Optional[bytes]:
    """JSON Lines, record by record (the reader gives one item per non-blank line)."""
    if has_bom(data) and not data.startswith(codecs.BOM_UTF8):
        plan.notes.append({"file": name, "note": "UTF-16/32 JSON Lines are copied unchanged"})
        return data
    records = _records(items)
    out: list[bytes] = []
    for line in data.split(b"\n"):
        if not line.strip():
            out.append(line)
            continue
        doc, text = next(records, (None, None))
        if doc in plan.drop:
            continue
        if doc in plan.strip:
            bom = codecs.BOM_UTF8 if line.startswith(codecs.BOM_UTF8) else b""
            record = json.loads(line[len(bom):])
            record[options.text_field] = _strip(text, plan.strip[doc], doc, plan)
            line = bom + json.dumps(record, ensure_ascii=False).encode("utf-8")
        out.append(line)
    if not any(line.strip() for line in out):
        return None
    return b"\n".join(out)


def _clean_array(data: bytes, items: list, plan: _Plan, options: ReadOptions) -> Optional[bytes]:
    """A JSON array: written again, without its dropped records."""
    out = []
    for record, (doc, text) in zip(json.loads(decode(data)), _records(items)):
        if doc in plan.drop:
            continue
        if doc in plan.strip:
            record = {**record, options.text_field: _strip(text, plan.strip[doc], doc, plan)}
        out.append(record)
    if not out:
        return None
    return (json.dumps(out, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _copy_atomic(path: Path, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".dedup-tmp", dir=target.parent)
    os.close(fd)
    try:
        shutil.copy2(path, tmp)
        os.replace(tmp, target)
    except BaseException:
        _unlink(tmp)
        raise


def _write_atomic(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".dedup-tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
