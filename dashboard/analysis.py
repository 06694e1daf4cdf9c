"""Pure computations behind the dashboard's views: projection, z-scores, histograms, lasso, migration, drift.

Plain functions over arrays and DataFrames (docs/architecture.md#design-rules): no Panel, no MLflow, no paths. The store
calls them once per model and data, the tests check them against hand-computed values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

# One implementation for the profile logged with each k and the heatmap of a selection (re-exported).
from workflow.profiles import segment_means

__all__ = [
    "HistogramAxis",
    "axis_ticks",
    "categorical_psi",
    "from_axis",
    "histogram_axis",
    "histogram_codes",
    "histogram_counts",
    "histogram_edges",
    "inside_polygon",
    "migration_matrix",
    "pca_axes",
    "pca_projection",
    "psi",
    "psi_flag",
    "psi_table",
    "segment_means",
    "shade_codes",
    "share_change",
    "to_axis",
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
#: Scales of a distribution chart's x axis: linear; logarithmic, for a heavy right tail of positive
#: values; asinh (a signed log: linear around 0, logarithmic beyond), for heavy tails on both sides
#: of zero, as revenue has on real data (net refunds are negative).
LINEAR, LOG, ASINH = "linear", "log", "asinh"
#: A feature the product does not know (custom data) counts as heavy-tailed when its 1st–99th
#: percentile span is more than this many interquartile ranges: 3.4 for a normal distribution,
#: 4.2 for an exponential one, 14 for a log-normal of σ = 1.5.
HEAVY_TAIL_RATIO = 10.0
#: The smaller side of an asinh axis (the refunds, usually) gets at least this share of its length:
#: narrower, its bars and its ticks would crowd against zero.
ASINH_MIN_SIDE = 0.2
#: Significant digits kept from a brushed position: a pixel is far coarser, and a value of the data
#: at a brushed edge stays inside the range despite the round trip through the scale.
BRUSH_DIGITS = 6


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
    coords, explained, _ = pca_axes(scaled, fit_sample=fit_sample, random_state=random_state)
    return coords, explained


def pca_axes(
    scaled: np.ndarray,
    *,
    fit_rows: np.ndarray | None = None,
    fit_sample: int = PCA_FIT_SAMPLE,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pca_projection` and what each axis is made of.

    ``fit_rows`` (a boolean mask) chooses the customers the axes are fitted on; every customer is
    projected. The dashboard fits on the segments' customers: the set-aside groups are few but far
    out (net refunders' negative prices), and would otherwise turn an axis towards them alone.

    Returns
    -------
    coords, explained : ndarray
        As :func:`pca_projection`.
    components : ndarray of shape (2, n_features)
        Each axis as a unit vector of the scaled features (zeros for a missing second axis): the
        features are standardised, so a weight's size says how much that feature moves along the axis.
    """
    n, n_features = scaled.shape
    fitted = scaled if fit_rows is None else scaled[fit_rows]
    n_fit = len(fitted)
    n_components = min(2, n_features, n_fit)
    rng = np.random.default_rng(random_state)
    if n_fit > fit_sample:
        fitted = fitted[np.sort(rng.choice(n_fit, size=fit_sample, replace=False))]
    pca = PCA(n_components=n_components, random_state=random_state).fit(fitted)
    # Column-major: each axis is contiguous, so the customers frame can hold both without a copy.
    coords = np.zeros((n, 2), dtype=np.float32, order="F")
    coords[:, :n_components] = pca.transform(scaled)
    explained = np.zeros(2)
    explained[:n_components] = pca.explained_variance_ratio_
    components = np.zeros((2, n_features))
    components[:n_components] = pca.components_
    return coords, explained, components


@dataclass(frozen=True)
class HistogramAxis:
    """The x axis of a distribution chart: bin edges in the feature's units, scale and asinh width.

    On an ``ASINH`` axis a value ``x`` is drawn at ``asinh(x / width)``: linear within about
    ``±width``, logarithmic beyond.
    """

    edges: np.ndarray
    scale: str = LINEAR
    width: float = 1.0


def histogram_axis(values: np.ndarray, *, share: bool, skewed: bool, n_bins: int = HIST_BINS) -> HistogramAxis:
    """Bin edges and scale of a feature's distribution chart.

    A ``share`` gets linear bins over [0, 1]. Any other feature is drawn between its 1st and 99th
    percentiles. Counts, durations and money have heavy tails (the model log-transforms them too):
    a ``skewed`` feature, or one whose percentiles show heavy tails (``HEAVY_TAIL_RATIO``), gets
    bins evenly spaced in log(x) when every value drawn is positive, else evenly spaced in
    asinh(x / width), with 0 as an edge so that no bar mixes refunds and purchases
    (:func:`asinh_width`). Otherwise every customer but the biggest would share the first bar.
    Other features get linear bins.

    Parameters
    ----------
    values : ndarray
        The feature's values (NaN ignored).
    share : bool
        The feature is a share in [0, 1].
    skewed : bool
        The feature is known to be heavy-tailed (``workflow.features.SKEWED_FEATURES``).
    n_bins : int
        Number of bars.
    """
    if share:
        return HistogramAxis(np.linspace(0.0, 1.0, n_bins + 1))
    q01, q25, q75, q99 = (float(v) for v in np.nanquantile(values, (HIST_QUANTILES[0], 0.25, 0.75, HIST_QUANTILES[1])))
    if not q99 > q01:
        return HistogramAxis(np.linspace(q01, q01 + 1.0, n_bins + 1))
    if skewed or q99 - q01 > HEAVY_TAIL_RATIO * (q75 - q25):
        if q01 > 0:
            return HistogramAxis(np.geomspace(q01, q99, n_bins + 1), LOG)
        width = asinh_width(values, q01, q99)
        return HistogramAxis(_asinh_edges(q01, q99, width, n_bins), ASINH, width)
    return HistogramAxis(np.linspace(q01, q99, n_bins + 1))


def histogram_edges(
    values: np.ndarray, *, share: bool, skewed: bool, n_bins: int = HIST_BINS
) -> tuple[np.ndarray, bool]:
    """Bin edges of a feature's distribution chart and whether they are logarithmic.

    The edges and scale of :func:`histogram_axis` (asinh edges come with ``False``).
    """
    axis = histogram_axis(values, share=share, skewed=skewed, n_bins=n_bins)
    return axis.edges, axis.scale == LOG


def asinh_width(values: np.ndarray, low: float, high: float) -> float:
    """The linear half-width ``w`` of an asinh axis over [low, high]: a power of ten.

    The power of ten at or below the 10th percentile of the non-zero ``|values|``: the bulk of the
    customers is then in the logarithmic part, and ticks at ±w, ±10w… are round. When the axis
    crosses zero, ``w`` shrinks (by tens) until the smaller side has ``ASINH_MIN_SIDE`` of the axis.
    """
    magnitudes = np.abs(np.asarray(values, dtype="float64"))
    magnitudes = magnitudes[np.isfinite(magnitudes) & (magnitudes > 0)]
    if not len(magnitudes):
        return 1.0
    width = 10.0 ** np.floor(np.log10(np.quantile(magnitudes, 0.1)))
    if low < 0 < high:
        for _ in range(6):
            u_low, u_high = np.arcsinh(low / width), np.arcsinh(high / width)
            if min(-u_low, u_high) >= ASINH_MIN_SIDE * (u_high - u_low):
                break
            width /= 10.0
    return float(width)


def _asinh_edges(low: float, high: float, width: float, n_bins: int) -> np.ndarray:
    u_low, u_high = np.arcsinh(low / width), np.arcsinh(high / width)
    if low < 0 < high:
        # Zero is an edge: each side gets bars in proportion to its length (at least one).
        n_low = int(np.clip(round(n_bins * -u_low / (u_high - u_low)), 1, n_bins - 1))
        u = np.concatenate([np.linspace(u_low, 0.0, n_low + 1)[:-1], np.linspace(0.0, u_high, n_bins - n_low + 1)])
    else:
        u = np.linspace(u_low, u_high, n_bins + 1)
    edges = width * np.sinh(u)
    edges[0], edges[-1] = low, high  # exactly the percentiles, whatever sinh(asinh(x)) rounds to
    return edges


def to_axis(values: np.ndarray | float, scale: str, width: float = 1.0) -> np.ndarray:
    """Positions of ``values`` on an axis of ``scale``: x, log10(x) or asinh(x / width)."""
    values = np.asarray(values, dtype="float64")
    if scale == LOG:
        return np.log10(values)
    if scale == ASINH:
        return np.arcsinh(values / width)
    return values


def from_axis(position: float, scale: str, width: float = 1.0) -> float:
    """The value at ``position`` on an axis of ``scale`` (inverse of :func:`to_axis`).

    Rounded to ``BRUSH_DIGITS`` significant digits: a brush's ends are pixels, and a round value
    brushed exactly (``from_axis(to_axis(3.0))``) must give 3.0, not 2.9999999999999996.
    """
    if scale == LOG:
        value = 10.0**position
    elif scale == ASINH:
        value = width * np.sinh(position)
    else:
        value = position
    return float(f"{float(value):.{BRUSH_DIGITS}g}")


def axis_ticks(
    low: float, high: float, scale: str, width: float = 1.0, *, max_ticks: int = 6, min_gap: float = 0.16
) -> list[float]:
    """Round tick values within [low, high] for an axis of ``scale``, in the feature's units.

    Linear: multiples of the smallest 1, 2, 2.5 or 5 × 10ⁿ step giving at most ``max_ticks``.
    Log and asinh: 0 (asinh), then ±10ⁿ (on asinh only from ±width: within, ticks would crowd
    against 0), then, while there are fewer than 4, the 2 and 5 × 10ⁿ or else the 3 × 10ⁿ, as a
    set; each tick at least ``min_gap`` of the axis length from the others, so that labels do not
    overlap on a 150-pixel chart (0.16: 24 pixels). An axis across 0 gets a tick on each side when one fits.
    """
    if not high > low:
        return [float(low)]
    if scale == LINEAR:
        return _linear_ticks(low, high, max_ticks)
    ladder = _TickLadder(low, high, scale, width, min_gap)
    chosen: list[float] = []
    for value in ([0.0] if scale == ASINH and low <= 0 <= high else []) + ladder.candidates((1.0,)):
        if len(chosen) < max_ticks and ladder.fits(value, chosen):
            chosen.append(value)
    for mantissas in ((2.0, 5.0), (3.0,)):
        grown = ladder.extended(chosen, mantissas)
        if len(chosen) < 4 and grown is not None and len(grown) <= max_ticks:
            chosen = grown
    if low < 0 < high:
        for side in (-1.0, 1.0):
            if not any(side * value > 0 for value in chosen):
                # Within ±width too: an axis from -70 to 1,500 (width 100) gets -50.
                extra = ladder.candidates((1.0, 5.0, 2.0, 3.0), inside=True)
                chosen += [v for v in extra if side * v > 0 and ladder.fits(v, chosen)][:1]
    return sorted(chosen)


class _TickLadder:
    """Round values of a log or asinh axis and the spacing rule of :func:`axis_ticks`."""

    def __init__(self, low: float, high: float, scale: str, width: float, min_gap: float) -> None:
        self.low, self.high, self.scale, self.width = low, high, scale, width
        u_low, u_high = (float(u) for u in to_axis(np.array([low, high]), scale, width))
        self.gap = min_gap * (u_high - u_low)
        smallest = width if scale == ASINH else low
        largest = max(abs(low), abs(high))
        self.exponents = range(int(np.floor(np.log10(smallest))), int(np.ceil(np.log10(largest))) + 1)

    def candidates(self, mantissas: tuple[float, ...], *, inside: bool = False) -> list[float]:
        """``±m × 10ⁿ`` within the axis, largest first (on asinh, none within ±width unless ``inside``)."""
        signs = (1.0, -1.0) if self.scale == ASINH else (1.0,)
        exponents = range(self.exponents.start - (1 if inside else 0), self.exponents.stop)
        found = [s * m * 10.0**e for e in reversed(exponents) for m in mantissas for s in signs]
        floor = self.width * (1 - 1e-9) if self.scale == ASINH and not inside else 0.0
        return [v for v in found if self.low <= v <= self.high and abs(v) >= floor]

    def fits(self, value: float, chosen: list[float]) -> bool:
        """Whether ``value`` is at least the gap away from every tick of ``chosen``."""
        if not chosen:
            return True
        positions = to_axis(np.array(chosen), self.scale, self.width)
        return bool(np.all(np.abs(positions - to_axis(value, self.scale, self.width)) >= self.gap))

    def extended(self, chosen: list[float], mantissas: tuple[float, ...]) -> list[float] | None:
        """``chosen`` and every candidate of ``mantissas``, or None if one of them does not fit."""
        grown = list(chosen)
        for value in self.candidates(mantissas):
            if not self.fits(value, grown):
                return None
            grown.append(value)
        return grown


def _linear_ticks(low: float, high: float, max_ticks: int) -> list[float]:
    magnitude = 10.0 ** np.floor(np.log10(high - low))
    for step in (m * magnitude for m in (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)):
        first, last = np.ceil(low / step - 1e-9), np.floor(high / step + 1e-9)
        if last - first + 1 <= max_ticks:
            # Rounded: 3 × 0.1 is 0.30000000000000004, whose label would be too long.
            return [round(float(k * step), 12) + 0.0 for k in np.arange(first, last + 1)]  # + 0.0: no -0.0
    return [float(low), float(high)]


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


# --- compare versions: equivalent segments ------------------------------------------------------------


#: Share of either segment's customers that two segments of one name must share to be paired first.
SAME_NAME_MIN_SHARE = 0.25


def match_segments(
    counts: np.ndarray,
    n_kmeans_a: int,
    n_kmeans_b: int,
    groups_a: Sequence[str] = (),
    groups_b: Sequence[str] = (),
    names_a: Sequence[str] | None = None,
    names_b: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Row and column orders of a migration matrix that put equivalent segments on its diagonal.

    Two versions number their segments independently: K-means labels are arbitrary. Each K-means
    segment of A is paired with the K-means segment of B it shares most customers with, by a
    maximum-weight one-to-one matching (the Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``):
    the pairing that keeps the most customers on the diagonal. A pair sharing no customer is no
    equivalent and stays unmatched. The set-aside groups (labels ``n_kmeans + i`` for ``groups[i]``)
    are equivalent by kind: A's net refunders are B's net refunders, whatever their counts.

    With the segments' names, two segments of one name that share at least ``SAME_NAME_MIN_SHARE``
    of either's customers are paired first (then the most customers): an analyst reads a segment
    by its name, and "41 % of Active customers go to Active customers, a segment without an
    equivalent" contradicts itself. (On the real retail log, v1's "Active frequent high-value
    customers" shares more customers with v2's "Repeat customers" (795) than with v2's segment of the
    same name (630 customers, all but 3 of that segment).)

    Parameters
    ----------
    counts : ndarray of shape (n_a, n_b)
        Customers in A's label i and B's label j (:func:`migration_matrix`), ``n_a = n_kmeans_a +
        len(groups_a)`` and ``n_b = n_kmeans_b + len(groups_b)``.
    n_kmeans_a, n_kmeans_b : int
        Number of K-means segments (k) of each version.
    groups_a, groups_b : sequence of str
        Each version's set-aside groups in label order (``SetAsideRule.groups``).
    names_a, names_b : sequence of str, optional
        Each version's segment names by label (one language for both).

    Returns
    -------
    rows, columns : ndarray of int
        A's labels in row order and B's labels in column order: first the matched pairs (K-means
        pairs in A's label order, then the set-aside pairs), then the unmatched labels in label order.
    n_matched : int
        Number of pairs: ``rows[i]`` and ``columns[i]`` are equivalent for ``i < n_matched``.
    """
    from scipy.optimize import linear_sum_assignment  # scipy comes with scikit-learn

    counts = np.asarray(counts)
    core = counts[:n_kmeans_a, :n_kmeans_b]
    weights = core.astype("float64")
    if names_a is not None and names_b is not None and core.size:
        same = np.equal.outer(
            np.asarray(names_a[:n_kmeans_a], dtype=object), np.asarray(names_b[:n_kmeans_b], dtype=object)
        )
        sizes_a, sizes_b = counts[:n_kmeans_a].sum(axis=1, keepdims=True), counts[:, :n_kmeans_b].sum(axis=0)
        shared = (core >= SAME_NAME_MIN_SHARE * sizes_a) | (core >= SAME_NAME_MIN_SHARE * sizes_b)
        # A weight above any count total: one more same-name pair outweighs any number of customers.
        weights = weights + (same & shared & (core > 0)) * (counts.sum() + 1.0)
    pairs: list[tuple[int, int]] = []
    if core.size:
        # Returned in increasing row order: the pairs follow A's labels.
        for row, column in zip(*linear_sum_assignment(weights, maximize=True), strict=True):
            if core[row, column] > 0:
                pairs.append((int(row), int(column)))
    groups_b = list(groups_b)
    for index, group in enumerate(groups_a):
        if group in groups_b:
            pairs.append((n_kmeans_a + index, n_kmeans_b + groups_b.index(group)))
    matched_rows = {row for row, _ in pairs}
    matched_columns = {column for _, column in pairs}
    rows = [row for row, _ in pairs] + [row for row in range(counts.shape[0]) if row not in matched_rows]
    columns = [column for _, column in pairs] + [
        column for column in range(counts.shape[1]) if column not in matched_columns
    ]
    return np.array(rows, dtype=int), np.array(columns, dtype=int), len(pairs)


def row_shares(counts: np.ndarray) -> np.ndarray:
    """Each cell as a share of its row (every non-empty row sums to 1; an empty row stays 0)."""
    counts = np.asarray(counts, dtype="float64")
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def kept_share(ordered: np.ndarray, n_matched: int) -> float:
    """Share of customers on the matched diagonal of an ordered migration matrix (NaN when empty)."""
    ordered = np.asarray(ordered)
    total = ordered.sum()
    if total == 0:
        return float("nan")
    return float(np.trace(ordered[:n_matched, :n_matched]) / total)


def largest_move(ordered: np.ndarray, n_matched: int) -> tuple[int, int] | None:
    """Position ``(row, column)`` of the largest flow off the matched diagonal; None when nobody moves.

    Customers counted, not row shares: 3 of 6 exceptional accounts are a larger share but a smaller
    move than 600 of 1,500 regular customers. Ties go to the first cell in row-major order.
    """
    off = np.array(ordered, dtype="int64")
    diagonal = np.arange(n_matched)
    off[diagonal, diagonal] = -1
    row, column = np.unravel_index(int(np.argmax(off)), off.shape) if off.size else (0, 0)
    if not off.size or off[row, column] <= 0:
        return None
    return int(row), int(column)


# --- drift: periods ------------------------------------------------------------------------------------


def activity_period(
    features: pd.DataFrame, as_of: str | pd.Timestamp | None
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last day the customers shipped, read off their features and their as-of date.

    ``tenure_days`` and ``recency_days`` count days back from ``as_of`` to each customer's first and last
    shipment (``workflow.features``), so the longest tenure gives the first day and the shortest recency
    the last. None without ``as_of``, without both features, or without customers.
    """
    if not as_of or features.empty or not {"tenure_days", "recency_days"} <= set(features.columns):
        return None
    anchor = pd.Timestamp(as_of)
    # Rounded to the second first: days are float, and a shipment at midnight must not slip to the day before.
    first = anchor - pd.to_timedelta(float(features["tenure_days"].max()), unit="D")
    last = anchor - pd.to_timedelta(float(features["recency_days"].min()), unit="D")
    return first.round("s").normalize(), last.round("s").normalize()


def period_days(period: tuple[pd.Timestamp, pd.Timestamp]) -> int:
    """Number of calendar days of a period, both ends included."""
    return (period[1] - period[0]).days + 1


def period_relation(
    reference: tuple[pd.Timestamp, pd.Timestamp], current: tuple[pd.Timestamp, pd.Timestamp]
) -> tuple[str, int]:
    """How the current period sits against the reference one, in whole days (both ends included).

    Returns ``(kind, days)``:

    * ``("same", length)``: the same first and last day;
    * ``("end_of", length)`` / ``("start_of", length)``: the current period is the reference one's
      last (first) ``length`` days;
    * ``("inside", overlap)``: the current period lies within the reference one, neither end shared;
    * ``("contains", extra)``: the current period holds the reference one and ``extra`` more days;
    * ``("overlap", overlap)``: they share ``overlap`` days, each has days of its own;
    * ``("after", days)`` / ``("before", days)``: no common day; the current period starts ``days``
      after the reference one ends (ends ``days`` before it starts): 1 when they are adjacent.
    """
    (a_start, a_end), (b_start, b_end) = reference, current
    if b_start > a_end:
        return "after", (b_start - a_end).days
    if b_end < a_start:
        return "before", (a_start - b_end).days
    overlap = (min(a_end, b_end) - max(a_start, b_start)).days + 1
    if b_start <= a_start and a_end <= b_end:  # the current period holds the whole reference one
        extra = period_days(current) - period_days(reference)
        return ("same", overlap) if extra == 0 else ("contains", extra)
    if a_start <= b_start and b_end <= a_end:  # the current period lies within the reference one
        kind = "end_of" if b_end == a_end else "start_of" if b_start == a_start else "inside"
        return kind, overlap
    return "overlap", overlap
