"""Peak RSS of ``dedup check`` of a long article stored many times over, per backend,
per build (issue #12, per-file memory; session 23).

The article (one file of one-line paragraphs, :mod:`bench_add_memory`'s kinds) is
stored ``--copies`` times under as many ids (``Index.load``: nothing compared) with
this tree's code, once per backend; then each build checks it in a fresh process
(``dedup check FILE --db IDX -q -j 1 --format json -o OUT``), its peak RSS read from
``wait4``; a digest of the JSON report says whether the builds answered the same.
Every paragraph of the article then matches a stored text with ``copies`` stored
rows, of which the verdict lists the oldest ``MAX_COPIES`` (16).  With ``--src
LABEL=DIR`` (repeatable) the builds run one after the other for each index, ``--rounds``
times (so a before/after is measured in one run).  It measures; it asserts nothing.
``benchmarks/README-memory.md`` has the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench_add_memory import _RUN, KINDS, _drop, make

HERE = Path(__file__).resolve().parent

_BUILD = """
import sys
sys.path.insert(0, sys.argv[1])
from dedup.index import Index
text = open(sys.argv[3], encoding="utf-8").read()
with Index.open(sys.argv[2]) as idx:
    for copy in range(int(sys.argv[4])):
        (v,) = idx.load([(f"copy{copy}", text)], batch_size=1)
        assert v.added, v
    print(idx.stats()["paragraphs"])
"""


def check(src: Path, path: Path, db: str, out: Path) -> dict:
    cmd = [sys.executable, "-c", _RUN, str(src), "check", str(path), "--db", db, "-q", "-j", "1",
           "--format", "json", "-o", str(out)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    report = json.loads(out.read_text()) if out.exists() and code in (0, 1) else {}
    for key in ("elapsed", "version", "timings", "run"):  # (what differs between runs and builds)
        report.pop(key, None)
    return {
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_s": round(time.monotonic() - started, 1),
        "exit": code,
        "report": hashlib.sha256(json.dumps(report, sort_keys=True).encode()).hexdigest()[:16],
        "error": err.decode(errors="replace").strip()[-200:] if code not in (0, 1) else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", action="append", default=[], metavar="LABEL=DIR",
                        help="a source tree to run (default: this one)")
    parser.add_argument("--kind", default="12-word", choices=list(KINDS))
    parser.add_argument("--size", type=int, default=4, metavar="MIB")
    parser.add_argument("--copies", type=int, default=17, help="times the article is stored (default 17)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--backend", action="append", choices=["sqlite", "redis"])
    parser.add_argument("--redis", default=os.environ.get("DEDUP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--folder", type=Path, help="keep the generated files here")
    args = parser.parse_args()
    srcs = [tuple(s.split("=", 1)) for s in args.src] or [("this", str(HERE.parent))]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = make(args.kind, args.size << 20, folder)
        for backend in args.backend or ["sqlite", "redis"]:
            if backend == "sqlite":
                db = str(Path(tmp) / f"{uuid.uuid4().hex}.dedup")
            else:
                db = f"{args.redis.split('?')[0]}?prefix=bench-{uuid.uuid4().hex[:8]}"
            started = time.monotonic()
            built = subprocess.run([sys.executable, "-c", _BUILD, str(HERE.parent), db, str(path), str(args.copies)],
                                   capture_output=True, text=True, check=True)
            print(json.dumps({"file": path.name, "backend": backend, "copies": args.copies,
                              "paragraphs_stored": int(built.stdout.split()[-1]),
                              "build_s": round(time.monotonic() - started, 1)}), flush=True)
            try:
                for round_ in range(args.rounds):
                    for label, src in srcs if round_ % 2 == 0 else srcs[::-1]:
                        out = Path(tmp) / f"{uuid.uuid4().hex}.json"
                        row = {"file": path.name, "backend": backend, "build": label, "round": round_,
                               **check(Path(src), path, db, out)}
                        print(json.dumps(row), flush=True)
            finally:
                if backend == "redis":
                    _drop(args.redis, db)


if __name__ == "__main__":
    main()
