"""The K-means sweep in Spark ML: the same trials, metrics and stability as ``workflow.clustering.fit_sweep``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import silhouette_samples
from sklearn.pipeline import Pipeline

from workflow.clustering import (
    METRIC_NAMES,
    SILHOUETTE_SAMPLE_SIZE,
    STABILITY_RESAMPLES,
    Sweep,
    Trial,
    make_pipeline,
    silhouette_sample,
    stability_subsamples,
)
from workflow.errors import DataError
from workflow.spark_engine.features import _to_pandas
from workflow.spark_engine.space import _VECTOR, _fit_prep, _scaled, _space_from_pipeline

if TYPE_CHECKING:
    from pyspark.ml.clustering import KMeansModel
    from pyspark.sql import Column, DataFrame


ProgressCallback = Callable[[str], None]

#: Restarts per k, as ``fit_sweep``: with fewer, Spark's k-means|| starts end in worse local optima
#: often enough (measured on generated data: with 2 starts, 3–19 % more inertia at k=4..7 and another
#: recommended k) that the two engines would disagree.
SPARK_N_INIT = 10
#: Spark K-means fits run at once (see ``_fit_starts``).
CONCURRENT_FITS = 4
#: sklearn's default ``tol``: stop when the summed squared centre shift ≤ tol × mean feature variance.
SKLEARN_TOL = 1e-4
SKLEARN_MAX_ITER = 300
_LABEL = "_label"


# --------------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------------


def fit_sweep_spark(
    features: DataFrame,
    ks: Sequence[int],
    *,
    random_state: int = 0,
    n_init: int = SPARK_N_INIT,
    silhouette_sample_size: int = SILHOUETTE_SAMPLE_SIZE,
    stability_resamples: int = STABILITY_RESAMPLES,
    max_iter: int = SKLEARN_MAX_ITER,
    on_step: ProgressCallback | None = None,
) -> Sweep:
    """The K-means sweep of ``workflow.clustering.fit_sweep``, fitted with Spark ML.

    Parameters
    ----------
    features : pyspark.sql.DataFrame
        ``customer_id`` and numeric feature columns, one row per customer (from :func:`spark_features`).
    ks : sequence of int
        Values of k, each at least 2.
    random_state : int
        Seeds Spark's K-means, the silhouette sample (the same customers as ``fit_sweep`` picks) and
        the stability subsamples.
    n_init : int
        K-means restarts per fit (k-means|| starts with different seeds); the lowest cost wins.
    silhouette_sample_size : int
        The silhouette is computed on the driver on a seeded sample of this many customers.
    stability_resamples : int
        Subsample refits behind ``stability_ari``.
    max_iter : int
        Lloyd iterations per start at most.
    on_step : callable, optional
        Called with ``"k=<k>"`` before each k.

    Returns
    -------
    Sweep
        Trials hold scikit-learn pipelines (``make_pipeline``) carrying the Spark fit: ``predict`` on
        the collected features gives the Spark labels. Labels follow the customers sorted by
        ``customer_id`` (the order of :func:`collect_features`). Metrics have ``fit_sweep``'s names and
        definitions.

    Raises
    ------
    DataError
        Fewer distinct customers than the largest k, non-finite values, or constant features only.
    """
    from pyspark import StorageLevel

    ks = sorted(set(ks))
    names = [name for name in features.columns if name != "customer_id"]
    if min(ks) < 2:
        raise DataError("k must be at least 2 (one segment is not a segmentation)")
    prep, n = _fit_prep(names, features)
    space = _space_from_pipeline(prep)
    # Every fit, refit and metric pass reads the scaled vectors: keep them in memory once.
    scaled = _scaled(features, space).persist(StorageLevel.MEMORY_AND_DISK)
    subsamples: list[DataFrame] = []
    try:
        # The silhouette sample and the stability subsamples are fit_sweep's: the same customers, drawn
        # from the same seeded stream over the sorted ids, so the two engines' metrics compare.
        ids = _sorted_ids(scaled)
        rng = np.random.default_rng(random_state)
        sample_index = silhouette_sample(n, silhouette_sample_size, rng)
        subsamples += [
            _rows_of(scaled, ids[index]).persist(StorageLevel.MEMORY_AND_DISK)
            for index in stability_subsamples(n, stability_resamples, rng)
        ]
        fits: dict[int, tuple[KMeansModel, dict[str, float]]] = {}
        for k in ks:
            if on_step is not None:
                on_step(f"k={k}")
            # The starts on all customers and on every subsample are independent: fit them together.
            starts = [
                (data, seed)
                for offset, data in enumerate([scaled, *subsamples])
                for seed in _seeds(random_state, k, offset, n_init)
            ]
            models = _fit_starts(starts, k, max_iter)
            model = _best(models[:n_init], k)
            refits = [_best(models[i : i + n_init], k) for i in range(n_init, len(models), n_init)]
            stats = _cluster_metrics(scaled, model, k, n, len(names))
            stats["stability_ari"] = _stability(scaled, model, refits, k)
            fits[k] = (model, stats)
        labels, points = _collect_labels(scaled, {k: fit[0] for k, fit in fits.items()}, len(names))
        sample = points[sample_index]
        del points
    finally:
        for frame in [scaled, *subsamples]:
            frame.unpersist()

    trials = []
    for k in ks:
        model, stats = fits[k]
        values = silhouette_samples(sample, labels[k][sample_index])
        metrics = {"silhouette": float(values.mean()), **stats}
        pipeline = _sklearn_pipeline(prep, k, model, labels[k], metrics["inertia"], random_state, n_init)
        trials.append(
            Trial(
                k=k,
                pipeline=pipeline,
                labels=labels[k],
                metrics={name: metrics[name] for name in METRIC_NAMES},
                silhouette_values=values,
            )
        )
    return Sweep(
        features=names,
        trials=trials,
        silhouette_sample_size=len(sample_index),
        n_customers=n,
        random_state=random_state,
        n_init=n_init,
        silhouette_labels_index=sample_index,
    )


def _seeds(random_state: int, k: int, resample: int, count: int, *, purpose: int = 0) -> list[int]:
    """Independent, reproducible Spark seeds per (k, resample, purpose): no two fits or samples share one.

    ``resample`` 0 is the fit on all customers; ``purpose`` 0 seeds K-means starts, 1 the subsample.
    """
    entropy = [random_state, k, resample, purpose]
    return [int(seed) for seed in np.random.SeedSequence(entropy).generate_state(count, dtype=np.uint32)]


def _spark_tol(k: int) -> float:
    """Spark stops when every centre moved less than ``tol``; sklearn when the summed squared shift is
    below ``SKLEARN_TOL`` × the mean variance (1 after scaling). ``sqrt(SKLEARN_TOL / k)`` per centre
    implies sklearn's rule, so a Spark fit is at least as converged as a scikit-learn one.
    """
    return float(np.sqrt(SKLEARN_TOL / k))


def _fit_starts(starts: Sequence[tuple[DataFrame, int]], k: int, max_iter: int) -> list[KMeansModel]:
    """One Spark K-means fit (k-means|| start) per (data, seed), ``CONCURRENT_FITS`` at a time.

    On customer-sized data a fit is a chain of small Spark jobs whose latency, not their work,
    dominates; running a few fits at once keeps the executors busy. Each fit depends only on its
    data and seed, so the results do not depend on the scheduling.
    """
    from pyspark.ml.clustering import KMeans

    def fit(start: tuple[DataFrame, int]) -> KMeansModel:
        data, seed = start
        estimator = KMeans(
            k=k,
            seed=seed,
            maxIter=max_iter,
            tol=_spark_tol(k),
            initMode="k-means||",
            featuresCol=_VECTOR,
            predictionCol=_LABEL,
        )
        return estimator.fit(data)

    pool = ThreadPoolExecutor(max_workers=min(len(starts), CONCURRENT_FITS))
    try:
        models = list(pool.map(fit, starts))
    except BaseException:
        # Ctrl-C or a failed fit: cancel the other fits' Spark jobs rather than wait for them to finish.
        pool.shutdown(wait=False, cancel_futures=True)
        starts[0][0].sparkSession.sparkContext.cancelAllJobs()
        raise
    pool.shutdown()
    return models


def _best(models: Sequence[KMeansModel], k: int) -> KMeansModel:
    """The lowest-cost fit (the first seed's on a tie), as ``n_init`` restarts choose in sklearn."""
    # k-means|| returns fewer centres when its candidates hold fewer than k distinct points.
    complete = [model for model in models if len(model.clusterCenters()) == k]
    if not complete:
        raise DataError(f"Spark's K-means found fewer than {k} distinct centres: use a smaller --k or more data")
    return min(complete, key=lambda model: model.summary.trainingCost)


def _per_label(value_of: Callable[[int], float], k: int) -> Column:
    """A constant looked up by the row's label: ``value_of(label)`` for labels 0…k−1."""
    from pyspark.sql import functions as sf

    return sf.element_at(sf.array(*[sf.lit(float(value_of(c))) for c in range(k)]), sf.col(_LABEL) + 1)


def _squared_distance(points: np.ndarray, m: int) -> Column:
    """Squared distance from the row's scaled vector ``_z0…`` to ``points[label]``."""
    from pyspark.sql import functions as sf

    terms = [sf.pow(sf.col(f"_z{j}") - _per_label(lambda c, j=j: points[c, j], len(points)), 2) for j in range(m)]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _cluster_metrics(scaled: DataFrame, model: KMeansModel, k: int, n: int, m: int) -> dict[str, float]:
    """Calinski-Harabasz, Davies-Bouldin, inertia and segment sizes from two Spark aggregations.

    The first pass gives sizes and cluster means; the second the distances to those means (the
    definitions of scikit-learn's scores use the labels' means, not the fitted centres) and to the
    centres (inertia).
    """
    from pyspark.sql import functions as sf

    labelled = model.transform(scaled)
    first = labelled.groupBy(_LABEL).agg(
        sf.count(sf.lit(1)).alias("n"), *[sf.sum(f"_z{j}").alias(f"s{j}") for j in range(m)]
    )
    counts, sums = np.zeros(k), np.zeros((k, m))
    for row in first.collect():
        counts[row[_LABEL]] = row["n"]
        sums[row[_LABEL]] = [row[f"s{j}"] for j in range(m)]
    present = counts > 0
    means = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=present[:, None])
    centres = np.asarray(model.clusterCenters(), dtype="float64")
    to_mean = _squared_distance(means, m)
    second = labelled.groupBy(_LABEL).agg(
        sf.sum(sf.sqrt(to_mean)).alias("dist"),
        sf.sum(to_mean).alias("sq"),
        sf.sum(_squared_distance(centres, m)).alias("cost"),
    )
    dist, squared, cost = np.zeros(k), np.zeros(k), 0.0
    for row in second.collect():
        dist[row[_LABEL]], squared[row[_LABEL]] = row["dist"], row["sq"]
        cost += row["cost"]
    n_found = int(present.sum())
    if n_found > 1:
        calinski = _calinski_harabasz(counts[present], means[present], float(squared.sum()), sums.sum(axis=0) / n)
        davies = _davies_bouldin(dist[present] / counts[present], means[present])
    else:
        calinski, davies = float("nan"), float("nan")
    return {
        "calinski_harabasz": calinski,
        "davies_bouldin": davies,
        "inertia": float(cost),
        "min_cluster_share": float(counts.min() / n),
        "n_clusters": float(n_found),
    }


def _calinski_harabasz(counts: np.ndarray, means: np.ndarray, within: float, centre: np.ndarray) -> float:
    """scikit-learn's ``calinski_harabasz_score`` from cluster sizes, means and the within sum of squares."""
    n, n_labels = counts.sum(), len(counts)
    between = float((counts * ((means - centre) ** 2).sum(axis=1)).sum())
    return 1.0 if within == 0 else float(between * (n - n_labels) / (within * (n_labels - 1)))


def _davies_bouldin(intra: np.ndarray, means: np.ndarray) -> float:
    """scikit-learn's ``davies_bouldin_score`` from each cluster's mean distance to its mean."""
    separation = np.sqrt(((means[:, None, :] - means[None, :, :]) ** 2).sum(axis=2))
    if np.allclose(intra, 0) or np.allclose(separation, 0):
        return 0.0
    separation[separation == 0] = np.inf
    return float(np.max((intra[:, None] + intra[None, :]) / separation, axis=1).mean())


def _sorted_ids(scaled: DataFrame) -> np.ndarray:
    """Every customer id, sorted: the order of the labels and of :func:`collect_features`."""
    ids = _to_pandas(scaled.select("customer_id"))["customer_id"].astype("str")
    return np.sort(ids.to_numpy())


def _rows_of(scaled: DataFrame, customer_ids: np.ndarray) -> DataFrame:
    """The rows of the given customers (a broadcast join: the ids are a sample, small next to the data)."""
    import pyarrow as pa
    from pyspark.sql import functions as sf

    wanted = scaled.sparkSession.createDataFrame(pa.table({"customer_id": pa.array(customer_ids, pa.string())}))
    return scaled.join(sf.broadcast(wanted), "customer_id")


def _stability(scaled: DataFrame, model: KMeansModel, refits: Sequence[KMeansModel], k: int) -> float:
    """``fit_sweep``'s stability: mean ARI between the labels and the subsample refits', on all customers.

    The ARI comes from the k×k contingency table, which Spark counts: no label array travels for it.
    """
    from pyspark.sql import functions as sf

    if not refits:
        return float("nan")
    full = model.transform(scaled).withColumnRenamed(_LABEL, "_full")
    scores = []
    for refit in refits:
        pairs = refit.transform(full).groupBy("_full", _LABEL).agg(sf.count(sf.lit(1)).alias("n")).collect()
        table = np.zeros((k, k), dtype="int64")
        for row in pairs:
            table[row["_full"], row[_LABEL]] = row["n"]
        scores.append(_ari_from_contingency(table))
    return float(np.mean(scores))


def _ari_from_contingency(table: np.ndarray) -> float:
    """The adjusted Rand index from a contingency table, with scikit-learn's pair-confusion formula.

    Python integers throughout: the pair counts (≈ n²) overflow int64 above three billion customers.
    """
    cells = [int(value) for value in table.ravel()]
    n = sum(cells)
    sum_squares = sum(value * value for value in cells)
    rows = [int(value) for value in table.sum(axis=1)]
    cols = [int(value) for value in table.sum(axis=0)]
    # Pairs together in both labelings (tp), in the first only (fp), in the second only (fn), in neither (tn).
    tp = sum_squares - n
    fp = sum(int(table[i, j]) * cols[j] for i in range(table.shape[0]) for j in range(table.shape[1])) - sum_squares
    fn = sum(int(table[i, j]) * rows[i] for i in range(table.shape[0]) for j in range(table.shape[1])) - sum_squares
    tn = n * n - fp - fn - sum_squares
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def _collect_labels(
    scaled: DataFrame, models: dict[int, KMeansModel], m: int
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Each k's labels and the scaled points, customers sorted by id, in one pass."""
    frame = scaled
    for k, model in models.items():
        frame = model.transform(frame).withColumnRenamed(_LABEL, f"_k{k}")
    z = [f"_z{j}" for j in range(m)]
    table = _to_pandas(frame.select("customer_id", *z, *[f"_k{k}" for k in models]))
    table["customer_id"] = table["customer_id"].astype("str")
    table = table.set_index("customer_id").sort_index(kind="stable")
    labels = {k: table[f"_k{k}"].to_numpy(dtype="int32") for k in models}
    return labels, table[z].to_numpy(dtype="float64")


def _sklearn_pipeline(
    prep: Pipeline,
    k: int,
    model: KMeansModel,
    labels: np.ndarray,
    inertia: float,
    random_state: int,
    n_init: int,
) -> Pipeline:
    """``make_pipeline``'s pipeline carrying the Spark fit: shared transform and scaler, Spark's centres."""
    features = list(prep.feature_names_in_)
    kmeans = make_pipeline(features, k, random_state=random_state, n_init=n_init).named_steps["kmeans"]
    centres = np.asarray(model.clusterCenters(), dtype="float64")
    # Fitting on the centres themselves sets every attribute ``predict`` relies on in this sklearn
    # version (thread count, feature count, …); the Spark fit's results then replace the fitted ones.
    kmeans.fit(centres)
    kmeans.cluster_centers_ = centres
    kmeans.labels_ = labels
    kmeans.inertia_ = float(inertia)
    kmeans.n_iter_ = int(model.summary.numIter)
    return Pipeline(
        [
            ("transform", prep.named_steps["transform"]),
            ("scale", prep.named_steps["scale"]),
            ("kmeans", kmeans),
        ]
    )
