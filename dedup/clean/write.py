"""``dedup clean``, writing: DEST with SRC's layout, each file copied, rewritten without
what the :class:`~dedup.clean.decide.Plan` drops or strips, or left out (the rules per
format are in :mod:`dedup.clean`'s docstring); every file is written under a temporary
name first."""

from __future__ import annotations

import codecs
import json
import os
import shutil
import stat
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Literal, Optional, Sequence

import numpy as np

from ..corpus import outline
from ..readers import Document, ReadOptions, read_file, reader_for
from ..readers.compressed import compress, decompress, inner_name
from ..readers.text import decode, has_bom
from ..report.output import replacing
from ..settings import Settings
from ..split import split_paragraphs
from .decide import Plan



def files(src: Path) -> Iterator[tuple[str, Path]]:
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


#: Characters of near-duplicate text :func:`compared` measures in one call.
COMPARED_CHARS = 1 << 20


def compared(src: Path, settings: Settings, options: ReadOptions, names: set[str]) -> dict[str, np.ndarray]:
    """Per document named in ``names`` (read again from SRC): a bool per paragraph, whether
    it has ``min_tokens`` tokens or more -- long enough to be compared, as the scan split
    and measured it (:func:`dedup.corpus.outline`).  A document that cannot be read
    again is left out (the caller then counts each of its paragraphs).  Texts are held
    up to :data:`COMPARED_CHARS` characters at a time (and one document beyond), also
    inside one JSON Lines or CSV file of many records; what is kept is a bool per
    paragraph."""
    files_of = {n[:i] for n in names for i, c in enumerate(n) if c in "#:"} | set(names)
    out: dict[str, np.ndarray] = {}
    held: list[Document] = []

    def measure() -> None:
        o = outline([d.text for d in held], settings)
        counts = [len(sp) for sp in o.spans]
        out.update(zip((d.path for d in held), np.split(o.words >= settings.min_tokens, np.cumsum(counts)[:-1])))
        held.clear()

    for rel, path in files(src):
        name = rel if src.is_dir() else src.name
        if name in files_of and path.is_file() and not path.is_symlink():
            for d in read_file(path, name, options):
                if isinstance(d, Document) and d.path in names:
                    held.append(d)
                    if sum(len(h.text) for h in held) >= COMPARED_CHARS:
                        measure()
    if held:
        measure()
    return out


def _documents_of(rel: str, plan: Plan) -> bool:
    """Whether any decision concerns a document of the file ``rel``."""
    return any(name == rel or name.startswith((rel + "#", rel + ":")) for name in (*plan.drop, *plan.strip))


def write_one(src: Path, dest: Path, rel: str, path: Path, plan: Plan,
              options: ReadOptions) -> Optional[Literal["copied", "rewritten", "dropped"]]:
    """Reproduce the entry ``rel`` (at ``path``) of SRC under DEST as ``plan`` says;
    returns what was done with it (``None``: not copied, said in ``plan.notes``)."""
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        if target.is_symlink() or target.exists():
            target.unlink()
        os.symlink(os.readlink(path), target)
        return "copied"
    if not stat.S_ISREG(mode):
        plan.notes.append({"file": rel, "note": "not a regular file; not copied"})
        return None
    name = rel if src.is_dir() else src.name
    if not _documents_of(name, plan):
        with replacing(target, ".dedup-tmp") as tmp:
            shutil.copy2(path, tmp)
        return "copied"
    cleaned = _clean_bytes(path.read_bytes(), name, plan, options)
    if cleaned is None:
        if target.exists() or target.is_symlink():
            target.unlink()
        return "dropped"
    with replacing(target, ".dedup-tmp") as tmp:
        Path(tmp).write_bytes(cleaned)
    shutil.copystat(path, target)
    return "rewritten"


def _clean_bytes(data: bytes, name: str, plan: Plan, options: ReadOptions) -> Optional[bytes]:
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
            cleaned = compress(cleaned, suffix)
        return cleaned
    return _clean_plain(data, name, name, plan, options)


def _clean_plain(data: bytes, inner: str, name: str, plan: Plan, options: ReadOptions) -> Optional[bytes]:
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
    return _strip(docs[0].text, plan.strip[name], name, plan).encode(_written_in(data, options))


def _written_in(data: bytes, options: ReadOptions) -> str:
    """The encoding a stripped plain-text file is written in: UTF-8, or the legacy
    encoding (``--encoding``) it was read in when it is not UTF-8 -- a cp1251 archive
    stays cp1251."""
    if options.encoding is None or has_bom(data):
        return "utf-8"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return options.encoding
    return "utf-8"


def _strip(text: str, cut: list[dict[str, Any]], name: str, plan: Plan) -> str:
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


def _clean_lines(data: bytes, items: list, name: str, plan: Plan, options: ReadOptions) -> Optional[bytes]:
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


def _clean_array(data: bytes, items: list, plan: Plan, options: ReadOptions) -> Optional[bytes]:
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
