"""A closed stdout or stdin is said as such, naming the stream (tester T3, session 24:
``dedup scan DIR >&-`` and ``dedup scan - <&-`` were an "unexpected error:
AttributeError: 'NoneType' object has no attribute ...")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def dedup(args: str, redirect: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", f'"{sys.executable}" -m dedup {args} {redirect}'],
                          capture_output=True, text=True, timeout=300)


def test_a_closed_stdout_is_said():
    done = dedup(f"scan '{FIXTURES}' --format json", ">&-")
    assert done.returncode == 2 and done.stderr.strip() == "dedup: cannot write the report to stdout: it is closed"


def test_a_closed_stdin_is_an_error_entry_for_it():
    done = dedup(f"scan - '{FIXTURES}' -q --format json", "<&-")
    assert done.returncode == 1 and "unexpected" not in done.stderr  # the fixtures' duplicates
    assert '"path": "<stdin>", "error": "standard input is closed"' in done.stdout


def test_only_a_closed_stdin_reads_nothing():
    done = dedup("scan -", "<&-")
    assert done.returncode == 2 and "dedup: <stdin>: standard input is closed" in done.stderr


def test_every_command_that_writes_to_a_closed_stdout_says_so(tmp_path):
    """Not only the report writers: click's echo writes nothing to a closed stdout and
    says nothing, so ``dedup explain >&-`` exited 0 with nothing written and ``index
    stats`` said "unexpected error: OSError" (session 24)."""
    db = tmp_path / "i.dedup"
    assert dedup(f"index add '{FIXTURES}' --db '{db}' -q", ">/dev/null").returncode in (0, 1)
    for args in ("explain", f"index stats --db '{db}'", f"index list --db '{db}'", f"index export --db '{db}'"):
        done = dedup(args, ">&-")
        assert (done.returncode, done.stderr.strip()) == (2, "dedup: cannot write to stdout: it is closed"), args


def test_a_command_that_writes_nothing_to_stdout_runs_without_one(tmp_path):
    report = tmp_path / "r.json"
    done = dedup(f"scan '{FIXTURES}' --format json -o '{report}'", ">&-")
    assert done.returncode == 1 and "stdout" not in done.stderr  # the fixtures' duplicates
    assert '"pairs"' in report.read_text()
