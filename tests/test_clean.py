"""`dedup clean SRC DEST` and its library twin `dedup.clean` (issue #14)."""

import gzip
import hashlib
import json
import os
import random
import shutil
import sys

import pytest
from click.testing import CliRunner

from conftest import FIXTURES
import dedup
from dedup import CleanError
from dedup.cli import main
from textgen import prose


def tree(root):
    """Every file under root (links not followed) -> sha256 of its bytes."""
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_clean_fixtures_keeps_canonical_copies_and_never_touches_src(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(FIXTURES, src)
    (src / ".hidden-notes.txt").write_text("not scanned, copied as it is\n")
    before = tree(src)
    dest = tmp_path / "clean"
    res = run("clean", src, dest, "--strip-paragraphs", "--no-cache")
    assert res.exit_code == 0, res.output
    assert tree(src) == before
    after = tree(dest)
    # The reprint (a duplicate document) is left out; the others keep their places.
    assert set(after) == set(before) - {"news/reprint-harbour-bridge.txt"} | {"dedup-clean.json"}
    for untouched in ("news/harbour-bridge.txt", "news/library-reopens.txt", ".hidden-notes.txt"):
        assert after[untouched] == before[untouched]
    # The borrowed paragraph is cut from port-strike.txt, and the reworded lead from
    # ukraine-talks.txt; everything else in them is as it was.
    original = (src / "news/port-strike.txt").read_text()
    borrowed = original.split("\n\n")[2]
    assert (dest / "news/port-strike.txt").read_text() == original.replace(borrowed + "\n\n", "")
    ukraine = (src / "ukraine-talks.txt").read_text().split("\n")  # a paragraph per line
    assert (dest / "ukraine-talks.txt").read_text().split("\n") == ukraine[:6] + ukraine[7:]
    manifest = json.loads((dest / "dedup-clean.json").read_text())
    assert manifest["dropped"] == [{"document": "news/reprint-harbour-bridge.txt", "reason": "duplicate document",
                                    "duplicate_of": "news/harbour-bridge.txt", "similarity": 0.9015, "exact": False}]
    stripped = {s["document"]: s["paragraphs"] for s in manifest["stripped"]}
    assert [p["paragraph"] for p in stripped["ukraine-talks.txt"]] == [6]
    assert stripped["news/port-strike.txt"][0]["duplicate_of"] == {"path": "news/harbour-bridge.txt", "paragraph": 1}
    # Cleaning the cleaned copy finds nothing more to do.
    again = dedup.clean(dest, tmp_path / "again", strip_paragraphs=True, manifest=tmp_path / "m.json")
    assert again.dropped == 0 and again.stripped_paragraphs == 0


def test_without_strip_only_documents_are_dropped(tmp_path):
    report = dedup.clean(FIXTURES, tmp_path / "out")
    assert report.dropped == 1 and report.stripped_paragraphs == 0
    assert tree(tmp_path / "out")["news/port-strike.txt"] == tree(FIXTURES)["news/port-strike.txt"]


def test_refuses_overlapping_or_non_empty_dest(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "news", src)
    with pytest.raises(CleanError, match="inside"):
        dedup.clean(src, src / "out")
    with pytest.raises(CleanError, match="inside"):
        dedup.clean(src, tmp_path)
    with pytest.raises(CleanError, match="inside"):
        dedup.clean(src, src)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    res = run("clean", src, busy)
    assert res.exit_code == 2 and "not empty" in res.stderr and not (busy / "dedup-clean.json").exists()
    assert run("clean", src, busy, "--force").exit_code == 0
    assert (busy / "keep.txt").read_text() == "x" and (busy / "harbour-bridge.txt").exists()
    assert not (busy / "reprint-harbour-bridge.txt").exists()


def test_json_lines_are_cleaned_record_by_record(tmp_path):
    rng = random.Random(7)
    shared, own = prose(rng, 40), prose(rng, 160)  # c shares a paragraph with a, not the document
    first = prose(rng, 160) + "\n\n" + shared
    lines = [
        json.dumps({"id": "a", "text": first, "extra": [1, 2]}),
        json.dumps({"id": "b", "text": first}),                                  # a copy of a
        "  ",
        json.dumps({"id": "c", "text": own + "\n\n" + shared, "keep": "me"}),   # repeats a's paragraph
        "{not json",                                                             # a bad line
        json.dumps({"id": "d", "text": prose(rng, 60)}),
    ]
    src = tmp_path / "src"
    src.mkdir()
    (src / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = dedup.clean(src, tmp_path / "out", strip_paragraphs=True)
    out = (tmp_path / "out" / "feed.jsonl").read_text(encoding="utf-8").split("\n")
    # b's line is gone, c is written again without a's paragraph, every other line
    # (the blank one, the bad one, the final newline) is copied byte for byte.
    assert out[0] == lines[0] and out[1] == lines[2] and out[3:5] == lines[4:6] and out[5] == ""
    assert json.loads(out[2]) == {"id": "c", "text": own, "keep": "me"}
    assert len(out) == len(lines)
    assert [d["document"] for d in report.manifest["dropped"]] == ["feed.jsonl#b"]
    assert [e["path"] for e in report.manifest["errors"]] == ["feed.jsonl:5"]
    # Compressed: cleaned inside, compressed again with the same codec.
    packed = tmp_path / "packed"
    packed.mkdir()
    with gzip.open(packed / "old.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    dedup.clean(packed, tmp_path / "packed-out", strip_paragraphs=True)
    with gzip.open(tmp_path / "packed-out" / "old.jsonl.gz", "rt", encoding="utf-8") as f:
        assert f.read().split("\n") == out


def test_an_interrupted_clean_leaves_no_half_written_file(tmp_path, monkeypatch):
    src = tmp_path / "src"
    shutil.copytree(FIXTURES, src)
    calls = []
    real_copy = shutil.copy2

    def interrupted(a, b, **kwargs):
        calls.append(b)
        if len(calls) == 2:  # the second file copied unchanged
            with open(b, "wb") as f:
                f.write(b"half")
            raise KeyboardInterrupt
        return real_copy(a, b, **kwargs)

    monkeypatch.setattr(shutil, "copy2", interrupted)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("a file that was there\n")
    with pytest.raises(KeyboardInterrupt) as stopped:  # into a DEST that was not empty: what is written stays
        dedup.clean(src, tmp_path / "out", strip_paragraphs=True, force=True)
    written = tree(tmp_path / "out")
    originals = tree(src)
    assert not any(".dedup-tmp" in name for name in written)
    assert "dedup-clean.json" not in written  # the manifest comes last: incomplete runs show
    for name, digest in written.items():  # whatever is there under a final name is complete
        assert name in ("news/port-strike.txt", "ukraine-talks.txt", "keep.txt") or digest == originals[name]
    finished = len(written) - 1  # keep.txt was there before
    assert stopped.value.__notes__ == [f"{tmp_path / 'out'}: incomplete: this run wrote {finished} of its files "
                                       "before it stopped (files it replaced are not restored) and no manifest; run "
                                       "the same command again to finish it"]


@pytest.mark.parametrize("dest_was", ["missing", "empty", "missing, with its parent"])
@pytest.mark.parametrize("stop", [KeyboardInterrupt, lambda: OSError(28, "No space left on device")])
def test_a_clean_that_stops_removes_what_it_wrote_into_a_missing_or_empty_dest(tmp_path, monkeypatch, dest_was,
                                                                                 stop):
    """F6 of #12: an interrupted (or failed) clean left a partial DEST without a word, and
    the same command then refused it as "not empty".  Now DEST is as it was (gone, or
    empty), the exception's note says so, and the same command runs again."""
    cleaning = sys.modules["dedup.clean"]  # (dedup.clean is also the function)

    src = tmp_path / "src"
    shutil.copytree(FIXTURES, src)
    dest = tmp_path / ("new/out" if "parent" in dest_was else "out")
    if dest_was == "empty":
        dest.mkdir()
    real, calls = cleaning.write_one, []

    def stops(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise stop()
        return real(*args, **kwargs)

    monkeypatch.setattr(cleaning, "write_one", stops)
    with pytest.raises((KeyboardInterrupt, OSError)) as stopped:
        dedup.clean(src, dest, strip_paragraphs=True)
    assert stopped.value.__notes__ == [f"{dest}: removed the partial copy this run had written; run the same "
                                       "command again"]
    assert sorted(os.listdir(tmp_path)) == (["out", "src"] if dest_was == "empty" else ["src"])
    assert dest_was != "empty" or os.listdir(dest) == []
    monkeypatch.undo()
    report = dedup.clean(src, dest, strip_paragraphs=True)
    assert report.manifest_path.exists() and report.files_copied + report.files_rewritten > 2


def test_a_document_is_dropped_only_for_a_kept_copy_not_through_a_chain(tmp_path):
    # 1 = P, 2 = P + Q, 3 = Q: one document group (1~2 and 2~3 reach 0.3), but 3 shares
    # nothing with 1; dropping it for 1 would lose Q from the copy altogether.
    p = ("The city council voted on Tuesday to close the old harbour bridge to heavy traffic "
         "from next month after engineers found corrosion in two supports.")
    q = ("Dock workers at the container terminal walked out at dawn on Friday in a dispute "
         "over night-shift pay leaving a dozen ships waiting at anchor.")
    src = tmp_path / "src"
    src.mkdir()
    (src / "1.txt").write_text(p + "\n")
    (src / "2.txt").write_text(p + "\n\n" + q + "\n")
    (src / "3.txt").write_text(q + "\n")
    for strip in (False, True):
        dest = tmp_path / f"clean-{strip}"
        dedup.clean(src, dest, strip_paragraphs=strip)
        assert sorted(os.listdir(dest)) == ["1.txt", "3.txt", "dedup-clean.json"]
        dropped = json.loads((dest / "dedup-clean.json").read_text())["dropped"]
        assert [(d["document"], d["duplicate_of"]) for d in dropped] == [("2.txt", "1.txt")]


def test_an_exact_copy_of_a_dropped_rewrite_is_dropped_with_it(tmp_path):
    # a.txt a story, b.txt its light rewrite, c.txt a byte copy of b.txt (a syndicated
    # rewrite crawled twice): c's only reported pair is with b (its text's first
    # occurrence), yet it is as near a.txt as b is -- the cleaned copy must hold neither
    # (new user's N28 of session 17: c.txt was kept, and a scan of DEST found a ~ c).
    # (Every paragraph of the rewrite is a copy of one of a.txt's: a rewrite holding a
    # paragraph found nowhere else is kept, test_a_near_duplicate_with_text_of_its_own_is_kept.)
    rng = random.Random(28)
    story = [prose(rng, 60) for _ in range(4)]
    rewrite = [s.replace(" the ", " a ", 1) if i % 2 else s for i, s in enumerate(story)]
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("\n\n".join(story) + "\n")
    (src / "b.txt").write_text("\n\n".join(rewrite) + "\n")
    shutil.copy(src / "b.txt", src / "c.txt")
    for strip in (False, True):
        dest = tmp_path / f"clean-{strip}"
        dedup.clean(src, dest, strip_paragraphs=strip)
        assert sorted(os.listdir(dest)) == ["a.txt", "dedup-clean.json"]
        dropped = json.loads((dest / "dedup-clean.json").read_text())["dropped"]
        assert sorted((d["document"], d["duplicate_of"]) for d in dropped) == [
            ("b.txt", "a.txt"), ("c.txt", "a.txt")]
        assert not dedup.scan(dest).pairs


def test_a_scan_of_the_cleaned_folder_leaves_the_manifest_out(tmp_path, monkeypatch):
    # tester's F15 / new user's N29 of session 17: the manifest was read as a JSON input
    # ("expected a JSON array of records, found an object"), one error in every scan of
    # a cleaned copy; it is recorded as a file dedup wrote, as -o reports are.
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(tmp_path / "cache"))
    dest = tmp_path / "clean"
    assert run("clean", FIXTURES, dest, "-q").exit_code == 0
    result = run("scan", dest, "--format", "json", "--no-cache")
    report = json.loads(result.stdout)
    assert report["errors"] == [] and result.exit_code == 1  # the paragraphs repeated in the kept documents
    assert report["summary"]["documents"] == len(report["documents"]) > 0
    assert not any(d["path"].endswith("dedup-clean.json") for d in report["documents"])


def test_the_manifest_gets_the_umask_s_mode_like_any_written_file(tmp_path):
    dest = tmp_path / "clean"
    old = os.umask(0o022)
    try:
        dedup.clean(FIXTURES, dest)
    finally:
        os.umask(old)
    assert (dest / "dedup-clean.json").stat().st_mode & 0o777 == 0o644


def test_the_manifest_names_non_utf8_files_as_the_reports_do(tmp_path):
    """Issue #12: a Latin-1 file name was written as ``\\xe9`` escapes in the manifest;
    now as in every report: valid UTF-8 with U+FFFD, plus the exact bytes in base64."""
    import base64

    src = tmp_path / "src"
    src.mkdir()
    text = prose(random.Random(5), 120) + "\n"
    (src / "a.txt").write_text(text)
    latin1 = os.fsdecode(b"caf\xe9.txt")
    (src / latin1).write_text(text)
    dest = tmp_path / "dest"
    dedup.clean(src, dest)
    raw = (dest / "dedup-clean.json").read_bytes()
    raw.decode("utf-8")  # valid UTF-8
    (dropped,) = json.loads(raw)["dropped"]
    assert dropped["document"] == "caf\ufffd.txt"
    assert base64.b64decode(dropped["document_bytes"]) == b"caf\xe9.txt"
    assert dropped["duplicate_of"] == "a.txt" and "duplicate_of_bytes" not in dropped
    assert "\\\\xe9" not in raw.decode("utf-8")


def test_a_non_empty_destination_names_the_python_argument_and_the_flag(tmp_path):
    """New user's N22 (session 18): ``dedup.clean`` into a non-empty folder named only
    ``--force``; a Python caller's remedy is ``force=True``."""
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(CleanError, match=r"is not empty \(force=True, or --force on the command line, writes"):
        dedup.clean(FIXTURES / "news", busy)
    res = CliRunner().invoke(main, ["clean", str(FIXTURES / "news"), str(busy)])
    assert res.exit_code == 2 and "--force" in res.stderr


def test_a_dest_under_a_file_is_refused_before_any_work(tmp_path):
    """DEST's folders cannot be made under a file: a usage error naming that file, exit 2
    -- it was 'unexpected error: NotADirectoryError' after a note that a partial copy
    could not be removed (review R2, session 23)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a short text of a few words")
    (tmp_path / "file").write_text("x")
    res = CliRunner().invoke(main, ["clean", str(src), str(tmp_path / "file" / "sub")])
    assert res.exit_code == 2, res.output
    assert f"{tmp_path / 'file'} is not a folder" in res.output
    assert "unexpected" not in res.output and "partial copy" not in res.output
    with pytest.raises(CleanError, match="is not a folder"):
        dedup.clean(src, tmp_path / "file" / "sub")


def test_a_clean_that_stops_before_it_made_dest_says_nothing_of_a_copy(tmp_path):
    """An error before DEST was made (nothing written) gets no note about removing a
    partial copy -- it said 'could not remove the partial copy this run had written'."""
    from collections import Counter

    from dedup.clean import _undone_unless_complete

    dest = tmp_path / "missing" / "dest"
    with pytest.raises(OSError) as caught:
        with _undone_unless_complete(dest, Counter()):
            raise OSError(13, "Permission denied")
    assert not getattr(caught.value, "__notes__", [])
    assert not (tmp_path / "missing").exists()
