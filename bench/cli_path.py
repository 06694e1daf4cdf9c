"""The whole path through the CLI: ``segments generate → train → promote → score``, wall time and peak RSS.

Each command runs in its own process, as a user runs it, against a temporary SQLite store
(``MLFLOW_TRACKING_URI``); peak RSS is the process's own ``ru_maxrss`` (``wait4``). These are the
timings of the CLI path (20k and 1M customers) and its memory figures (targets in bench/README.md):

GEN·10M   ``segments generate`` of about 10M rows (the number of customers × 12 months that makes 10M
          rows with the current generator, ~450-500k): time (target: well under a minute) and peak RSS.
MEM·10M   peak RSS of the whole path generate 10M rows → train (read, validate, features, sweep, MLflow)
          → promote → score: the largest of the four processes. Target ≤ 24 GiB.

Sizes: ``--quick`` runs 20k customers only; the default runs 20k, ~10M rows (~450-500k) and 1M (~20M rows).
One round per size by default (``--repeats N`` for more): a 1M round takes about 10 minutes on a quiet
2-core machine, several times that on a loaded one. These are end-to-end timings for the record,
not ratios against a baseline.

    python bench/cli_path.py
    python bench/cli_path.py --quick
    python bench/cli_path.py --customers 10M     # one size
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

STEPS = ("generate", "train", "promote", "score")


def one_round(customers: int, workdir: Path) -> tuple[dict[str, c.Child], str]:
    """generate → train → promote → score once; the four finished children and train's recommendation."""
    from workflow import tracking

    data = workdir / f"shipments-{customers}.parquet"
    children = {
        "generate": c.run_child([c.SEGMENTS, "generate", "--customers", customers, "--out", data]).check(),
        "train": c.run_child([c.SEGMENTS, "train", "--data", data]).check(),
    }
    version = tracking.resolve_version("candidate")
    promote = [c.SEGMENTS, "promote", version, "--force", "--reason", "benchmark"]
    children["promote"] = c.run_child(promote).check()
    children["score"] = c.run_child([c.SEGMENTS, "score", "--data", data, "--out", workdir / "scored.parquet"])
    children["score"].check()
    found = re.search(r"Recommendation:\s*(k=\d+)", children["train"].stdout)
    rows = re.search(r"wrote ([\d,]+) shipments", children["generate"].stdout)
    summary = f"{rows.group(1) if rows else '?'} rows, recommended {found.group(1) if found else '?'}"
    children["generate"].note = f"{rows.group(1) if rows else '?'} rows"
    for path in workdir.glob("*.parquet"):
        path.unlink()
    return children, summary


def main(argv: list[str] | None = None) -> None:
    cli = c.parser(__doc__.splitlines()[0], quick_repeats=1, full_repeats=1)
    cli.add_argument(
        "--customers",
        default=None,
        help="comma-separated sizes to run instead of the defaults; '10M' means the size that makes 10M rows",
    )
    args = cli.parse_args(argv)
    repeats = c.repeats_of(args)
    ten_million = c.customers_for_rows(c.TEN_MILLION)
    sizes = [c.QUICK_CUSTOMERS] if args.quick else [c.QUICK_CUSTOMERS, ten_million, c.FULL_CUSTOMERS]
    if args.customers:
        sizes = [ten_million if size.strip() == "10M" else int(size) for size in args.customers.split(",")]
    rows: list[c.Row] = []
    extra: dict[str, object] = {}
    for customers in sizes:
        rounds = repeats
        seconds: dict[str, list[float]] = {step: [] for step in STEPS}
        peaks: dict[str, list[int]] = {step: [] for step in STEPS}
        cpus: dict[str, list[float]] = {step: [] for step in STEPS}
        with c.mlflow_store(), tempfile.TemporaryDirectory(dir=c.data_dir()) as workdir:
            for round_ in range(rounds):
                children, summary = one_round(customers, Path(workdir))
                generated_rows = children["generate"].note
                for step, child in children.items():
                    seconds[step].append(child.seconds)
                    peaks[step].append(child.peak_rss)
                    cpus[step].append(child.cpu)
                c.log(
                    f"CLI {customers:,} customers round {round_ + 1}/{rounds}: "
                    + ", ".join(
                        f"{s} {children[s].seconds:.1f} s / {children[s].peak_rss / c.GIB:.2f} GiB" for s in STEPS
                    )
                )
        label = f"{customers // 1000}k" if customers < 1_000_000 else f"{customers // 1_000_000}M"
        extra[f"{label} customers"] = summary
        for step in STEPS:
            row = c.seconds_row(
                f"CLI·{label}", f"segments {step}, {customers:,} customers", seconds[step], cpu=cpus[step]
            )
            row.note = f"peak RSS {max(peaks[step]) / c.GIB:.2f} GiB"
            if step == "generate":
                row.what += f" ({generated_rows})"
            if customers == ten_million and step == "generate":
                row.id, row.max_value = "GEN·10M", 60.0
            rows.append(row)
        whole = max(max(values) for values in peaks.values())
        if customers >= ten_million:
            row_id = "MEM·10M" if customers == ten_million else f"MEM·{label}"
            rows.append(
                c.Row(
                    id=row_id,
                    what=f"peak RSS, whole path generate → train → promote → score, {customers:,} customers",
                    value=float(whole),
                    unit="GiB",
                    max_value=24.0 * c.GIB,
                    runs=rounds,
                )
            )
    c.report("The whole path through the CLI", rows, args, extra)


if __name__ == "__main__":
    main()
