"""Input that used to crash or stall a whole run: each becomes an error entry for its
file or record, the rest is read, and an unexpected failure exits 2 with one line."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import time

import pytest
from click.testing import CliRunner

from dedup import Document, Index, ReadOptions, scan, scan_documents
from dedup.sources import Selection
from dedup.cli import main
from textgen import prose

GOOD = "A perfectly ordinary paragraph of text that should always be read and scanned.\n"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def errors(result):
    return {e.path: e.error for e in result.errors}


# --- walking ---------------------------------------------------------------------------

@pytest.fixture
def deep_tree(tmp_path):
    """A folder chain 1,200 deep (> sys.getrecursionlimit()), made and removed one
    level at a time: os.makedirs, os.walk and shutil.rmtree (pytest's clean-up of old
    temporary folders) all recurse and would fail on it."""
    chain = [tmp_path]
    for _ in range(1200):
        chain.append(chain[-1] / "d")
        chain[-1].mkdir()
    (chain[-1] / "bottom.txt").write_text(GOOD)
    yield tmp_path
    (chain[-1] / "bottom.txt").unlink()
    for folder in reversed(chain[1:]):
        folder.rmdir()


def test_folders_nested_deeper_than_the_recursion_limit(deep_tree):
    (deep_tree / "top.txt").write_text(GOOD)
    result = scan(deep_tree)
    assert sorted(d.path for d in result.documents) == ["d/" * 1200 + "bottom.txt", "top.txt"]
    assert result.errors == []


def test_link_loops_are_still_found_by_the_iterative_walk(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "up").symlink_to(tmp_path / "a")
    (tmp_path / "a" / "b" / "x.txt").write_text(GOOD)
    result = scan(tmp_path)
    assert [d.path for d in result.documents] == ["a/b/x.txt"]
    assert "loop" in errors(result)["a/b/up"]


def test_an_entry_under_two_overlapping_roots_is_one_error(tmp_path):
    """Tester F12 (s17): ``scan a a/b`` read a/b's files once but reported its broken
    link, FIFO and link loop once per root (5 errors for 3 problems)."""
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    (tmp_path / "a" / "x.txt").write_text(GOOD)
    (inner / "y.txt").write_text(GOOD + " Another sentence.")
    (inner / "broken").symlink_to(tmp_path / "nowhere")
    os.mkfifo(inner / "fifo")
    (inner / "bin.txt").write_bytes(b"\x00bin")
    result = scan([tmp_path / "a", inner, inner / "fifo"])
    assert len(result.documents) == 2
    shown = sorted(e.path.rsplit("/", 1)[-1] for e in result.errors)
    assert shown == ["bin.txt", "broken", "fifo"], result.errors
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a")
    assert sorted(e.path.rsplit("/", 1)[-1] for e in scan([tmp_path / "a", inner]).errors) == [
        "bin.txt", "broken", "fifo", "loop"]


def test_broken_links_the_patterns_leave_out_are_no_errors(tmp_path):
    """Tester's T1 of #12: a dangling ``.md`` link failed an ``--include '*.txt'`` run."""
    (tmp_path / "a.txt").write_text(GOOD)
    (tmp_path / "broken.md").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loopa").symlink_to(tmp_path / "loopb")
    (tmp_path / "loopb").symlink_to(tmp_path / "loopa")
    (tmp_path / "broken.txt").symlink_to(tmp_path / "nowhere")
    wanted = scan(tmp_path, selection=Selection(include=("*.txt",)))
    assert [d.path for d in wanted.documents] == ["a.txt"] and list(errors(wanted)) == ["broken.txt"]
    assert list(errors(scan(tmp_path, selection=Selection(exclude=("broken*",))))) == ["loopa", "loopb"]
    everything = errors(scan(tmp_path))
    assert everything["broken.md"].startswith("broken symbolic link") and "loop" in everything["loopa"]


def test_special_files_named_on_the_command_line_are_errors_not_hangs(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    (tmp_path / "good.txt").write_text(GOOD)
    named = [fifo, "/dev/zero", "/dev/urandom", tmp_path / "zero", tmp_path / "broken", tmp_path / "good.txt"]
    result = scan(named)  # would block on the FIFO, or read /dev/zero until memory runs out
    found = errors(result)
    assert found[str(fifo)] == found["/dev/zero"] == found["/dev/urandom"] == "not a regular file"
    assert found[str(tmp_path / "zero")] == "not a regular file"
    assert found[str(tmp_path / "broken")].startswith("broken symbolic link")
    assert [d.path for d in result.documents] == [str(tmp_path / "good.txt")]
    cli = run("scan", *named, "--format", "json")
    assert cli.exit_code == 0, cli.output  # an error entry, not an abort
    assert len(json.loads(cli.stdout)["errors"]) == 5


def test_special_files_inside_a_folder_are_named_as_the_files_beside_them(tmp_path, monkeypatch):
    """A FIFO found in a folder was named ``fifo`` by ``check`` and ``index add`` (not
    ``bad/fifo``, as a file read from there is): each error names what the user can find."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad" / "sub").mkdir(parents=True)
    (tmp_path / "bad" / "good.txt").write_text(GOOD)
    (tmp_path / "bad" / "bin.txt").write_bytes(b"\0" * 100)
    os.mkfifo(tmp_path / "bad" / "fifo")
    os.mkfifo(tmp_path / "bad" / "sub" / "fifo")
    expected = {"bad/bin.txt", "bad/fifo", "bad/sub/fifo"}
    added = run("index", "add", "bad", "--db", "i.dedup", "--format", "json")
    assert {e["path"] for e in json.loads(added.stdout)["errors"]} == expected, added.output
    checked = run("check", "bad/", "--db", "i.dedup", "--format", "json")
    assert {e["path"] for e in json.loads(checked.stdout)["errors"]} == expected, checked.output
    assert {e.path for e in scan("bad").errors} == {"bin.txt", "fifo", "sub/fifo"}  # the scan names them under its root


def test_a_path_that_does_not_exist_raises_in_python_and_is_a_usage_error_in_the_cli(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan(tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        scan([tmp_path, tmp_path / "missing"])
    cli = run("scan", tmp_path / "missing")
    assert cli.exit_code == 2 and "does not exist" in cli.stderr


def test_scan_takes_bytes_paths_and_refuses_an_empty_path_and_non_paths(tmp_path, monkeypatch):
    """Tester's T11 of session 24: ``scan(b"x.txt")`` failed with a TypeError about an
    int (the bytes taken as a list of paths) and ``scan("")`` scanned the current folder,
    where the command refuses ``''``."""
    text = "The harbour board met on Tuesday to discuss the strike and the cranes at the port."
    (tmp_path / "a.txt").write_text(text)
    (tmp_path / "b.txt").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert [d.path for d in scan(b"a.txt").documents] == ["a.txt"]
    assert len(scan([b"a.txt", "b.txt"]).pairs) == 2  # the document and its paragraph
    for empty in ("", b"", ["a.txt", ""]):
        with pytest.raises(FileNotFoundError, match="empty"):
            scan(empty)
    with pytest.raises(TypeError, match="not int"):
        scan(["a.txt", 7])
    assert run("scan", "").exit_code == 2


# --- JSON --------------------------------------------------------------------------------

def json_lines(*records: str) -> bytes:
    return "\n".join(records).encode() + b"\n"


DEEP = "[" * 100_000 + "]" * 100_000
BIG = "7" * 5_000


@pytest.mark.parametrize("hostile, expected", [
    (f'{{"id": "x", "text": "never mind", "extra": {DEEP}}}', "nested too deeply"),
    (f'{{"id": "x", "text": "never mind", "extra": {BIG}}}', "more than 4,300 digits"),
    ('{"id": "x", "text": "broken \\ud800 half of a pair"}', "lone surrogate \\ud800 at character 7"),
    ('{"id": "x\\udc00", "text": "an ordinary text with a broken id"}', "lone surrogate \\udc00"),
])
def test_hostile_json_lines_record_is_an_error_and_the_rest_is_read(tmp_path, hostile, expected):
    (tmp_path / "a.jsonl").write_bytes(json_lines(
        '{"id": "first", "text": "the first record"}', hostile, '{"id": "last", "text": "the last record"}'))
    result = scan(tmp_path)
    assert [d.path for d in result.documents] == ["a.jsonl#first", "a.jsonl#last"]
    [(path, error)] = errors(result).items()
    assert path in ("a.jsonl#x", "a.jsonl:2") and expected in error and "line 2" in error
    report = run("scan", tmp_path, "--format", "json")  # the JSON writer copes too
    assert report.exit_code == 0 and len(json.loads(report.stdout)["errors"]) == 1


@pytest.mark.parametrize("hostile, expected", [
    (f'[{{"id": "x", "text": "t", "extra": {DEEP}}}]', "nested too deeply"),
    (f'[{{"id": "x", "text": "t"}}, {BIG}]', "more than 4,300 digits"),
])
def test_hostile_json_array_is_an_error_for_the_file(tmp_path, hostile, expected):
    (tmp_path / "a.json").write_text(hostile)
    (tmp_path / "b.txt").write_text(GOOD)
    result = scan(tmp_path)
    assert [d.path for d in result.documents] == ["b.txt"]
    assert expected in errors(result)["a.json"]


def test_lone_surrogate_in_a_json_array_record(tmp_path):
    (tmp_path / "a.json").write_text('[{"id": "x", "text": "bad \\udfff"}, {"id": "y", "text": "good one"}]')
    result = scan(tmp_path)
    assert [d.path for d in result.documents] == ["a.json#y"]
    assert "lone surrogate \\udfff" in errors(result)["a.json#x"]


def test_lone_surrogate_in_documents_given_from_python():
    result = scan_documents([Document("a", "broken \ud800 text"), Document("b", GOOD)])
    assert [d.path for d in result.documents] == ["b"]
    assert "lone surrogate" in errors(result)["a"]


# --- unexpected failures -------------------------------------------------------------------

def test_a_crash_exits_2_with_one_line_naming_the_cause(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text(GOOD)

    def crash(*args, **kwargs):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr("dedup.cli.scan.scan_paths", crash)
    result = run("scan", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "dedup: unexpected error: RuntimeError: the disk caught fire (dedup --debug ... shows the traceback)"]
    debug = run("--debug", "scan", tmp_path)
    assert debug.exit_code == 2 and "Traceback" in debug.stderr and "the disk caught fire" in debug.stderr


def test_a_reader_crash_is_that_files_error_and_the_scan_goes_on(tmp_path, monkeypatch):
    (tmp_path / "a.md").write_text("# Title\n\n" + GOOD)
    (tmp_path / "b.txt").write_text(GOOD)

    def crash(data, name, options):
        raise MemoryError("out of memory")
        yield  # a generator, as readers are

    monkeypatch.setitem(__import__("dedup.readers", fromlist=["READERS"]).READERS, ".md", crash)
    result = scan(tmp_path)
    assert [d.path for d in result.documents] == ["b.txt"]
    assert errors(result)["a.md"] == "unexpected error while reading: MemoryError: out of memory"


def test_index_add_crashing_half_way_says_what_was_committed(tmp_path, monkeypatch):
    rng = random.Random(3)
    for i in range(300):  # two batches of the CLI's 256
        (tmp_path / f"d{i:03d}.txt").write_text("\n\n".join(prose(rng, 60) for _ in range(3)))
    db = tmp_path.parent / f"{tmp_path.name}.dedup"
    calls = []
    real = Index._decide  # the batch pass `index add` runs (dedup.index.settle)

    def second_batch_crashes(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Index, "_decide", second_batch_crashes)
    result = run("index", "add", tmp_path, "--db", db, "--base", tmp_path)
    assert result.exit_code == 2
    made, *lines = result.stderr.strip().splitlines()
    assert made == f"dedup: {db}: no index there: this add makes a new one"
    # Exactly what is in the index (#12a: it said "256 judged and 257 stored" on Redis).
    assert lines[0] == (f"dedup: {db}: stopped; 256 of the 300 documents read are stored in the index "
                        "(the last: d255.txt) and stay there; the other 44 are not (rejected, refused or "
                        "not reached: run the same command again to add them)")
    assert lines[1].startswith("dedup: unexpected error: OSError: [Errno 5] Input/output error")
    monkeypatch.undo()
    with Index.open(db, create=False) as idx:
        assert len(idx) == 256 and "d255.txt" in idx and "d256.txt" not in idx


def test_lone_surrogates_given_to_the_index_are_that_items_error(tmp_path):
    with Index.open(tmp_path / "i.dedup") as idx:
        good = "an ordinary article with enough words to be compared against others"
        verdicts = idx.check_many(["broken \ud800 text", good])
        assert "lone surrogate \\ud800" in verdicts[0].error and verdicts[1].error is None
        added = idx.add_many([("x\udc00", good), ("y", good + " again")])
        assert "lone surrogate \\udc00" in added[0].error and added[1].added
        assert len(idx) == 1


# --- memory per file -----------------------------------------------------------------------

def test_a_file_larger_than_the_document_limit_is_an_error(tmp_path):
    (tmp_path / "huge.txt").write_text("word " * 2000)  # 10,000 bytes, one line
    (tmp_path / "huge.html").write_text("<p>" + "word " * 2000)
    (tmp_path / "good.txt").write_text(GOOD)
    result = scan(tmp_path, read_options=ReadOptions(max_document=1000))
    assert [d.path for d in result.documents] == ["good.txt"]
    for name in ("huge.txt", "huge.html"):
        assert errors(result)[name] == "the file is larger than 1,000 bytes (the --max-document-size limit); not read"


class Bottomless(io.RawIOBase):
    """A stream that never ends (like /dev/zero), counting what was taken from it."""

    taken = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        buffer[:] = b"a" * len(buffer)
        self.taken += len(buffer)
        return len(buffer)


@pytest.mark.parametrize("name", ["x.txt", "x.html", "x.md", "x.json"])
def test_a_bottomless_stream_is_read_no_further_than_the_limit(name):
    from dedup.readers import read_stream

    stream = Bottomless()
    [item] = list(read_stream(io.BufferedReader(stream, 4096), name, ReadOptions(max_document=100_000)))
    assert "100,000 bytes (the --max-document-size limit); not read" in item.error
    assert stream.taken <= 100_000 + 4096  # the limit, rounded up to the buffer


def test_json_lines_are_streamed_and_a_long_record_is_that_records_error(tmp_path):
    records = [json.dumps({"id": f"r{i}", "text": f"record number {i} " + "word " * 50}) for i in range(100)]
    records[40] = json.dumps({"id": "long", "text": "word " * 1000})
    data = "\n".join(records).encode() + b"\n"  # ~30 KB: 30 times the limit
    (tmp_path / "a.jsonl").write_bytes(data)
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(data))
    result = scan(tmp_path, read_options=ReadOptions(max_document=1000))
    for name in ("a.jsonl", "b.jsonl.gz"):
        assert len([d for d in result.documents if d.path.startswith(name + "#")]) == 99
        assert errors(result)[f"{name}:41"] == ("line 41: longer than 1,000 bytes "
                                                "(the --max-document-size limit); not read")


def test_a_compressed_file_is_decompressed_only_up_to_the_document_limit(tmp_path):
    (tmp_path / "bomb.txt.gz").write_bytes(gzip.compress(b"word " * 2_000_000))  # 10 MB inside
    (tmp_path / "good.txt").write_text(GOOD)
    result = scan(tmp_path, read_options=ReadOptions(max_document=100_000))
    assert errors(result)["bomb.txt.gz"] == ("the file is larger than 100,000 bytes "
                                             "(the --max-document-size limit); not read")
    cli = run("scan", tmp_path, "--max-document-size", "100K", "--format", "json")
    assert cli.exit_code == 0 and json.loads(cli.stdout)["errors"][0]["path"] == "bomb.txt.gz"


def test_read_file_on_a_fifo_is_an_error_not_a_wait(tmp_path):
    from dedup.readers import read_file

    os.mkfifo(tmp_path / "pipe")
    [item] = read_file(tmp_path / "pipe", "pipe")
    assert item.error == "not a regular file"


# --- HTML ------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, text", [
    ('<p>One</p><img alt="<script>"><p>Two</p>', "One\n\nTwo"),
    ("<div title='<!--'>Hello</div><p>after</p>", "Hello\n\nafter"),
    ('<p>a <a href="x" title="</script> <style>">link</a></p><p>b</p>', "a link\n\nb"),
    ('<svg>' + '<path d="M0"/>' * 3000 + '</svg><p>Drawn, then text.</p>', "Drawn, then text."),
])
def test_markup_inside_attribute_values_does_not_open_anything(source, text):
    from dedup.readers import read_bytes

    [doc] = read_bytes(source.encode(), "x.html")
    assert doc.text == text


def test_a_comment_opened_in_svg_style_is_never_closed_and_a_bang_end_closes_one():
    """Tester's U3 of #12: in SVG, ``<style>`` holds markup, so ``<!--`` there opens a
    comment that hides the rest of the page (browsers agree): it was read as a short
    document; and ``--!>``, which browsers take as a comment's end, was "never closed"."""
    from dedup.readers import read_bytes

    para = "<p>The city council voted on Tuesday to close the old harbour bridge to heavy traffic.</p>"
    [item] = read_bytes(f"<html><body>{para}<svg><style><!--</style></svg>{para}</body></html>".encode(), "x.html")
    assert item.error and "comment <!-- opened on line 1 is never closed" in item.error
    [doc] = read_bytes(b"<p>One</p><!-- a -- b --!><p>Two</p>", "y.html")
    assert doc.text == "One\n\nTwo"


@pytest.mark.parametrize("tag", ["<div>", "<div/>", "<b>", "<span class='x'>"])
def test_deeply_nested_html_is_an_error_in_linear_time(tag):
    """100k nested elements took 76 s to parse (the parser's scope checks walk the stack
    of open elements); the nesting check refuses it in one pass over the markup."""
    from dedup.readers import read_bytes

    small, big = (tag * n + "<p>text</p>" for n in (20_000, 200_000))
    seconds = []
    for source in (small, big):
        started = time.process_time()
        [item] = read_bytes(source.encode(), "x.html")
        seconds.append(time.process_time() - started)
        assert item.error.startswith("HTML not read: elements nested more than 2,048 deep")
    assert seconds[1] < 30 * max(seconds[0], 0.005)  # 10x the input: ~10x the time, not 100x


# --- what is not a regular file, as --db or -o (tester's U1 and U5, session 13) ---------

def test_a_fifo_as_the_index_is_refused_not_opened(tmp_path):
    """SQLite's open of a FIFO blocked until a writer came, retrying on every signal in
    C code: ``--db FIFO`` hung and ignored Ctrl-C and SIGTERM (only kill -9 ended it).
    Run in a child process, so the old behaviour fails the test instead of hanging it."""
    import subprocess
    import sys

    fifo = tmp_path / "db"
    os.mkfifo(fifo)
    for args in (["index", "stats", "--db", str(fifo)], ["check", "--db", str(fifo), "-"]):
        proc = subprocess.Popen([sys.executable, "-c", "import sys; from dedup.cli import main; sys.exit(main())",
                                 *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"dedup {' '.join(args)} hung on a FIFO named as the index")
        assert proc.returncode == 2 and err.strip() == f"dedup: {fifo}: is a FIFO, not an index file", err


def test_a_report_to_a_fifo_or_a_link_is_written_into_it_not_over_it(tmp_path):
    """``-o`` wrote a temporary file and renamed it over the path, whatever it was: a
    FIFO (and, as root, /dev/null) became a regular file and a link was replaced by the
    report instead of writing its target."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(GOOD * 3)
    (docs / "b.txt").write_text(GOOD * 3)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so the writer's open does not block
    try:
        res = run("scan", docs, "--format", "json", "-o", fifo, "-q")
        got = b""
        while chunk := os.read(reader, 1 << 16):
            got += chunk
    finally:
        os.close(reader)
    assert res.exit_code == 1 and fifo.is_fifo(), res.stderr
    assert json.loads(got)["summary"]["documents"] == 2
    target, link = tmp_path / "target.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target.name)
    res = run("scan", docs, "--format", "json", "-o", link, "-q")
    assert res.exit_code == 1 and link.is_symlink() and json.loads(target.read_text())["summary"]["documents"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "link.json", "out.fifo", "target.json"]


def test_special_files_a_glob_or_url_names_are_errors(tmp_path):
    """N2 of #12: a quoted glob or a ``file://`` URL (read through fsspec, which lists a
    FIFO, a device and a broken link as files) opened what it matched as a file: a
    link to ``/dev/null`` was an empty document, a broken link "No such file or
    directory" (not said to be a link), and a FIFO or a link to ``/dev/zero`` hung the
    scan or ate memory.  Each is an error naming it with the walk's cause."""
    (tmp_path / "good.txt").write_text(GOOD)
    (tmp_path / "null.txt").symlink_to("/dev/null")
    (tmp_path / "broken.txt").symlink_to(tmp_path / "nowhere")
    for pattern in (f"{tmp_path}/*.txt", f"file://{tmp_path}/*.txt"):
        result = scan([pattern])
        prefix = "file://" if pattern.startswith("file:") else ""
        assert [d.path for d in result.documents] == [f"{prefix}{tmp_path}/good.txt"], result.documents
        found = errors(result)
        assert found[f"{prefix}{tmp_path}/null.txt"] == "not a regular file", found
        assert found[f"{prefix}{tmp_path}/broken.txt"].startswith("broken symbolic link"), found


def test_a_fifo_or_dev_zero_a_glob_names_is_no_hang(tmp_path):
    """N2 of #12: the FIFO (opened blocking, waiting for a writer) and the link to
    ``/dev/zero`` (read without end) a glob matched; in a process of its own, so that
    the old code's hang is a failed test, not a stuck suite."""
    import subprocess
    import sys

    os.mkfifo(tmp_path / "pipe.txt")
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    (tmp_path / "good.txt").write_text(GOOD)
    code = ("import sys; from dedup.cli import main; sys.exit(main())")
    for pattern in (f"{tmp_path}/*.txt", f"file://{tmp_path}/*"):
        try:
            done = subprocess.run([sys.executable, "-c", code, "scan", pattern, "--format", "json"],
                                  capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"dedup scan {pattern!r} hung on a FIFO or /dev/zero")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert sorted((e["path"].rsplit("/", 1)[-1], e["error"]) for e in report["errors"]) == [
            ("pipe.txt", "not a regular file"), ("zero.txt", "not a regular file")]
        assert report["summary"]["files"] == 1 and report["summary"]["errors"] == 2


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("fsspec", ["installed", "missing"])
def test_a_glob_that_matches_nothing_says_so_with_or_without_fsspec(tmp_path, monkeypatch, fsspec):
    """s23 audit of #12: without fsspec (a plain install), a quoted glob that matches
    nothing said "reading URLs and globs needs fsspec" -- in every command and in Python."""
    import sys

    if fsspec == "missing":
        monkeypatch.setitem(sys.modules, "fsspec", None)
        monkeypatch.setitem(sys.modules, "fsspec.core", None)
    else:
        pytest.importorskip("fsspec")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("alpha bravo charlie delta echo foxtrot golf hotel india juliet")
    for args in (["scan"], ["check", "--db", "i.dedup"], ["index", "add", "--db", "i.dedup"]):
        result = CliRunner().invoke(main, [*args, "nomatch/*.txt"])
        assert result.exit_code == 2 and "'nomatch/*.txt': no file matches" in result.stderr, (args, result.stderr)
    with pytest.raises(FileNotFoundError, match="no file matches"):
        scan("nomatch/*.txt")
    assert not (tmp_path / "i.dedup").exists()


def test_index_list_and_export_to_a_full_disk_say_so(tmp_path):
    """Session 22 audit: ``dedup index list`` / ``export`` whose output could not be
    written (a full disk: /dev/full) ended with "unexpected error: OSError: [Errno 28]";
    now one line naming where, exit 2, as a report that cannot be written does."""
    import subprocess
    import sys

    db = tmp_path / "i.dedup"
    with Index.open(db) as idx:
        idx.add(prose(random.Random(3), 60), doc_id="a")
    code = "import sys; from dedup.cli import main; sys.exit(main())"
    for command in ("list", "export"):
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-c", code, "index", command, "--db", str(db)], stdout=full,
                                  stderr=subprocess.PIPE, text=True, timeout=120)
        assert (done.returncode, done.stderr) == (2, "dedup: cannot write to stdout: No space left on device\n")
        done = subprocess.run([sys.executable, "-c", code, "index", command, "--db", str(db), "-o", "/dev/full"],
                              capture_output=True, text=True, timeout=120)
        assert (done.returncode, done.stderr) == (2, "dedup: cannot write to '/dev/full': No space left on device\n")


def test_a_file_that_fails_while_read_is_a_read_error_saying_why(tmp_path):
    """Session 22 audit: an OS error in the middle of reading a file (an I/O error on a
    failing disk or a network file system; /proc/self/mem reads as one) was reported as
    "unexpected error while reading: OSError: [Errno 5] Input/output error"; it is the
    file's read error, said as the OS says it, and the run goes on."""
    import errno

    from dedup.readers import read_opened

    class Failing(io.BytesIO):
        def read(self, *args):
            raise OSError(errno.EIO, "Input/output error")

        readline = read

    for name in ("a.txt", "a.jsonl"):
        items = list(read_opened(Failing(b""), name, ReadOptions()))
        assert [(i.path, i.error) for i in items] == [(name, "read failed: Input/output error")]
    if os.path.exists("/proc/self/mem"):
        (tmp_path / "good.txt").write_text(GOOD)
        result = scan([tmp_path / "good.txt", "/proc/self/mem"])
        assert errors(result) == {"/proc/self/mem": "read failed: Input/output error"}
        assert len(result.documents) == 1
