"""A model applied to customers, once per (model, features) and shared by every browser tab.

Labels, the scaled space, the PCA projection, the customers frame the views draw from and the
distribution charts' bins are cached per (model, features) pair (:class:`Scored`). Every browser tab
on the same model shares these arrays; a session holds only its selection mask and the selected rows
(at 5M customers the shared arrays are about 1 GB, a session's own a few MB).

A selection is an ``hv.dim`` expression (what HoloViews' ``link_selections`` would build from the
same brush), evaluated on the shared arrays: a box on the projection is four vectorised comparisons.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd

from dashboard import analysis
from workflow.clustering import assign_segments, scaled_space
from workflow.features import SHARE_FEATURES, SKEWED_FEATURES
from workflow.model import SegmentModel

#: Scored (model, features) pairs kept in memory; each holds the labels, scaled space and projection.
SCORED_CACHE_SIZE = 4


#: Brush sources: the projection; a distribution chart is named by its feature.
PROJECTION = "projection"


#: The projection opens on these quantiles of each axis: a few extreme accounts would otherwise
#: squeeze everyone else into a corner. They stay reachable by zooming out.
PROJECTION_QUANTILES = (0.001, 0.999)


@dataclass(frozen=True)
class HistogramBins:
    """A feature's distribution chart, shared by every session: edges, scale and per-customer codes.

    ``scale`` is one of ``analysis.LINEAR``, ``LOG`` and ``ASINH``; ``width`` is the linear half-width
    of an asinh axis (``analysis.histogram_axis``).
    """

    feature: str
    edges: np.ndarray
    scale: str
    codes: np.ndarray
    n_clusters: int
    width: float = 1.0

    @property
    def n_bins(self) -> int:
        """Number of bars."""
        return len(self.edges) - 1

    @property
    def log(self) -> bool:
        """Whether the bins are evenly spaced in log(x)."""
        return self.scale == analysis.LOG

    def counts(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Customers per bin and segment, shape (n_bins, n_clusters), over ``mask`` (all when None)."""
        return analysis.histogram_counts(self.codes, self.n_bins, self.n_clusters, mask)


@dataclass
class Scored:
    """A model applied to customers: what every view needs, computed once and shared by all sessions.

    ``frame`` holds ``customer_id``, ``segment``, ``pc1``, ``pc2`` and the model's features as views
    of the arrays here and of the features frame (no copy); ``dataset`` is the same without the ids,
    on which selection expressions are evaluated. ``components`` are the projection's axes in the
    scaled features (``analysis.pca_axes``). Nothing may modify them in place.
    """

    labels: np.ndarray
    scaled: np.ndarray
    coords: np.ndarray
    explained: np.ndarray
    frame: pd.DataFrame
    dataset: hv.Dataset
    n_clusters: int
    components: np.ndarray | None = None
    #: Labels below this are K-means segments, the others set-aside groups (None: all segments).
    k: int | None = None
    _histograms: dict[str, HistogramBins] = field(default_factory=dict, repr=False)
    _ranges: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def projection_ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The projection's opening view: the 0.1–99.9th percentile of each axis over the segments'
        customers (the set-aside groups may lie beyond), padded by 5 %."""
        with self._lock:
            if "projection" not in self._ranges:
                shown = self.coords if self.k is None else self.coords[self.labels < self.k]
                if len(shown) == 0:
                    shown = self.coords
                self._ranges["projection"] = tuple(
                    _padded(np.quantile(shown[:, axis], PROJECTION_QUANTILES)) for axis in (0, 1)
                )
            return self._ranges["projection"]

    def segment_means(self) -> np.ndarray:
        """Each label's mean in the scaled space over every customer (labels × features, transformed order).

        One pass over the customers (~0.1 s at 1M), made once and shared by every session: the
        profiles, the heatmap without a brush and the table's column order all start from it.
        """
        with self._lock:
            if "means" not in self._ranges:
                self._ranges["means"] = analysis.segment_means(self.scaled, self.labels, self.n_clusters)
            return self._ranges["means"]

    def outside_opening_view(self) -> tuple[int, int]:
        """How many customers the opening view leaves out, and how many of them are set aside.

        Counted once per opening view (a pass over every customer, ~10 ms at 1M), for every session.
        """
        ranges = self.projection_ranges()
        with self._lock:
            cached = self._ranges.get("outside")
            if cached is None or cached[0] is not ranges:
                (x0, x1), (y0, y1) = ranges
                x, y = self.coords[:, 0], self.coords[:, 1]
                outside = (x < x0) | (x > x1) | (y < y0) | (y > y1)
                aside = 0 if self.k is None else int(np.count_nonzero(outside & (self.labels >= self.k)))
                cached = self._ranges["outside"] = (ranges, (int(np.count_nonzero(outside)), aside))
            return cached[1]

    def near(self, x: float, y: float, dx: float, dy: float) -> np.ndarray:
        """Rows of the customers within ``dx`` of ``x`` and ``dy`` of ``y`` on the map, in row order.

        The map's hover asks at each pixel the mouse crosses: a mask over every customer would cost
        ~5 ms per pixel at 1M customers. The customers sorted along the first axis (sorted on the
        first call, by ``warm_up`` in a server, ~0.2 s at 1M; 8 bytes per customer, shared by the
        sessions) narrow the search to a strip: ~2 ms per pixel in the densest part of the map at 1M.
        """
        with self._lock:
            if "by_x" not in self._ranges:
                order = np.argsort(self.coords[:, 0]).astype(np.min_scalar_type(len(self.coords)))
                self._ranges["by_x"] = (order, self.coords[order, 0])
            order, xs = self._ranges["by_x"]
        start, stop = np.searchsorted(xs, x - dx, side="left"), np.searchsorted(xs, x + dx, side="right")
        strip = order[start:stop]
        return np.sort(strip[np.abs(self.coords[strip, 1] - y) <= dy]).astype(np.int64)

    def histogram(self, feature: str) -> HistogramBins:
        """Bins of ``feature``'s distribution chart, computed on first use (one pass over the customers)."""
        with self._lock:
            if feature not in self._histograms:
                values = self.frame[feature].to_numpy()
                axis = analysis.histogram_axis(
                    values, share=feature in SHARE_FEATURES, skewed=feature in SKEWED_FEATURES
                )
                codes = analysis.histogram_codes(values, axis.edges, self.labels, self.n_clusters)
                self._histograms[feature] = HistogramBins(
                    feature, axis.edges, axis.scale, codes, self.n_clusters, axis.width
                )
            return self._histograms[feature]


_scored_cache: OrderedDict[tuple[int, int], tuple[Any, pd.DataFrame, Scored]] = OrderedDict()
_scored_lock = threading.Lock()


def score_customers(model: SegmentModel, features: pd.DataFrame) -> Scored:
    """Labels, scaled space (float32), PCA projection and customers frame of ``features``, cached.

    The cache key is the identity of the fitted pipeline and of the features frame; the entry holds
    both, so an id cannot be reused by another object while its entry lives. Models and features
    come from process-wide caches, so every browser tab on the same model hits the same entry.
    Raises ``DataError`` when the features lack a column the model needs.
    """
    key = (id(model.pipeline), id(features))
    with _scored_lock:
        if key in _scored_cache:
            _scored_cache.move_to_end(key)
            return _scored_cache[key][2]
        labels = assign_segments(model.pipeline, features, model.set_aside)
        scaled = scaled_space(model.pipeline, features).astype(np.float32)
        in_segments = labels < model.k
        # Axes of the segments' customers (the set-aside groups are projected, not fitted on).
        fit_rows = in_segments if in_segments.sum() >= 2 else None
        coords, explained, components = analysis.pca_axes(scaled, fit_rows=fit_rows)
        frame = customers_frame(features, labels, coords, model.features)
        # The ids stay out of the dataset: expressions never use them, and HoloViews copies what
        # it holds when it selects.
        dataset = hv.Dataset(frame.drop(columns=["customer_id"]))
        scored = Scored(labels, scaled, coords, explained, frame, dataset, model.n_labels, components, model.k)
        _scored_cache[key] = (model.pipeline, features, scored)
        while len(_scored_cache) > SCORED_CACHE_SIZE:
            _scored_cache.popitem(last=False)
        return scored


def _padded(span: np.ndarray, pad: float = 0.05) -> tuple[float, float]:
    low, high = float(span[0]), float(span[1])
    return low - pad * (high - low), high + pad * (high - low)


def customers_frame(
    features: pd.DataFrame, labels: np.ndarray, coords: np.ndarray, names: Sequence[str]
) -> pd.DataFrame:
    """One row per customer: id, segment, the two projection axes, then the features ``names``.

    Built from views of the inputs (``copy=False`` keeps one block per column instead of
    consolidating them into a new 2-D array): at 5M customers a copy would cost 0.5 GB.
    """
    columns: dict[str, Any] = {
        "customer_id": features.index.array,
        "segment": labels,
        "pc1": coords[:, 0],
        "pc2": coords[:, 1],
    }
    for name in names:
        columns[name] = features[name].to_numpy()
    return pd.DataFrame(columns, copy=False)


def box_selection(bounds: tuple[float, float, float, float], x: str = "pc1", y: str = "pc2") -> hv.dim:
    """The expression of a box brush ``(x0, y0, x1, y1)``, as ``hv.link_selections`` builds it.

    Inclusive on every side; a box drawn right to left or bottom to top is normalised first.
    """
    x0, y0, x1, y1 = bounds
    x0, x1 = min(x0, x1), max(x0, x1)
    y0, y1 = min(y0, y1), max(y0, y1)
    return ((hv.dim(x) >= x0) & (hv.dim(x) <= x1)) & ((hv.dim(y) >= y0) & (hv.dim(y) <= y1))


def lasso_selection(geometry: np.ndarray, x: str = "pc1", y: str = "pc2") -> hv.dim:
    """The expression of a lasso brush (polygon vertices, shape (n, 2)): customers inside the polygon.

    ``hv.link_selections`` builds ``dim.pipe(spatial_select, …)``, which needs spatialpandas or
    shapely; :func:`analysis.inside_polygon` does the same test with matplotlib.
    """
    return hv.dim.pipe(analysis.inside_polygon, hv.dim(x), hv.dim(y), polygon=np.asarray(geometry, dtype=float))


def range_selection(feature: str, low: float, high: float) -> hv.dim:
    """The expression of a range brush on a distribution chart (inclusive), as ``hv.link_selections`` builds it."""
    low, high = min(low, high), max(low, high)
    return (hv.dim(feature) >= low) & (hv.dim(feature) <= high)


def combine(regions: dict[str, hv.dim]) -> hv.dim | None:
    """The intersection of the brushes of each source (``link_selections``' ``cross_filter_mode="intersect"``)."""
    expr = None
    for region in regions.values():
        expr = region if expr is None else expr & region
    return expr
