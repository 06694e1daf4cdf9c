"""P2: customer features from 10M shipment rows in Parquet, vs DuckDB running the same aggregation.

P2     ``read_shipments`` (read, type, validate) + ``build_features``, Parquet → features DataFrame,
       vs DuckDB: the same eleven features in one SQL ``GROUP BY`` over the same Parquet file, fetched
       as a pandas DataFrame indexed by customer_id. Target ≤ 1.5×.
P2·f   ``build_features`` alone on the already-validated frame, vs the same DuckDB run (DuckDB's time
       includes reading the file, so this is the computation-only comparison, generous to us).

The rounds interleave the three cases. DuckDB's result is checked against ``build_features``
(same customers, same values to 1e-9). The split of ``read_shipments`` comes from timing wrappers
around ``workflow.data._read_raw``, ``_parse_types`` and ``_validate`` and ``data_digest`` is not
included (``train`` also computes it; shown separately).

    python bench/p2_features.py            # ~10M rows (~450-500k customers × 12 months), 5 rounds
    python bench/p2_features.py --quick    # 20k customers = 0.45M rows, 5 rounds
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

#: The features of docs/architecture.md#customer-features with the defaults of ``build_features``
#: (as-of = day after the last shipment, home country FR, express = Chrono 10/13/Express), in the canonical
#: column order.
SQL = """
WITH src AS (SELECT * FROM read_parquet($path)),
     ref AS (SELECT date_trunc('day', max(date)) + INTERVAL 1 DAY AS as_of FROM src)
SELECT
    customer_id,
    epoch(any_value(ref.as_of) - max(date)) / 86400 AS recency_days,
    count(*)::DOUBLE AS frequency,
    sum(amount) AS monetary,
    sum(amount) / count(*) AS avg_amount,
    epoch(any_value(ref.as_of) - min(date)) / 86400 AS tenure_days,
    avg(weight_kg) AS avg_weight_kg,
    avg((service IN ('Chrono 10', 'Chrono 13', 'Chrono Express'))::DOUBLE) AS express_share,
    avg((service = 'Chrono Relais')::DOUBLE) AS relay_share,
    avg((destination_country <> 'FR')::DOUBLE) AS international_share,
    avg(delivered_late::DOUBLE) AS late_rate,
    avg(returned::DOUBLE) AS return_rate
FROM src, ref
GROUP BY customer_id
ORDER BY customer_id
"""


def duckdb_features(path: Path) -> pd.DataFrame:
    """The baseline: DuckDB reads the Parquet file and aggregates, result as a pandas DataFrame."""
    import duckdb

    with duckdb.connect() as con:
        frame = con.execute(SQL, {"path": str(path)}).df()
    return frame.set_index("customer_id")


def same_features(ours: pd.DataFrame, theirs: pd.DataFrame) -> str:
    """``yes`` when both tables hold the same customers and values (float sums may differ in the last bits)."""
    if list(ours.columns) != list(theirs.columns):
        return f"NO: columns {list(ours.columns)} vs {list(theirs.columns)}"
    if not ours.index.astype(str).equals(theirs.index.astype(str)):
        return "NO: customer index differs"
    close = np.isclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-9, atol=1e-9)
    return "yes" if close.all() else f"NO: {int((~close).sum())} values differ"


def main(argv: list[str] | None = None) -> None:
    args, repeats = c.arguments(__doc__.splitlines()[0], argv, quick_repeats=5, full_repeats=5)
    from workflow import data
    from workflow.data import read_shipments
    from workflow.features import build_features

    customers = c.QUICK_CUSTOMERS if args.quick else c.customers_for_rows(c.TEN_MILLION)
    path = c.ensure_shipments(customers)
    shipments, _ = read_shipments(path)
    n_rows = len(shipments)
    c.log(f"P2 on {path.name}: {n_rows:,} rows, {shipments['customer_id'].nunique():,} customers")
    splits: list[c.Split] = []
    results: dict[str, pd.DataFrame] = {}

    def ours() -> None:
        split = c.Split()
        split.wrap(data, "_read_raw", "read_shipments: read Parquet (pandas)")
        split.wrap(data, "_parse_types", "read_shipments: parse types")
        split.wrap(data, "_validate", "read_shipments: validate (pandera)")
        try:
            started, cpu = time.perf_counter(), time.process_time()
            frame, _ = read_shipments(path)
            split.seconds["read_shipments (total)"] = time.perf_counter() - started
            split.cpu["read_shipments (total)"] = time.process_time() - cpu
            started, cpu = time.perf_counter(), time.process_time()
            results["ours"] = build_features(frame)
            split.seconds["build_features"] = time.perf_counter() - started
            split.cpu["build_features"] = time.process_time() - cpu
        finally:
            split.restore()
        splits.append(split)

    def features_only() -> None:
        build_features(shipments)

    def duck() -> None:
        results["duckdb"] = duckdb_features(path)

    times = c.paired(
        {"read_shipments + build_features": ours, "build_features alone": features_only, "duckdb": duck},
        repeats,
        label="P2 ",
    )
    started = time.perf_counter()
    data.data_digest(shipments)
    digest_seconds = time.perf_counter() - started

    rows = [
        times.row(
            "P2",
            f"features from {n_rows / 1e6:.2f}M rows: read_shipments + build_features (Parquet → features)",
            "read_shipments + build_features",
            "duckdb",
            baseline_what="DuckDB, same Parquet → same features",
            max_ratio=1.5,
        ),
        times.row(
            "P2·f",
            f"features from {n_rows / 1e6:.2f}M rows: build_features alone (frame in memory)",
            "build_features alone",
            "duckdb",
            baseline_what="DuckDB incl. reading the file",
            max_ratio=1.5,
        ),
    ]
    buckets = sorted({key for split in splits for key in split.seconds})
    extra = {
        "split of read_shipments + build_features, medians, wall (cpu)": "; ".join(
            f"{bucket}: {c.median([s.seconds.get(bucket, 0.0) for s in splits]):.2f} s "
            f"({c.median([s.cpu.get(bucket, 0.0) for s in splits]):.2f})"
            for bucket in buckets
        ),
        "data_digest (train also hashes the rows; not in P2)": f"{digest_seconds:.2f} s (one run)",
        "DuckDB result equals build_features": same_features(results["ours"], results["duckdb"]),
    }
    c.report(f"P2: features from {n_rows:,} shipment rows (Parquet)", rows, args, extra)


if __name__ == "__main__":
    main()
