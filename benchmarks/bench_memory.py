"""Peak memory per input file: one hostile (or merely large) file per ``dedup scan``.

Each file is scanned alone in a fresh process (``-j 1 --no-cache``), and the process's
peak resident set size is read from ``wait4``'s resource usage, so a row is what that
one file costs, start-up included.  The harness measures; it asserts nothing.

    python benchmarks/bench_memory.py                 # all files, default limits
    python benchmarks/bench_memory.py --only gz-bomb  # one of them
    python benchmarks/bench_memory.py --keep DIR      # keep the generated files in DIR

Results: ``benchmarks/README-memory.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from textgen import one_line_paragraphs  # noqa: E402

WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which "
         "council river market harbour bridge station railway museum library garden festival orchestra "
         "minister budget election parliament treaty border village coast mountain forest valley").split()


def _words(rng: random.Random, n_bytes: int) -> bytes:
    """About ``n_bytes`` of space-separated words on one line."""
    chunk = " ".join(rng.choices(WORDS, k=200_000)).encode() + b" "
    reps, rest = divmod(n_bytes, len(chunk))
    return chunk * reps + chunk[:rest]


def one_line(size: int) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / f"one-line-{size >> 20}M.txt"
        path.write_bytes(_words(random.Random(1), size))
        return path
    return make


def lines_1m(folder: Path) -> Path:
    """16 MiB of one-line paragraphs of 8 one-letter words: ~1.05 million paragraphs in
    one document, whose signatures (1 KB each) dwarf its text (U2 of #12)."""
    path = folder / "one-line-paragraphs-16M.txt"
    one_line_paragraphs(path, 16 << 20)
    return path


def gz_bomb(folder: Path) -> Path:
    """900 MiB of text in about a MB of gzip (a 4 KB paragraph, repeated)."""
    path = folder / "bomb-900M.txt.gz"
    block = _words(random.Random(2), 4096) * 256
    with gzip.open(path, "wb", compresslevel=6) as out:
        for _ in range(900):
            out.write(block)
    return path


def jsonl_gz(size: int) -> Callable[[Path], Path]:
    """Many ordinary records (5-50 KB each), gzip-compressed: streamed, all read."""
    def make(folder: Path) -> Path:
        rng = random.Random(3)
        path = folder / f"records-{size >> 20}M.jsonl.gz"
        written = 0
        with gzip.open(path, "wb", compresslevel=1) as out:
            i = 0
            while written < size:
                text = " ".join(rng.choices(WORDS, k=rng.randint(800, 8000)))
                line = json.dumps({"id": f"r{i}", "text": text}).encode() + b"\n"
                out.write(line)
                written += len(line)
                i += 1
        return path
    return make


def nested_divs(folder: Path) -> Path:
    path = folder / "nested-100k.html"
    path.write_text("<div>" * 100_000 + "<p>text</p>" + "</div>" * 100_000)
    return path


def small(folder: Path) -> Path:
    path = folder / "article-10K.txt"
    path.write_bytes(_words(random.Random(4), 10_000))
    return path


CASES: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "baseline": (small, []),
    "one-line-200M": (one_line(200 << 20), []),
    "one-line-16M": (one_line(16 << 20), []),
    "gz-bomb": (gz_bomb, []),
    # U2 of #12, one level at a time and both (the default)
    "lines-1M-document": (lines_1m, ["--level", "document"]),
    "lines-1M-paragraph": (lines_1m, ["--level", "paragraph"]),
    "lines-1M-both": (lines_1m, []),
    "jsonl-gz-64M": (jsonl_gz(64 << 20), []),
    "nested-divs": (nested_divs, []),
}


def make_elsewhere(name: str, folder: Path) -> Path:
    """Generate a case's file in a child process: Linux counts the RSS a process had
    before ``exec`` in its peak, so the measuring parent must stay small."""
    done = subprocess.run([sys.executable, __file__, "--make", name, str(folder)],
                          check=True, capture_output=True, text=True)
    return Path(done.stdout.strip())


def measure(path: Path, extra: list[str]) -> dict:
    """Scan ``path`` alone in a fresh process: peak RSS (MB), seconds, what happened."""
    cmd = [sys.executable, "-c", "import sys; from dedup.cli import main; sys.exit(main())",
           "scan", str(path), "-j", "1", "--no-cache", "--format", "json", *extra]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    report = json.loads(out) if out else {}
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_s": round(time.monotonic() - started, 1),
        "exit": proc.returncode,
        "documents": len(report.get("documents", [])),
        "errors": [e["error"][:90] for e in report.get("errors", [])][:2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=list(CASES), action="append")
    parser.add_argument("--keep", type=Path, help="Write the generated files here and keep them.")
    parser.add_argument("--make", nargs=2, metavar=("CASE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        print(CASES[args.make[0]][0](Path(args.make[1])))
        return
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dedup-bench-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for name in args.only or list(CASES):
            path = make_elsewhere(name, folder)
            extra = CASES[name][1]
            row = {"case": name, **measure(path, extra)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.keep is None:
                path.unlink()
    finally:
        if args.keep is None:
            for leftover in folder.iterdir():
                leftover.unlink()
            folder.rmdir()
    print("\n| case | file size | peak RSS | CPU | exit | documents | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r['case']} | {r['bytes'] / 2**20:,.1f} MiB | {r['peak_rss_mb']:,} MB | {r['cpu_s']} s | "
              f"{r['exit']} | {r['documents']:,} | {'; '.join(r['errors'])} |")


if __name__ == "__main__":
    main()
