"""The ``dedup`` command's entry point (run by the launcher ``scripts/dedup``), outside the ``dedup``
package on purpose.

Why: importing ``dedup`` loads numpy, scipy, datasketch and the readers (about a second,
longer on a busy machine), and a Ctrl-C or SIGTERM in that second used to end in a
``KeyboardInterrupt`` traceback (or Python's default SIGTERM death) -- before
:mod:`dedup.cli.failures` could say anything.  Any module inside the package would be
too late: the package is imported before it.  So this one first makes both signals end
the process at once with 130 / 143 and no output (nothing has been done yet that needs
undoing), then imports the command.  While a command runs, :func:`dedup.cli.failures.signals_raise`
takes over (clean-up, then the same codes); after it, these handlers are back.

Before that (tester's T9 of #12): CPython installs its own SIGINT handler before it
imports ``site``, so a SIGINT while ``site`` ran the environment's ``.pth`` hooks (an
editable install's import finder: 70-250 ms on a loaded machine) was CPython's "Fatal
Python error: init_import_site", exit status 1.  No interpreter option turns that handler
off, so the installed ``dedup`` is not a console_scripts wrapper but ``scripts/dedup``:
started with ``python -S`` (no ``site``: a few ms), it installs the same handlers, blocks
SIGINT and SIGTERM and execs this interpreter again with ``-c "... main()"``.  Blocked
signals stay pending across ``exec``; :func:`main` unblocks them once its handlers are in
place, so a signal at any moment of start-up ends the command with 130 / 143.  The
launcher starts that first interpreter with both signals already blocked (GNU ``env
--block-signal``, named by its path: a signal its shell's trap caught while ``exec env``
searched PATH was lost, tester's F1 of session 22), so none is lost while it starts.
What is left: a signal before the launcher's shell set its traps or from the moment it
resets them, right before it execs ``env``, until ``env`` blocked it (about a
millisecond in all) ends the process by the signal itself (-2 / -15 to a parent in
Python).  Where ``env`` has no
``--block-signal``, the launcher ignores SIGINT from just before it starts the first
interpreter until that interpreter's first line blocks it (so that CPython's own handler
never raises inside its start-up: "Fatal Python error: init_sys_streams", status 1, was
seen under load); a SIGINT in those ~15 ms is lost -- the command runs as if it had not
come, never with status 1 or output -- and a SIGTERM ends the process by itself.
"""

from __future__ import annotations

import os
import signal
import sys


def _exit_now(signum: int, frame) -> None:
    os._exit(128 + signum)


def main() -> None:
    """Run the ``dedup`` command (``sys.argv``); exits with the command's code, or at
    once with 130 / 143 on SIGINT / SIGTERM while the package is still importing."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_now)
    # Blocked by the launcher (scripts/dedup) until now: one that came meanwhile ends
    # the process here.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))
    if sys.argv[:1] == ["-c"]:  # started by the launcher: its own argv follows
        del sys.argv[0]
    from dedup.cli import main as command  # the slow part

    try:
        command()
    finally:
        # The command has ended and chosen its status: a signal from here to the exit
        # (the interpreter's shutdown, which runs finalizers) is ignored.  Python's
        # shutdown puts back the default action of the handlers it installed, so a
        # SIGTERM a second after a Ctrl-C killed the process (-15) after it had said
        # "interrupted by SIGINT" (tester's T4 of #12); an ignored signal stays ignored.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
