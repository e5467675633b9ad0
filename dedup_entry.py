"""The ``dedup`` command's entry point (``console_scripts``), outside the ``dedup``
package on purpose.

Why: importing ``dedup`` loads numpy, scipy, datasketch and the readers (about a second,
longer on a busy machine), and a Ctrl-C or SIGTERM in that second used to end in a
``KeyboardInterrupt`` traceback (or Python's default SIGTERM death) -- before
:mod:`dedup.cli.failures` could say anything.  Any module inside the package would be
too late: the package is imported before it.  So this one first makes both signals end
the process at once with 130 / 143 and no output (nothing has been done yet that needs
undoing), then imports the command.  While a command runs, :func:`dedup.cli.failures.signals_raise`
takes over (clean-up, then the same codes); after it, these handlers are back.
"""

from __future__ import annotations

import os
import signal


def _exit_now(signum: int, frame) -> None:
    os._exit(128 + signum)


def main() -> None:
    """Run the ``dedup`` command (``sys.argv``); exits with the command's code, or at
    once with 130 / 143 on SIGINT / SIGTERM while the package is still importing."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_now)
    from dedup.cli import main as command  # the slow part

    command()
