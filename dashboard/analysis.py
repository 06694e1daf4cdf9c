"""Pure computations behind the dashboard's views: projection, z-scores, histograms, lasso, migration, drift.

Plain functions over arrays and DataFrames (docs/architecture.md#design-rules): no Panel, no MLflow, no paths. The store
calls them once per model and data, the tests check them against hand-computed values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

# One implementation for the profile logged with each k and the heatmap of a selection (re-exported).
from workflow.profiles import segment_means

__all__ = [
    "categorical_psi",
    "histogram_codes",
    "histogram_counts",
    "histogram_edges",
    "inside_polygon",
    "migration_matrix",
    "pca_projection",
    "psi",
    "psi_flag",
    "psi_table",
    "segment_means",
    "shade_codes",
    "share_change",
]

#: Conventional Population Stability Index thresholds (Siddiqi, "Credit Risk Scorecards", 2006):
#: below 0.1 no meaningful shift, 0.1 to 0.25 a moderate shift, above 0.25 a major shift.
PSI_MODERATE = 0.1
PSI_MAJOR = 0.25
#: Deciles of the reference distribution, the usual PSI binning.
PSI_BINS = 10
#: Proportions are floored at this value before the logarithm: an empty bin on one side would
#: otherwise make the PSI infinite, and one customer must not outweigh the rest of the evidence.
PSI_FLOOR = 1e-4
#: PCA is fitted on at most this many customers (then applied to all): the two main axes of 1M
#: customers are the same as those of a 200k random sample to the third decimal, at a tenth of the cost.
PCA_FIT_SAMPLE = 200_000
#: Bars of a distribution chart.
HIST_BINS = 30
#: Histograms of long-tailed features are drawn between these quantiles, or one bar would hold all.
HIST_QUANTILES = (0.01, 0.99)


def pca_projection(
    scaled: np.ndarray, *, fit_sample: int = PCA_FIT_SAMPLE, random_state: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Project customers from the model's scaled space onto its two main axes.

    Parameters
    ----------
    scaled : ndarray of shape (n_customers, n_features)
        Customers in the model's scaled space (``workflow.clustering.scaled_space``).
    fit_sample : int
        The axes are fitted on a seeded random sample of this many customers when there are more.
    random_state : int
        Seed of the sample; sklearn's sign convention (``svd_flip``) makes the axes deterministic.

    Returns
    -------
    coords : ndarray of shape (n_customers, 2), float32
        Coordinates on the two axes (the second is zero when the model has a single feature).
    explained : ndarray of shape (2,)
        Share of the variance each axis explains.
    """
    n, n_features = scaled.shape
    n_components = min(2, n_features, n)
    rng = np.random.default_rng(random_state)
    fit_rows = scaled if n <= fit_sample else scaled[np.sort(rng.choice(n, size=fit_sample, replace=False))]
    pca = PCA(n_components=n_components, random_state=random_state).fit(fit_rows)
    # Column-major: each axis is contiguous, so the customers frame can hold both without a copy.
    coords = np.zeros((n, 2), dtype=np.float32, order="F")
    coords[:, :n_components] = pca.transform(scaled)
    explained = np.zeros(2)
    explained[:n_components] = pca.explained_variance_ratio_
    return coords, explained


def histogram_edges(
    values: np.ndarray, *, share: bool, skewed: bool, n_bins: int = HIST_BINS
) -> tuple[np.ndarray, bool]:
    """Bin edges of a feature's distribution chart and whether they are logarithmic.

    Counts, durations and money have heavy right tails (the model log-transforms them too): a
    ``skewed`` feature gets log-spaced bins between its 1st and 99th percentiles, or every customer
    but the biggest would share the first bar. A ``share`` gets linear bins over [0, 1]; any other
    feature linear bins between the same percentiles.
    """
    if share:
        return np.linspace(0.0, 1.0, n_bins + 1), False
    low, high = (float(v) for v in np.nanquantile(values, HIST_QUANTILES))
    if skewed and low > 0 and high > low:
        return np.geomspace(low, high, n_bins + 1), True
    if not high > low:
        high = low + 1.0
    return np.linspace(low, high, n_bins + 1), False


def histogram_codes(values: np.ndarray, edges: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Bin and segment of each customer in one small integer: ``bin * n_clusters + label``.

    Bins are those of ``numpy.histogram``: half-open ``[e_i, e_i+1)`` except the last, which is
    closed; customers outside ``[edges[0], edges[-1]]`` (and NaN) get ``n_bins * n_clusters``.
    Computed once per feature, the codes make any selection's counts one ``bincount``
    (:func:`histogram_counts`) instead of a pass over the float values.
    """
    n_bins = len(edges) - 1
    outside = n_bins * n_clusters
    dtype = np.min_scalar_type(outside)
    inside = (values >= edges[0]) & (values <= edges[-1])
    bins = np.clip(np.searchsorted(edges, values[inside], side="right") - 1, 0, n_bins - 1)
    codes = np.full(len(values), outside, dtype=dtype)
    codes[inside] = (bins * n_clusters + np.asarray(labels)[inside]).astype(dtype)
    return codes


def histogram_counts(codes: np.ndarray, n_bins: int, n_clusters: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Customers per bin and segment, shape (n_bins, n_clusters), over ``mask`` (all when None).

    ``codes`` come from :func:`histogram_codes`; customers outside the edges are not counted.
    """
    if mask is not None:
        codes = codes[mask]
    counts = np.bincount(codes, minlength=n_bins * n_clusters + 1)
    return counts[: n_bins * n_clusters].reshape(n_bins, n_clusters)


def inside_polygon(x: np.ndarray, y: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Whether each point ``(x[i], y[i])`` lies inside ``polygon`` (vertices, shape (m, 2)): a lasso brush.

    HoloViews' own test (``spatial_select``) needs spatialpandas or shapely, which the dashboard does
    not depend on; matplotlib's ``Path.contains_points`` is vectorised C. Points outside the lasso's
    bounding box are ruled out first with four comparisons, so the polygon test runs on few points.
    """
    from matplotlib.path import Path

    polygon = np.asarray(polygon, dtype="float64")
    x, y = np.asarray(x), np.asarray(y)
    (x0, y0), (x1, y1) = polygon.min(axis=0), polygon.max(axis=0)
    candidates = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    inside = np.zeros(len(x), dtype=bool)
    if len(candidates) and len(polygon) >= 3:
        points = np.column_stack([x[candidates], y[candidates]]).astype("float64")
        inside[candidates] = Path(polygon).contains_points(points)
    return inside


def shade_codes(labels: np.ndarray, selected: np.ndarray | None, n_clusters: int) -> np.ndarray:
    """Colour code of each customer in the projection: its segment, or ``n_clusters`` outside ``selected``.

    Int8 (int16 beyond 126 segments): the codes of a pandas Categorical, taken without a copy.
    """
    dtype = np.int8 if n_clusters < np.iinfo(np.int8).max else np.int16
    if selected is None:
        return np.asarray(labels).astype(dtype)
    return np.where(selected, labels, n_clusters).astype(dtype)


def migration_matrix(labels_a: np.ndarray, labels_b: np.ndarray, k_a: int, k_b: int) -> np.ndarray:
    """Counts of customers in segment i of version A and segment j of version B.

    Both label arrays describe the same customers in the same order. Returns an int64 array of shape
    (k_a, k_b) whose total is the number of customers.
    """
    if len(labels_a) != len(labels_b):
        raise ValueError("both versions must label the same customers")
    flat = np.asarray(labels_a, dtype="int64") * k_b + np.asarray(labels_b, dtype="int64")
    return np.bincount(flat, minlength=k_a * k_b).reshape(k_a, k_b)


def psi(expected: np.ndarray, actual: np.ndarray, n_bins: int = PSI_BINS) -> float:
    """Population Stability Index of ``actual`` against the reference ``expected``.

    ``PSI = Σ (a_i − e_i) · ln(a_i / e_i)`` over bins whose interior edges are the quantiles
    ``1/n_bins, …, (n_bins−1)/n_bins`` of ``expected``; bins are right-closed,
    ``(−∞, q₁], (q₁, q₂], …, (q_m, +∞)``. Repeated quantiles are merged, so a point mass (e.g. the
    many customers with a 0 % return rate) stays in one bin instead of splitting arbitrarily.
    Proportions are floored at ``PSI_FLOOR``.

    Parameters
    ----------
    expected, actual : array-like of float
        The reference (training) and new values of one feature; NaN are ignored.
    n_bins : int
        Number of quantile bins of the reference.
    """
    expected = np.asarray(expected, dtype="float64")
    actual = np.asarray(actual, dtype="float64")
    expected = expected[np.isfinite(expected)]
    actual = actual[np.isfinite(actual)]
    if not len(expected) or not len(actual):
        return float("nan")
    edges = np.unique(np.quantile(expected, np.arange(1, n_bins) / n_bins))
    e = _bin_shares(expected, edges)
    a = _bin_shares(actual, edges)
    return float(np.sum((a - e) * np.log(a / e)))


def categorical_psi(expected_shares: np.ndarray, actual_shares: np.ndarray) -> float:
    """PSI between two distributions already given as shares per category (e.g. segment shares)."""
    e = np.maximum(np.asarray(expected_shares, dtype="float64"), PSI_FLOOR)
    a = np.maximum(np.asarray(actual_shares, dtype="float64"), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # side="left": a value equal to an edge falls in the bin that edge closes (right-closed bins).
    index = np.searchsorted(edges, values, side="left")
    shares = np.bincount(index, minlength=len(edges) + 1) / len(values)
    return np.maximum(shares, PSI_FLOOR)


def psi_flag(value: float) -> str:
    """``"stable"`` below 0.1, ``"moderate"`` from 0.1, ``"major"`` from 0.25 (``"stable"`` for NaN)."""
    if value >= PSI_MAJOR:
        return "major"
    if value >= PSI_MODERATE:
        return "moderate"
    return "stable"


def psi_table(reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """PSI and flag of each feature, current data against the reference, largest first.

    Returns a DataFrame with columns ``feature``, ``psi`` and ``flag``.
    """
    rows = [{"feature": name, "psi": psi(reference[name].to_numpy(), current[name].to_numpy())} for name in features]
    table = pd.DataFrame(rows, columns=["feature", "psi"])
    table["flag"] = [psi_flag(value) for value in table["psi"]]
    return table.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


def share_change(reference_labels: np.ndarray, current_labels: np.ndarray, n_clusters: int) -> pd.DataFrame:
    """Share of each segment in the reference and the current customers, and the change.

    Returns a DataFrame indexed by segment with ``reference``, ``current`` and ``change`` (current −
    reference, as a share: 0.03 is three percentage points).
    """
    reference = np.bincount(reference_labels, minlength=n_clusters) / max(len(reference_labels), 1)
    current = np.bincount(current_labels, minlength=n_clusters) / max(len(current_labels), 1)
    return pd.DataFrame(
        {"reference": reference, "current": current, "change": current - reference},
        index=pd.RangeIndex(n_clusters, name="segment"),
    )
