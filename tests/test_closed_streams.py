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
