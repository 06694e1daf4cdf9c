"""``python -m segments`` is the same as the ``segments`` console script (SIGTERM handler included)."""

from segments.cli import main

main()
