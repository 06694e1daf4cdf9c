"""Run every benchmark (``make bench``) and print one table of figures, baselines, ratios and targets.

Each bench runs in its own process (a failure or a leak in one does not touch the others) and
writes its rows as JSON; this script prints each bench's own report as it finishes, then the
combined table. Generated data is cached in ``$SEGMENTS_BENCH_DATA`` (default ``<tmp>/segments-bench``).

    python bench/run_all.py                   # the issue's sizes (1M customers, 10M rows): ~1 h on 2 cores
    python bench/run_all.py --quick           # 20k customers: a smoke run of every bench, a few minutes
    python bench/run_all.py --only p1,p4      # a subset
    python bench/run_all.py --markdown out.md # also write the combined table to a file
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

BENCHES = {
    "p1": "p1_p5_train.py",
    "p2": "p2_features.py",
    "p3": "dashboard_bench.py",
    "p4": "p4_model.py",
    "threads": "threads.py",
    "cli": "cli_path.py",
}


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--quick", action="store_true", help="smoke-run sizes (20k customers)")
    cli.add_argument("--repeats", type=int, default=None, help="rounds per case, passed to every bench")
    cli.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {', '.join(BENCHES)}")
    cli.add_argument("--markdown", type=Path, default=None, help="write the combined table to this file")
    args = cli.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHES]
    if unknown:
        cli.error(f"unknown bench(es) {', '.join(unknown)}; known: {', '.join(BENCHES)}")

    rows: list[c.Row] = []
    failed: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for name in chosen:
            out = Path(folder) / f"{name}.json"
            command = [c.PYTHON, str(Path(__file__).with_name(BENCHES[name])), "--json", str(out)]
            command += ["--quick"] if args.quick else []
            command += ["--repeats", str(args.repeats)] if args.repeats else []
            c.log(f"running {' '.join(command[1:])}")
            if subprocess.run(command, check=False, cwd=c.ROOT).returncode != 0 or not out.is_file():
                failed.append(name)
                continue
            payload = json.loads(out.read_text())
            for row in payload["rows"]:
                for derived in ("ratio", "target", "met"):
                    row.pop(derived, None)
                rows.append(c.Row(**row))

    info = c.machine()
    header = (
        f"{info['date']} · {info['host']} · {info['cpu']} · {info['cores']} cores · {info['memory_gib']} GiB · "
        f"Python {info['python']} · load at the end {info['load']} · OpenMP {info['openmp']} · "
        f"{'quick' if args.quick else 'full'} sizes"
    )
    minutes = (time.perf_counter() - started) / 60
    text = f"# segments benchmarks\n\n{header} · {minutes:.0f} min in all\n\n{c.table(rows)}\n"
    if failed:
        text += f"\nFAILED: {', '.join(failed)} (see the output above)\n"
    print("\n" + text)
    if args.markdown:
        args.markdown.write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
