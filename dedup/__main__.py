"""``python -m dedup ARGS``: the ``dedup`` command, for where the launcher is not on PATH
(a virtual environment not activated, a checkout on ``PYTHONPATH``).

The same command and exit codes as the installed ``dedup``; what it lacks is the
launcher's start-up signal handling (``docs/launcher.md``): the package is imported
before :func:`dedup_entry.main` runs, so a Ctrl-C in that first second ends in a
``KeyboardInterrupt`` traceback rather than a silent 130.
"""

from dedup_entry import main

main()
