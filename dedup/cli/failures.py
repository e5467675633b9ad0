"""How a command ends when it does not end normally: crashes and signals.

Why this matters to a CI job: exit status 1 means "duplicates found", so a crash or an
interrupt that exits 1 (Python's and click's default) reads as a result.  Here every
command ends with

* **2** and one line saying what failed (``dedup: unexpected error: ...``) on an
  unexpected exception, after a line for each of its notes (PEP 678: what the failing
  code was working on, or what ``index add`` had committed) -- the traceback only
  with ``dedup --debug``;
* **141** (128 + SIGPIPE), silently, when the reader of stdout went away before the
  report was written (``dedup scan ... | head``): what a Unix tool killed by SIGPIPE
  ends with, so ``set -o pipefail`` sees it the same way (see :func:`broken_pipe`);
* **130** on Ctrl-C (SIGINT) and **143** on SIGTERM (128 + the signal number, the
  shell's convention), after the ``finally`` blocks of the interrupted code ran:
  temporary files removed, an open index transaction rolled back, signing processes
  stopped and reaped (the executor's job).  SIGTERM is turned into the exception
  :class:`Terminated` so that this unwinding happens at all (its default action kills
  the process on the spot).  Then the process exits without waiting for threads left
  behind by abandoned work (see :func:`interrupted`).

Once a signal has arrived, a failure it provokes while unwinding (a broken process
pool, an interrupted system call) still ends with the signal's status, not 2.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from typing import Iterator, Optional

import click

EXIT_ERROR = 2
#: 128 + SIGPIPE: the status of a command whose reader went away (see :func:`broken_pipe`).
EXIT_BROKEN_PIPE = 128 + 13


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (a BaseException,
    like KeyboardInterrupt, so that ``except Exception`` does not swallow it);
    ``signum``: the signal (what :func:`dedup.plan.shield.held_signals` compares a
    signal held meanwhile with)."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = signum


_received: list[int] = []


def _on_signal(signum: int, frame) -> None:
    _received.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGINT raises KeyboardInterrupt and SIGTERM :class:`Terminated`
    (and both are remembered); the previous handlers come back afterwards."""
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def ending() -> None:
    """The command is ending (an error or a signal is being reported): SIGINT and
    SIGTERM are ignored from here to the exit, so a further one cannot cut the last
    lines short -- its ``KeyboardInterrupt`` or :class:`Terminated`, raised while they
    were written, escaped every handler: a traceback and status 1 (click's "Aborted!"
    for a Ctrl-C).  The status stays the first signal's (or the error's).  Only inside
    :func:`signals_raise`, whose end puts the previous handlers back."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


def _say_notes(err: BaseException) -> None:
    """The exception's notes (PEP 678: what the failing code had done or was working
    on, e.g. what ``index add`` had committed), one ``dedup:`` line each."""
    for note in getattr(err, "__notes__", None) or []:
        click.echo(f"dedup: {note}", err=True)


def describe(err: BaseException) -> str:
    """One line: the exception's class and the first line of its message."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def exit_code_for_signal() -> Optional[int]:
    """128 + the first signal received while the command ran, if any."""
    return 128 + _received[0] if _received else None


def fail_unexpected(err: BaseException, debug: bool) -> None:
    """Report an unexpected exception in one line (plus its traceback with ``debug``)
    and exit 2 -- or with the signal's status if one interrupted the command."""
    code = exit_code_for_signal()
    if code is not None:
        interrupted(code, debug, err)
    if debug:
        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
    hint = "" if debug else " (dedup --debug ... shows the traceback)"
    _say_notes(err)
    click.echo(f"dedup: unexpected error: {describe(err)}{hint}", err=True)
    sys.exit(EXIT_ERROR)


def broken_pipe(stderr: bool = False) -> None:
    """End quietly with :data:`EXIT_BROKEN_PIPE` because stdout's reader (``stderr=True``:
    also stderr's) went away.

    No message and no traceback (the reader chose to stop reading, as ``head`` does);
    stdout is pointed at ``/dev/null`` first so that Python's own flush at exit cannot
    fail again (the handling the Python documentation recommends, "Note on SIGPIPE").
    Whether this happens at all depends on timing: a report that fit in the pipe's
    buffer before the reader left was written, and the command ends with its usual
    status."""
    for stream in (sys.stdout, sys.stderr) if stderr else (sys.stdout,):
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        except (OSError, ValueError):
            pass
    if threading.active_count() > 1:  # as in interrupted(): abandoned threads must not hold the exit
        os._exit(EXIT_BROKEN_PIPE)
    sys.exit(EXIT_BROKEN_PIPE)


def interrupted(code: int, debug: bool, err: Optional[BaseException] = None) -> None:
    """Say the command was interrupted and exit with ``code`` (130 or 143)."""
    if debug and err is not None:
        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
    name = "SIGINT (Ctrl-C)" if code == 128 + signal.SIGINT else "SIGTERM"
    if err is not None:
        _say_notes(err)
    click.echo(f"dedup: interrupted by {name}", err=True)
    if threading.active_count() > 1:
        # Threads of abandoned work (a process pool's helpers, blocked on a pipe that a
        # terminated worker left half-written) would keep Python's exit waiting forever;
        # everything of ours was cleaned up while the exception unwound.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)
