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

What no code of ours can reach (tester's T9 of #12): CPython installs its own SIGINT
handler before it imports ``site``, so a SIGINT while ``site`` runs (an editable
install's import finder made that 73-143 ms on a loaded machine) is CPython's "Fatal
Python error: init_import_site", exit status 1, and one just before this module runs
is "failed to set __main__.__loader__" (1) or a ``KeyboardInterrupt`` traceback.  No
option or environment variable of the interpreter turns that handler off (only an
embedding application: ``PyConfig.install_signal_handlers``); a SIGINT ignored at
exec stays ignored through start-up.  The README's "Exit codes" says so.
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
