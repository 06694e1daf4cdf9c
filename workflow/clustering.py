"""K-means sweep over k: the model pipeline, quality and stability metrics, and the k recommendation.

Pure computation on DataFrames and arrays; tracking and plotting live elsewhere.

The pipeline is ``transform → scale → kmeans``:

* ``transform`` applies ``log1p`` to counts, durations and weights and ``asinh`` (the signed log:
  ``asinh(x) ≈ log(2x)`` for large x, odd, linear near 0) to money. Their tails are heavy (a B2B
  account ships 1000× more than a private sender); without it K-means spends its clusters on
  outliers. ``asinh`` keeps net refunds (negative revenue) finite and ordered. Both are numpy
  ufuncs, so the saved model needs nothing from this package to load (skops trusts them by name).
* ``scale`` standardises, so that every feature weighs the same in the Euclidean distance.
* ``kmeans`` is Lloyd's K-means with ``n_init`` restarts: one restart misses the best solution
  often enough on real data (docs/architecture.md#measured-facts) that labels would change between runs.

The transform and the scaler do not depend on k, so the sweep fits them once and reuses the scaled
matrix for every k.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_samples,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from workflow.errors import DataError
from workflow.features import COUNT_FEATURES, MONEY_FEATURES
from workflow.set_aside import NO_SET_ASIDE, SetAsideRule

#: Above this many customers the silhouette (O(n²)) is computed on a seeded sample of this size.
SILHOUETTE_SAMPLE_SIZE = 10_000
#: Stability: refits on this many random subsamples of this fraction of the customers (capped in size).
STABILITY_RESAMPLES = 5
STABILITY_FRACTION = 0.8
STABILITY_MAX_SAMPLE = 50_000
#: Recommendation thresholds: every segment at least this share of customers, and labels this stable.
MIN_CLUSTER_SHARE = 0.02
MIN_STABILITY_ARI = 0.9
#: The fallback when no k reaches ``MIN_STABILITY_ARI``: the promotion gate's threshold.
RELAXED_STABILITY_ARI = 0.8
#: The number of segments a marketing team can run distinct actions for: fewer than 3 says little
#: (k=2 splits active from lapsed), more than 8 is more than a team acts on.
USABLE_K = (3, 8)
#: Silhouettes this close are a tie (a tenth of one of Kaufman & Rousseeuw's 0.25-wide quality
#: bands, and several times the ~0.001 sampling noise of a 10k-customer sample): the larger k wins.
SILHOUETTE_TIE = 0.01

METRIC_NAMES: tuple[str, ...] = (
    "silhouette",
    "calinski_harabasz",
    "davies_bouldin",
    "inertia",
    "stability_ari",
    "min_cluster_share",
    "n_clusters",
)

ProgressCallback = Callable[[str], None]


def make_pipeline(features: Sequence[str], n_clusters: int, *, random_state: int = 0, n_init: int = 10) -> Pipeline:
    """The unfitted model: log1p / asinh on skewed features, standard scaling, K-means.

    Parameters
    ----------
    features : sequence of str
        Input columns, in the order of the DataFrame given to ``fit`` and ``predict``.
    n_clusters : int
        Number of segments.
    random_state, n_init : int
        K-means seed and number of restarts.
    """
    counts = [name for name in features if name in COUNT_FEATURES]
    money = [name for name in features if name in MONEY_FEATURES]
    transform = ColumnTransformer(
        [
            ("log1p", _ufunc_transformer(np.log1p, np.expm1), counts),
            ("asinh", _ufunc_transformer(np.arcsinh, np.sinh), money),
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    return Pipeline(
        [
            ("transform", transform),
            ("scale", StandardScaler()),
            ("kmeans", KMeans(n_clusters=n_clusters, n_init=n_init, random_state=random_state)),
        ]
    )


def _ufunc_transformer(func: np.ufunc, inverse: np.ufunc) -> FunctionTransformer:
    return FunctionTransformer(func, inverse_func=inverse, feature_names_out="one-to-one", validate=False)


def transformed_feature_order(pipeline: Pipeline) -> list[str]:
    """Column order after the ``transform`` step (ColumnTransformer puts transformed columns first)."""
    return list(pipeline.named_steps["transform"].get_feature_names_out())


def scaled_space(pipeline: Pipeline, features: pd.DataFrame) -> np.ndarray:
    """The customers in the model's scaled space (where K-means measures distances)."""
    return pipeline[:-1].transform(features[list(pipeline.feature_names_in_)])


def centroids_real_units(pipeline: Pipeline) -> pd.DataFrame:
    """K-means centres mapped back through the scaler and the log transform, one row per segment.

    Because the log is undone after averaging, a centre is a geometric-mean-like typical customer,
    not the arithmetic mean of the segment (that one is in the profile).
    """
    kmeans = pipeline.named_steps["kmeans"]
    centres = pipeline.named_steps["scale"].inverse_transform(kmeans.cluster_centers_)
    frame = pd.DataFrame(centres, columns=transformed_feature_order(pipeline))
    for step, _, columns in pipeline.named_steps["transform"].transformers_:
        if step in {"log1p", "asinh"} and len(columns):
            inverse = pipeline.named_steps["transform"].named_transformers_[step].inverse_func
            frame[columns] = inverse(frame[columns].to_numpy())
    frame = frame[list(pipeline.feature_names_in_)]
    frame.index = pd.RangeIndex(len(frame), name="segment")
    return frame


@dataclass
class Trial:
    """One fitted k of the sweep."""

    k: int
    pipeline: Pipeline
    labels: np.ndarray
    metrics: dict[str, float]
    #: Per-customer silhouette values of the silhouette sample (for the silhouette plot).
    silhouette_values: np.ndarray = field(repr=False)


@dataclass
class Sweep:
    """The result of :func:`fit_sweep`."""

    features: list[str]
    trials: list[Trial]
    silhouette_sample_size: int
    n_customers: int
    random_state: int
    n_init: int
    silhouette_labels_index: np.ndarray = field(repr=False)
    #: The customers in the sweep's scaled space (shared by every k: the transform does not depend on k),
    #: kept so that profiles need not transform the customers again; None when not available.
    scaled: np.ndarray | None = field(default=None, repr=False)
    #: The rule that set customers aside before K-means, and each customer's group code (0: kept).
    set_aside: SetAsideRule = NO_SET_ASIDE
    set_aside_codes: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_clustered(self) -> int:
        """Customers K-means saw: all of them less those set aside."""
        return self.n_customers - sum(self.set_aside_counts().values())

    def set_aside_counts(self) -> dict[str, int]:
        """Customers set aside per group (groups of the rule, in label order; zeros included)."""
        codes = self.set_aside_codes if self.set_aside_codes is not None else np.zeros(0, dtype=np.int8)
        counts = np.bincount(codes, minlength=len(self.set_aside.groups) + 1)
        return {group: int(counts[i + 1]) for i, group in enumerate(self.set_aside.groups)}

    def trial(self, k: int) -> Trial:
        """The trial for ``k``; ``DataError`` if k was not part of the sweep."""
        for trial in self.trials:
            if trial.k == k:
                return trial
        raise DataError(f"k={k} is not in the sweep ({', '.join(str(t.k) for t in self.trials)})")

    def table(self) -> pd.DataFrame:
        """One row per k with every metric (the ``sweep.csv`` artifact)."""
        return pd.DataFrame([{"k": t.k, **t.metrics} for t in self.trials]).set_index("k")


def parse_k_range(text: str) -> list[int]:
    """Parse ``--k``: ``"2-10"``, ``"4"`` or ``"3,5,8"`` into a sorted list of k ≥ 2."""
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-", 1))
            if low > high:
                raise DataError(f"--k {text}: the range is reversed; write {high}-{low}")
            ks = list(range(low, high + 1))
        else:
            ks = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise DataError(f"--k {text}: expected a range like 2-10, a number, or a list like 3,5,8") from None
    if min(ks) < 2:
        raise DataError(f"--k {text}: k must be at least 2 (one segment is not a segmentation)")
    return ks


def fit_sweep(
    features: pd.DataFrame,
    ks: Sequence[int],
    *,
    random_state: int = 0,
    n_init: int = 10,
    silhouette_sample_size: int = SILHOUETTE_SAMPLE_SIZE,
    stability_resamples: int = STABILITY_RESAMPLES,
    set_aside: SetAsideRule = NO_SET_ASIDE,
    on_step: ProgressCallback | None = None,
) -> Sweep:
    """Fit one pipeline per k and measure each.

    Parameters
    ----------
    features : DataFrame
        One row per customer, numeric feature columns (from ``build_features``).
    ks : sequence of int
        Values of k, each at least 2.
    random_state, n_init : int
        K-means seed and restarts; the silhouette sample and the stability subsamples derive from
        the same seed, so a sweep is reproducible.
    silhouette_sample_size : int
        The silhouette is computed on a seeded sample of this many customers when there are more.
    stability_resamples : int
        Number of subsample refits behind ``stability_ari``.
    set_aside : SetAsideRule
        Customers this rule sets aside (``workflow.set_aside.fit_set_aside``) take no part in the
        transform's scaling, K-means or the metrics; their labels are ``k``, ``k + 1`` in every trial.
    on_step : callable, optional
        Called with a short description before each k (for progress bars).

    Raises
    ------
    DataError
        Fewer distinct customers than the largest k, non-finite values, or constant features only.
    """
    ks = sorted(set(ks))
    codes = set_aside.group_codes(features)
    kept = np.flatnonzero(codes == 0)
    clustered = features if len(kept) == len(features) else features.iloc[kept]
    check_sweep_input(clustered, ks)
    base = make_pipeline(list(features.columns), ks[0], random_state=random_state, n_init=n_init)
    prep = base[:-1].fit(clustered)
    # Every customer in the scaled space (profiles place the set-aside too), K-means on the kept ones.
    scaled_all = prep.transform(features)
    scaled = scaled_all if len(kept) == len(features) else scaled_all[kept]
    rng = np.random.default_rng(random_state)
    sample_index = silhouette_sample(len(kept), silhouette_sample_size, rng)
    subsamples = stability_subsamples(len(kept), stability_resamples, rng)

    trials = []
    for k in ks:
        if on_step is not None:
            on_step(f"k={k}")
        kmeans = clone(base.named_steps["kmeans"]).set_params(n_clusters=k)
        labels = kmeans.fit_predict(scaled)
        pipeline = Pipeline(
            [
                ("transform", prep.named_steps["transform"]),
                ("scale", prep.named_steps["scale"]),
                ("kmeans", kmeans),
            ]
        )
        values = silhouette_samples(scaled[sample_index], labels[sample_index])
        metrics = _metrics(scaled, labels, kmeans, values, subsamples, random_state)
        full = set_aside.labels(labels, codes, k)
        trials.append(Trial(k=k, pipeline=pipeline, labels=full, metrics=metrics, silhouette_values=values))
    return Sweep(
        features=list(features.columns),
        trials=trials,
        silhouette_sample_size=len(sample_index),
        n_customers=len(features),
        random_state=random_state,
        n_init=n_init,
        silhouette_labels_index=kept[sample_index],
        scaled=scaled_all,
        set_aside=set_aside,
        set_aside_codes=codes,
    )


def check_sweep_input(features: pd.DataFrame, ks: Sequence[int]) -> None:
    """Raise ``DataError`` when ``features`` cannot be split into ``max(ks)`` segments.

    Public so that the CLI can refuse such data before it starts a progress bar.
    """
    values = features.to_numpy(dtype="float64")
    if not np.isfinite(values).all():
        bad = features.columns[~np.isfinite(values).all(axis=0)]
        raise DataError(f"features {', '.join(bad)} have non-finite values")
    n_distinct = count_distinct_rows(values, at_least=max(ks))
    if n_distinct < max(ks):
        raise DataError(
            f"only {n_distinct} distinct feature profile(s) among {len(features)} customer(s), fewer than"
            f" k={max(ks)}: nothing to segment; use a smaller --k or more customers"
        )
    if (values.std(axis=0) == 0).all():
        raise DataError("every feature is constant across customers: nothing to segment")


def count_distinct_rows(values: np.ndarray, *, at_least: int, head: int = 10_000) -> int:
    """Number of distinct rows of ``values``, exact when below ``at_least``.

    Sorting a million rows to count them takes seconds; the first ``head`` rows nearly always hold
    ``at_least`` distinct ones already, and then their count (a lower bound) is enough to know.
    """
    distinct = len(np.unique(values[:head], axis=0))
    if distinct >= at_least or len(values) <= head:
        return distinct
    return len(np.unique(values, axis=0))


def silhouette_sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of the customers the silhouette is computed on: all ``n``, or ``size`` drawn
    without replacement (the silhouette is O(n²): 10k customers take a second, 1M would take days)."""
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def stability_subsamples(n: int, resamples: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Index sets of the stability refits: ``resamples`` draws of 80 % of the customers (at most 50k)."""
    size = min(int(n * STABILITY_FRACTION), STABILITY_MAX_SAMPLE)
    return [rng.choice(n, size=size, replace=False) for _ in range(resamples)]


def _metrics(
    scaled: np.ndarray,
    labels: np.ndarray,
    kmeans: KMeans,
    silhouette_values: np.ndarray,
    subsamples: list[np.ndarray],
    random_state: int,
) -> dict[str, float]:
    k = kmeans.n_clusters
    shares = np.bincount(labels, minlength=k) / len(labels)
    n_found = int((shares > 0).sum())
    if n_found > 1:
        calinski = float(calinski_harabasz_score(scaled, labels))
        davies = float(davies_bouldin_score(scaled, labels))
    else:
        calinski, davies = float("nan"), float("nan")
    return {
        "silhouette": float(silhouette_values.mean()),
        "calinski_harabasz": calinski,
        "davies_bouldin": davies,
        "inertia": float(kmeans.inertia_),
        "stability_ari": _stability(scaled, labels, kmeans, subsamples, random_state),
        "min_cluster_share": float(shares.min()),
        "n_clusters": float(n_found),
    }


def _stability(
    scaled: np.ndarray, labels: np.ndarray, kmeans: KMeans, subsamples: list[np.ndarray], random_state: int
) -> float:
    """Mean ARI between the full model's labels and models refitted on subsamples, compared on all data.

    Refits use other seeds, so the score catches both sampling noise and sensitivity to the start
    (Hennig 2007, "Cluster-wise assessment of cluster stability", uses the same resampling idea).
    """
    if not subsamples:
        return float("nan")
    scores = []
    for offset, index in enumerate(subsamples, start=1):
        refit = clone(kmeans).set_params(random_state=random_state + offset).fit(scaled[index])
        scores.append(adjusted_rand_score(labels, refit.predict(scaled)))
    return float(np.mean(scores))


@dataclass(frozen=True)
class Recommendation:
    """The recommended k and the one sentence that explains it."""

    k: int
    reason: str


def recommend_k(
    table: pd.DataFrame,
    *,
    usable_k: tuple[int, int] = USABLE_K,
    min_cluster_share: float = MIN_CLUSTER_SHARE,
    min_stability: float = MIN_STABILITY_ARI,
    tie: float = SILHOUETTE_TIE,
    set_aside: str = "",
) -> Recommendation:
    """Pick k: stable, big-enough segments in a usable number, then the best silhouette.

    The rule is stability-based selection (Ben-Hur, Elisseeff & Guyon 2002; von Luxburg 2010,
    "Clustering stability: an overview") with the silhouette (Rousseeuw 1987) as the quality
    criterion among the admissible k:

    1. only k in ``usable_k`` (3 to 8; every swept k when the user's ``--k`` has none in it): on
       customer data without well-separated groups the silhouette is highest at k=2, a split
       nobody can act on;
    2. every segment at least ``min_cluster_share`` of the customers, and labels that a re-fit on
       80 % subsamples reproduces (``stability_ari`` ≥ ``min_stability``);
    3. among those, the best silhouette; silhouettes within ``tie`` of the best count as equal and
       the larger k wins (more segments to act on at no measurable loss of quality).

    ``docs/k_selection.md`` compares this rule with the knee of the inertia curve, the gap
    statistic, prediction strength and Calinski-Harabasz on real and generated data. If no k passes
    step 2, stability is relaxed to the promotion gate (0.8), then to none, then the size rule goes,
    and the sentence says so.

    Parameters
    ----------
    table : DataFrame
        ``Sweep.table()``: indexed by k with ``silhouette``, ``stability_ari`` and ``min_cluster_share``.
    set_aside : str
        What was set aside before K-means (``describe_set_aside``), appended to the sentence.
    """
    if len(table) == 1:  # --k N: nothing to choose, and no range or rule to claim
        return _only_k(table, set_aside)
    low, high = usable_k
    in_range = pd.Series((table.index >= low) & (table.index <= high), index=table.index)
    range_text = f"k from {low} to {high}"
    if not in_range.any():
        in_range[:] = True
        range_text = "k asked for"
    big_enough = table["min_cluster_share"] >= min_cluster_share
    size_text = f"every segment ≥ {min_cluster_share:.0%} of customers"
    steps = [
        (
            big_enough & (table["stability_ari"] >= min_stability),
            f"{size_text} and stability ARI ≥ {min_stability:.2f}",
        ),
    ]
    if min_stability > RELAXED_STABILITY_ARI:
        steps.append(
            (
                big_enough & (table["stability_ari"] >= RELAXED_STABILITY_ARI),
                f"{size_text} and stability ARI ≥ {RELAXED_STABILITY_ARI:.2f} (none reached {min_stability:.2f})",
            )
        )
    steps += [
        (big_enough, f"{size_text} (no k was stable)"),
        (pd.Series(True, index=table.index), f"no k had {size_text}"),
    ]
    for mask, rule in steps:
        eligible = mask & in_range
        if eligible.any():
            return _pick(table, eligible, f"{range_text} with {rule}", tie, set_aside)
    raise AssertionError("unreachable: the last step admits every k in range")


def _only_k(table: pd.DataFrame, set_aside: str) -> Recommendation:
    k = int(table.index[0])
    row = table.loc[k]
    reason = f"k={k}: the only k asked for; silhouette {row['silhouette']:.3f}" + _quality(row, set_aside)
    return Recommendation(k=k, reason=reason + ".")


def _quality(row: pd.Series, set_aside: str) -> str:
    text = f"; stability ARI {row['stability_ari']:.2f}, smallest segment {row['min_cluster_share']:.1%}"
    return f"{text}; {set_aside}" if set_aside else text


def _pick(table: pd.DataFrame, eligible: pd.Series, rule: str, tie: float, set_aside: str) -> Recommendation:
    silhouettes = table.loc[eligible, "silhouette"]
    best_k = int(silhouettes.idxmax())
    tied = silhouettes[silhouettes >= silhouettes.max() - tie]
    k = int(tied.index.max())
    row = table.loc[k]
    admitted = ", ".join(str(int(value)) for value in silhouettes.index)
    if k == best_k:
        reason = f"k={k}: best silhouette ({row['silhouette']:.3f}) among the {rule} ({admitted})"
    else:
        reason = (
            f"k={k}: silhouette {row['silhouette']:.3f}, within {tie:.2f} of the best (k={best_k},"
            f" {silhouettes[best_k]:.3f}) among the {rule} ({admitted}), and more segments to act on"
        )
    return Recommendation(k=k, reason=reason + _quality(row, set_aside) + ".")


def describe_set_aside(sweep: Sweep) -> str:
    """``105 net refunders and 6 exceptional accounts set aside before K-means (2.5 % of customers)``."""
    counts = {group: count for group, count in sweep.set_aside_counts().items() if count}
    if not counts:
        return ""
    words = {
        "net_refunders": ("net refunder", "net refunders"),
        "outliers": ("exceptional account", "exceptional accounts"),
    }
    parts = [f"{count:,} {words[group][count != 1]}" for group, count in counts.items()]
    share = sum(counts.values()) / max(sweep.n_customers, 1)
    share_text = f"{share:.1%}" if share >= 0.001 else "under 0.1%"
    return f"{' and '.join(parts)} set aside before K-means ({share_text} of customers)"


def assign_segments(pipeline: Pipeline, features: pd.DataFrame, set_aside: SetAsideRule = NO_SET_ASIDE) -> np.ndarray:
    """Segment of each customer under a fitted pipeline and its set-aside rule.

    Customers the rule sets aside get ``k``, ``k + 1`` (as in the sweep); the others their nearest
    centre. Checks the model's features are present.
    """
    expected = list(pipeline.feature_names_in_)
    missing = [name for name in expected if name not in features.columns]
    if missing:
        raise DataError(f"the model needs feature(s) {', '.join(missing)}, which the data cannot provide")
    labels = pipeline.predict(features[expected]).astype("int64")
    if not set_aside.groups:
        return labels
    codes = set_aside.group_codes(features)
    return set_aside.labels(labels[codes == 0], codes, pipeline.named_steps["kmeans"].n_clusters)
