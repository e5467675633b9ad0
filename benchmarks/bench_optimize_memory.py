"""Peak RSS of an ``dedup index add`` that triggers the automatic optimize of a large
SQLite index, per build (issue #12, per-file memory; session 23).

An index is built once with this tree's code (``dedup index add BASE``, a file of
one-line paragraphs, :mod:`bench_add_memory`'s kinds; then ``dedup index optimize``),
so its bucket file covers every row.  Then, for each build, a copy of that index
(database and bucket file) gets ``dedup index add MORE -q -j 1`` in a fresh process
(its peak RSS read from ``wait4``), ``MORE`` being enough new paragraphs past the
file for the add to write a new one (``OPTIMIZE_AFTER``): the optimize reads all of
the old file.  ``new_file`` says it did.  With ``--src LABEL=DIR`` (repeatable) the
builds run one after the other, ``--rounds`` times.  It measures; it asserts nothing.
``benchmarks/README-memory.md`` has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_add_memory import _RUN, KINDS, _lines, make

HERE = Path(__file__).resolve().parent


def _named_file(db: Path) -> str:
    import sqlite3

    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'bucket_file'").fetchone()
    return row[0] if row else ""


def add(src: Path, more: Path, db: Path) -> dict:
    named = _named_file(db)
    cmd = [sys.executable, "-c", _RUN, str(src), "index", "add", str(more), "--db", str(db), "-q", "-j", "1"]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return {
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_s": round(time.monotonic() - started, 1),
        "exit": code,
        "new_file": _named_file(db) != named,
        "error": err.decode(errors="replace").strip()[-200:] if code else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", action="append", default=[], metavar="LABEL=DIR",
                        help="a source tree to run (default: this one)")
    parser.add_argument("--kind", default="3-word", choices=list(KINDS))
    parser.add_argument("--size", type=int, default=16, metavar="MIB", help="the file the index holds")
    parser.add_argument("--more", type=int, default=1, metavar="MIB", help="the file added after (3-word lines)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--folder", type=Path, help="keep the generated files here")
    parser.add_argument("--make-more", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_more:
        Path(args.make_more[1]).write_text(_lines(3, int(args.make_more[0]), seed=9), encoding="utf-8")
        return
    srcs = [tuple(s.split("=", 1)) for s in args.src] or [("this", str(HERE.parent))]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        base = make(args.kind, args.size << 20, folder)
        more = folder / f"more-{args.more}M.txt"
        if not more.exists():
            subprocess.run([sys.executable, __file__, "--make-more", str((args.more << 20) - 4096), str(more)],
                           check=True)
        built = Path(tmp) / "built"
        built.mkdir()
        db = built / "i.dedup"
        started = time.monotonic()
        for step in (["index", "add", str(base), "--db", str(db), "-q", "-j", "1"], ["index", "optimize", "--db", str(db)]):
            subprocess.run([sys.executable, "-c", _RUN, str(HERE.parent), *step], check=True, stdout=subprocess.DEVNULL)
        sizes = {p.name.split(".")[-1][:8]: p.stat().st_size >> 20 for p in built.iterdir()}
        print(json.dumps({"base": base.name, "more": more.name, "build_s": round(time.monotonic() - started, 1),
                          "files_mb": sizes}), flush=True)
        for round_ in range(args.rounds):
            for label, src in srcs if round_ % 2 == 0 else srcs[::-1]:
                copy = Path(tmp) / f"copy-{label}-{round_}"
                shutil.copytree(built, copy)
                row = {"base": base.name, "build": label, "round": round_, **add(Path(src), more, copy / "i.dedup")}
                print(json.dumps(row), flush=True)
                shutil.rmtree(copy)


if __name__ == "__main__":
    main()
