"""Run one ``segments`` command the moment a start file appears: for promotions that really overlap.

Usage: ``python cli_at.py READY_FILE GO_FILE ARGS…``. The process imports everything and opens the
store first, then writes READY_FILE and waits (bounded) for GO_FILE, then runs ``segments ARGS…`` in
this process through ``segments.cli.run`` (the console script's code path) and exits with its code.
Two such processes released by one GO_FILE start their commands within a few milliseconds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main() -> int:
    ready, go, args = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    import mlflow.models
    import mlflow.sklearn  # noqa: F401 -- warm the imports so that only the command itself races

    from segments.cli import run
    from workflow import tracking

    tracking.configure()
    ready.touch()
    deadline = time.monotonic() + 120
    while not go.exists():
        if time.monotonic() > deadline:
            print(f"no {go} within 120 s", file=sys.stderr)
            return 3
        time.sleep(0.001)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
