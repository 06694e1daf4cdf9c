"""P1 and P5: the training sweep with everything vs a bare sweep, and MLflow's cost per child run.

P1  ``fit_sweep`` + ``recommend_k`` + ``build_sweep_report`` (profiles, centroids, plots) + ``pipeline.log``
    (``tracking.log_sweep``: 9 child runs with their params, metrics, artifacts and models, the parent,
    registration) on prebuilt features, as ``segments train`` runs them, vs a *bare sweep* in the same
    run: the same transform and scaling, ``KMeans(n_clusters=k, n_init=10, random_state=0)`` for each k
    and ``silhouette_score`` on a 10k sample. Target ≤ 2.0×.
P5  ``log_sweep`` time / number of k: everything that talks to MLflow (runs, params, metrics, artifacts,
    models, dataset input, registration), nothing subtracted; the report it logs is built before (and
    counted in P1). Target ≤ 0.3 s per child. P5·all adds the report (profiles and plots) per k: what
    ``log_sweep`` cost before the report moved out of it.

The split of the full path comes from timing wrappers put around the real functions
(``workflow.clustering._stability``, ``silhouette_samples``, …, ``mlflow.sklearn.log_model``); the
workflow code itself runs unchanged. Features are built beforehand (cached), so they are excluded.

    python bench/p1_p5_train.py            # 1M customers, 3 rounds (~15 min on a quiet 2-core machine)
    python bench/p1_p5_train.py --quick    # 20k customers, 1 round (~2 min on a quiet machine)
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

KS = list(range(2, 11))
N_INIT = 10
SEED = 0
SAMPLE = 10_000
FIT_TOTAL = "fit_sweep + recommend_k (total)"
REPORT_TOTAL = "build_sweep_report (total)"
LOG_TOTAL = "log_sweep (total)"


@contextmanager
def instrumented() -> Iterator[c.Split]:
    """Wrap the functions whose time makes up the split; unwrap on exit."""
    import mlflow
    import mlflow.data
    import mlflow.sklearn

    from workflow import clustering, report, tracking

    split = c.Split()
    split.wrap(clustering, "check_sweep_input|_check_sweep_input", "fit_sweep: input check")
    split.wrap(clustering, "silhouette_samples", "fit_sweep: silhouette (10k sample)")
    split.wrap(clustering, "calinski_harabasz_score", "fit_sweep: Calinski-Harabasz + Davies-Bouldin")
    split.wrap(clustering, "davies_bouldin_score", "fit_sweep: Calinski-Harabasz + Davies-Bouldin")
    split.wrap(clustering, "_stability", "fit_sweep: stability (5 refits per k)")
    split.wrap(report, "build_profile", "build_sweep_report: profiles")
    split.wrap(report, "silhouette_figure", "build_sweep_report: plots (draw + PNG)")
    split.wrap(report, "sweep_figure", "build_sweep_report: plots (draw + PNG)")
    split.wrap(report, "png_bytes", "build_sweep_report: plots (draw + PNG)")
    split.wrap(mlflow, "log_artifacts", "log_sweep: artifacts (CSVs, PNGs, JSON)")
    split.wrap(mlflow.sklearn, "log_model", "log_sweep: log_model (9 models)")
    split.wrap(mlflow.data, "from_pandas", "log_sweep: dataset input")
    split.wrap(mlflow, "log_input", "log_sweep: dataset input")
    split.wrap(tracking, "_register", "log_sweep: register + tags + alias")
    try:
        yield split
    finally:
        split.restore()


def bare_sweep(features: pd.DataFrame, fits: list[tuple[float, float]]) -> dict[int, np.ndarray]:
    """The baseline: transform + scale once, then per k one KMeans fit and a 10k-sample silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    from workflow.clustering import make_pipeline

    scaled = make_pipeline(list(features.columns), 2)[:-1].fit_transform(features)
    labels = {}
    for k in KS:
        started, cpu = time.perf_counter(), time.process_time()
        labels[k] = KMeans(n_clusters=k, n_init=N_INIT, random_state=SEED).fit_predict(scaled)
        fits.append((time.perf_counter() - started, time.process_time() - cpu))
        silhouette_score(scaled, labels[k], sample_size=min(SAMPLE, len(scaled)), random_state=SEED)
    return labels


def digest(labels: np.ndarray) -> str:
    """Short hash of a label vector: equal digests, identical labels."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()[:12]


def main(argv: list[str] | None = None) -> None:
    args, repeats = c.arguments(__doc__.splitlines()[0], argv, quick_repeats=1, full_repeats=3)
    features_path = c.ensure_features(c.customers_of(args))
    features = pd.read_parquet(features_path)
    c.log(f"P1/P5 on {len(features):,} customers × {features.shape[1]} features, k={KS[0]}..{KS[-1]}")

    with c.mlflow_store():
        import mlflow.sklearn  # noqa: F401 -- imports are paid once per process, not per sweep

        from workflow import pipeline
        from workflow.clustering import fit_sweep, recommend_k
        from workflow.report import build_sweep_report

        settings = pipeline.TrainSettings(data=features_path, k=f"{KS[0]}-{KS[-1]}", seed=SEED, n_init=N_INIT)
        customers = pipeline.Customers.from_table(features, data_path=features_path, as_of="bench", digest="bench")
        bare_fits: list[tuple[float, float]] = []
        splits: list[c.Split] = []
        results: dict[str, object] = {}

        def full() -> None:
            with instrumented() as split:
                started, cpu = time.perf_counter(), time.process_time()
                sweep = fit_sweep(features, KS, random_state=SEED, n_init=N_INIT)
                recommendation = recommend_k(sweep.table())
                split.seconds[FIT_TOTAL] = time.perf_counter() - started
                split.cpu[FIT_TOTAL] = time.process_time() - cpu
                started, cpu = time.perf_counter(), time.process_time()
                report = build_sweep_report(sweep, features, recommendation.k)
                split.seconds[REPORT_TOTAL] = time.perf_counter() - started
                split.cpu[REPORT_TOTAL] = time.process_time() - cpu
                started, cpu = time.perf_counter(), time.process_time()
                training = pipeline.Training(settings, customers, sweep, recommendation, report=report)
                pipeline.log(training)
                split.seconds[LOG_TOTAL] = time.perf_counter() - started
                split.cpu[LOG_TOTAL] = time.process_time() - cpu
            splits.append(split)
            results["sweep"], results["recommendation"] = sweep, recommendation

        def bare() -> None:
            results["bare_labels"] = bare_sweep(features, bare_fits)

        cases: dict[str, Callable[[], object]] = {"full": full, "bare": bare}
        times = c.paired(cases, repeats, label="P1 ")

    rows, extra = summarise(times, splits, bare_fits, results, len(features))
    c.report(f"P1 / P5: train sweep k={KS[0]}..{KS[-1]} on {len(features):,} customers", rows, args, extra)


def summarise(
    times: c.Timed,
    splits: list[c.Split],
    bare_fits: list[tuple[float, float]],
    results: dict[str, object],
    n_customers: int,
) -> tuple[list[c.Row], dict[str, object]]:
    """Rows of the table and the split of the full path (medians over rounds)."""
    sweep, recommendation = results["sweep"], results["recommendation"]
    n_k = len(KS)
    rounds = [bare_fits[i : i + n_k] for i in range(0, len(bare_fits), n_k)]
    rows = [
        times.row(
            "P1",
            f"train k={KS[0]}..{KS[-1]}, {n_customers:,} customers, everything "
            "(fit_sweep + recommend_k + build_sweep_report + log_sweep)",
            "full",
            "bare",
            baseline_what="bare sweep: KMeans n_init=10 + 10k silhouette",
            max_ratio=2.0,
        ),
        c.seconds_row(
            "P5",
            f"MLflow overhead per child run (log_sweep / {n_k})",
            [split.seconds[LOG_TOTAL] / n_k for split in splits],
            [sum(wall for wall, _ in fits) / n_k for fits in rounds],
            cpu=[split.cpu[LOG_TOTAL] / n_k for split in splits],
            baseline_cpu=[sum(cpu for _, cpu in fits) / n_k for fits in rounds],
            baseline_what="bare KMeans fit per k",
            max_value=0.3,
        ),
        c.seconds_row(
            "P5·all",
            f"report + MLflow per child run ((build_sweep_report + log_sweep) / {n_k})",
            [(split.seconds[REPORT_TOTAL] + split.seconds[LOG_TOTAL]) / n_k for split in splits],
            [sum(wall for wall, _ in fits) / n_k for fits in rounds],
            cpu=[(split.cpu[REPORT_TOTAL] + split.cpu[LOG_TOTAL]) / n_k for split in splits],
            baseline_cpu=[sum(cpu for _, cpu in fits) / n_k for fits in rounds],
            baseline_what="bare KMeans fit per k",
        ),
    ]
    bare_labels = results["bare_labels"]
    same = all(np.array_equal(bare_labels[t.k], t.labels) for t in sweep.trials)
    labels = sweep.trial(recommendation.k).labels
    extra = {
        "split of the full path, medians, wall (cpu)": split_text(splits),
        "recommended k": f"{recommendation.k} — labels sha256 {digest(labels)} (must not change with optimisations)",
        "silhouette by k": ", ".join(f"{t.k}:{t.metrics['silhouette']:.4f}" for t in sweep.trials),
        "stability_ari by k": ", ".join(f"{t.k}:{t.metrics['stability_ari']:.4f}" for t in sweep.trials),
        "bare sweep labels identical to fit_sweep's for every k": "yes" if same else "NO",
    }
    return rows, extra


def split_text(splits: list[c.Split]) -> str:
    """Each bucket's median wall and CPU seconds, and what the wrapped functions leave over."""

    def med(bucket: str) -> tuple[float, float]:
        return (
            c.median([split.seconds.get(bucket, 0.0) for split in splits]),
            c.median([split.cpu.get(bucket, 0.0) for split in splits]),
        )

    buckets = sorted({key for split in splits for key in split.seconds} - {FIT_TOTAL, REPORT_TOTAL, LOG_TOTAL})
    parts = []
    for total, prefix, rest in (
        (FIT_TOTAL, "fit_sweep:", "fit_sweep: KMeans fits + transform (the rest)"),
        (REPORT_TOTAL, "build_sweep_report:", "build_sweep_report: centroids (the rest)"),
        (LOG_TOTAL, "log_sweep:", "log_sweep: runs, params, metrics (the rest)"),
    ):
        wall, cpu = med(total)
        parts.append(f"{total}: {wall:.2f} s ({cpu:.2f})")
        for bucket in (b for b in buckets if b.startswith(prefix)):
            bucket_wall, bucket_cpu = med(bucket)
            wall, cpu = wall - bucket_wall, cpu - bucket_cpu
            parts.append(f"{bucket}: {bucket_wall:.2f} s ({bucket_cpu:.2f})")
        parts.append(f"{rest}: {wall:.2f} s ({cpu:.2f})")
    return "; ".join(parts)


if __name__ == "__main__":
    main()
