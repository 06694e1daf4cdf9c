"""``python -m workflow``: kept for scripts written against it; the command line is ``segments.cli``.

An entry script, never imported by the ``workflow`` package itself: the library stays free of the
command line (which imports ``dashboard``).
"""

from segments.cli import main

main()
