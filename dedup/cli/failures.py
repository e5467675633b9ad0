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

A signal is never lost, wherever its handler happens to run.  Python runs the handler
between any two bytecodes of the main thread -- also inside a weakref callback, a
``__del__``, a generator closed by the garbage collector, where an exception cannot
propagate: Python prints "Exception ignored in: ..." and goes on (a new user's Ctrl-C
near the end of a scan ended with status 1 that way, the handler's ``KeyboardInterrupt``
swallowed in ``WeakSet._remove``).  So:

* such an exception of ours is taken from :data:`sys.unraisablehook` without a word, and
  the signal is delivered again (``_thread.interrupt_main``), to be raised at the next
  bytecode outside the callback;
* a command checks at its checkpoints (:func:`checkpoint`: before its report is written)
  whether a signal came whose exception was swallowed some other way (a library's
  ``except BaseException``), and raises it there;
* when the command has chosen its status, :func:`settle` turns the handler into one that
  only records, and a signal received before that ends the command with 130 / 143 and
  its "interrupted by" line instead of the status it chose.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
import _thread
import threading
import traceback
from contextlib import contextmanager
from typing import Iterator, Optional

import click

from ..plan.shield import signal_of

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
#: Whether the handler raises (until :func:`settle`); it records the signal either way.
_raising = [False]


def _interrupt(signum: int) -> BaseException:
    """The exception a signal stands for: KeyboardInterrupt or :class:`Terminated`."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _on_signal(signum: int, frame) -> None:
    _received.append(signum)
    if not _raising[0]:
        return
    if _within_the_hook(frame):
        _deliver_again(signum)  # raised in the hook, it would be swallowed again
        return
    raise _interrupt(signum)


def _within_the_hook(frame) -> bool:
    """Whether ``frame`` is :func:`_unraisable`'s or one it called (a second signal can
    land while the hook deals with the first: in :func:`_deliver_again`, say)."""
    while frame is not None:
        if frame.f_code is _unraisable.__code__:
            return True
        frame = frame.f_back
    return False


def _deliver_again(signum: int) -> None:
    """Mark ``signum`` as received again (``_thread.interrupt_main``), so that Python
    runs its handler at its next check for signals -- not within this function nor
    its caller if it can help it: Python checks right after a call returns, so the
    mark is made by unpacking a ``map``, which calls it from C with no check after it,
    and this function ends without another call (a check its caller makes anyway, in
    :func:`_unraisable`, finds the hook's frame and delivers the signal again)."""
    _, = map(_thread.interrupt_main, (signum,))


#: The :data:`sys.unraisablehook` that :func:`signals_raise` found (what :func:`_unraisable` passes others to).
_previous_hook = [sys.unraisablehook]


def _unraisable(unraisable) -> None:
    """The :data:`sys.unraisablehook` within :func:`signals_raise`: takes an interrupt
    swallowed where it was raised (a weakref callback, a ``__del__``: see the module's
    docstring) quietly and delivers its signal again; any other exception goes to the
    hook it replaced."""
    signum = signal_of(unraisable.exc_value)
    if signum is None:
        _previous_hook[0](unraisable)
    elif _raising[0]:
        _deliver_again(signum)  # to be raised outside the callback


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGINT raises KeyboardInterrupt and SIGTERM :class:`Terminated`
    (and both are remembered; an interrupt swallowed inside a weakref callback or a
    ``__del__`` is raised again outside it) until :func:`settle`; the previous
    handlers come back afterwards."""
    _received.clear()
    _raising[0] = True
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    _previous_hook[0], sys.unraisablehook = sys.unraisablehook, _unraisable
    try:
        yield
    finally:
        _raising[0] = False
        sys.unraisablehook = _previous_hook[0]
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def checkpoint() -> None:
    """Raise the interrupt for a signal received while the command ran whose exception
    never reached it (swallowed on the way: by a library's ``except BaseException``, say);
    called before a command writes its report, so that an interrupted command writes
    none (``-o FILE`` keeps the old file)."""
    if _raising[0] and _received:
        raise _interrupt(_received[0])


def settle(debug: bool) -> None:
    """The command has chosen its status (it returned or is exiting): from here a signal
    is only recorded, and if one was received while the command ran, the command ends as
    interrupted (:func:`interrupted`: 130 / 143) instead."""
    _raising[0] = False
    code = exit_code_for_signal()
    if code is not None:
        ending()
        interrupted(code, debug)


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


class StdoutClosed(OSError):
    """A write to :class:`ClosedStdout`."""


class ClosedStdout(io.TextIOBase):
    """What ``sys.stdout`` is while a command runs that was started without one
    (``dedup ... >&-``): Python makes it None, and click's ``echo`` then writes nothing
    and says nothing -- ``dedup explain >&-`` printed nothing and exited 0, ``index
    stats`` said "unexpected error: OSError" (session 24).  Every write raises
    :class:`StdoutClosed` (``EBADF``), which a command that writes a report says as
    "cannot write the report to stdout" and every other as :func:`stdout_closed`; a
    command that writes nothing to stdout (``scan DIR -o FILE``) runs as usual."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise StdoutClosed(errno.EBADF, "it is closed")


def stdout_closed() -> None:
    """Say that the command could not write to stdout because it is closed, exit 2."""
    click.echo("dedup: cannot write to stdout: it is closed", err=True)
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
