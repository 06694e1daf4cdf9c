"""The dashboard's DataStore: one ``param.Parameterized`` object owns the model, the customers,
their labels, the 2-D projection and the selection (DESIGN §6); the views only render it.

Heavy work is done once per process, not once per browser tab:

* the model load goes through ``load_model``, whose core ``_cached_model`` is ``@pn.cache``-d per
  (version, model name, tracking URI); aliases are resolved to a version number first so that a
  ``segments promote`` shows up on the next page load instead of being hidden by the cache;
* features are cached per (file, modification time, size, as-of, home country);
* labels, the scaled space and the PCA projection are cached per (model, features) pair.

Every failure a user can cause (no model, missing alias, unreachable store, missing or invalid data,
features that don't match) becomes a :class:`Problem` that the page shows with the command that fixes
it. Anything else is a bug and propagates.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from dashboard import analysis
from dashboard.i18n import LANGUAGES, t
from workflow.clustering import assign_segments, scaled_space
from workflow.data import read_shipments
from workflow.errors import DataError, ModelNotFoundError, SegmentsError, StoreUnavailableError
from workflow.features import build_features
from workflow.model import SegmentModel

#: matplotlib's tab10, the palette of the silhouette plots logged with each run (``workflow.plots``):
#: a segment has the same colour in MLflow and here. Ten hues that stay apart on white.
SEGMENT_COLOURS: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
#: Unselected customers fade to this light grey, lighter than tab10's grey so both stay apart.
UNSELECTED_COLOUR = "#d9d9d9"
#: Scored (model, features) pairs kept in memory; each holds the labels, scaled space and projection.
SCORED_CACHE_SIZE = 4


def segment_colour(segment: int) -> str:
    """Colour of a segment, the same in every view."""
    return SEGMENT_COLOURS[segment % len(SEGMENT_COLOURS)]


class VersionSummary(Protocol):
    """What the store needs from ``workflow.tracking.list_versions`` entries."""

    version: str
    aliases: list[str]
    k: int
    silhouette: float
    stability_ari: float
    created: pd.Timestamp
    data_digest: str


ModelLoader = Callable[[str, str], SegmentModel]
VersionLister = Callable[[str], Sequence[VersionSummary]]
FeatureLoader = Callable[[str, str | None, str], pd.DataFrame]


# --- default loaders: workflow.tracking and the data files, cached per process ------------------


@pn.cache
def _cached_model(ref: str, model_name: str, tracking_uri: str) -> SegmentModel:
    """Load a model version once per process (a cold load costs seconds, DESIGN §7)."""
    from workflow import tracking  # only tracking imports mlflow; its import costs seconds

    return tracking.load_segment_model(ref, model_name)


def load_model(ref: str, model_name: str) -> SegmentModel:
    """The default model loader: ``workflow.tracking.load_segment_model`` through ``pn.cache``.

    Raises ``ModelNotFoundError`` or ``StoreUnavailableError`` as ``load_segment_model`` does.
    """
    from workflow import tracking

    return _cached_model(ref, model_name, tracking.configure())


def list_versions(model_name: str) -> list[VersionSummary]:
    """The default version lister: ``workflow.tracking.list_versions`` (not cached: it is one quick
    query, and a version registered after the dashboard started must appear in the picker)."""
    from workflow import tracking

    tracking.configure()
    return tracking.list_versions(model_name)


def tracking_uri() -> str:
    """The tracking URI the default loaders use (shown in the store-unreachable message).

    Read without connecting: it is needed precisely when the store cannot be reached.
    """
    from workflow import tracking

    return tracking.tracking_uri()


@pn.cache(max_items=4)
def _cached_features(path: str, mtime_ns: int, size: int, as_of: str, home_country: str) -> pd.DataFrame:
    # mtime and size are in the key so that a rewritten file is read again.
    shipments, _report = read_shipments(path)
    return build_features(shipments, as_of=as_of or None, home_country=home_country)


def load_features(path: str, as_of: str | None, home_country: str) -> pd.DataFrame:
    """The default feature loader: read and validate a shipments file, build features (cached).

    Raises ``DataError`` when the file is missing, unreadable or invalid.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{path}: file not found")
    stat = file.stat()
    return _cached_features(str(file.resolve()), stat.st_mtime_ns, stat.st_size, as_of or "", home_country)


# --- scoring: labels, scaled space and projection, once per (model, features) ------------------


@dataclass
class Scored:
    """A model applied to customers: what every view needs, computed once."""

    labels: np.ndarray
    scaled: np.ndarray
    coords: np.ndarray
    explained: np.ndarray


_scored_cache: OrderedDict[tuple[int, int], tuple[Any, pd.DataFrame, Scored]] = OrderedDict()
_scored_lock = threading.Lock()


def score_customers(model: SegmentModel, features: pd.DataFrame) -> Scored:
    """Labels, scaled space (float32) and PCA projection of ``features`` under ``model``, cached.

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
        labels = assign_segments(model.pipeline, features)
        scaled = scaled_space(model.pipeline, features).astype(np.float32)
        coords, explained = analysis.pca_projection(scaled)
        scored = Scored(labels=labels, scaled=scaled, coords=coords, explained=explained)
        _scored_cache[key] = (model.pipeline, features, scored)
        while len(_scored_cache) > SCORED_CACHE_SIZE:
            _scored_cache.popitem(last=False)
        return scored


# --- problems a user will meet ------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A state the page explains instead of showing data: what is wrong and the command that fixes it.

    ``kind`` selects the strings ``err_<kind>`` and ``fix_<kind>`` of ``dashboard.i18n``; ``params``
    fill their placeholders, so the message follows the interface language.
    """

    kind: str
    params: dict[str, str] = field(default_factory=dict)

    def message(self, lang: str) -> str:
        """What went wrong, in ``lang``."""
        return t(f"err_{self.kind}", lang, **self.params)

    def fix(self, lang: str) -> str:
        """The command or step that fixes it, in ``lang``."""
        return t(f"fix_{self.kind}", lang, **self.params)


@dataclass
class Migration:
    """Customers of version A's segments (rows) moving to version B's segments (columns)."""

    version_a: str
    version_b: str
    counts: pd.DataFrame


@dataclass
class Drift:
    """New data against the model's training data: PSI per feature and segment share change."""

    psi: pd.DataFrame
    shares: pd.DataFrame
    segment_psi: float
    n_reference: int
    n_current: int


#: Longer error details are cut: the page shows the gist and the fix, the CLI shows the rest.
DETAIL_CHARS = 300


def _one_line(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


class DataStore(param.Parameterized):
    """Owns the model, the customers, their labels, the projection and the selection.

    Parameters
    ----------
    model_ref : str
        Alias, version number or ``models:/`` URI of the model to show.
    data_path : str, optional
        Shipments file whose customers to show; default the model's training data.
    loader, lister, features_loader : callable, optional
        Injection points for tests and benchmarks; default ``load_model``, ``list_versions`` and
        ``load_features`` (MLflow through ``workflow.tracking``, files through ``workflow.data``).
    """

    model_name = param.String(default="customer-segments", doc="Registered model name.")
    model_ref = param.String(default="production", doc="Alias, version or models:/ URI shown.")
    data_path = param.String(default=None, allow_None=True, doc="--data, or None for the training data.")
    lang = param.Selector(default="en", objects=list(LANGUAGES), doc="Interface language.")
    ui_address = param.String(default=None, allow_None=True, doc="MLflow UI address, for run links.")
    compare_ref = param.String(default="", doc="Second version for the migration matrix ('' = none).")
    segment_filter = param.List(default=[], item_type=int, doc="Segments the table keeps ([] = all).")
    search = param.String(default="", doc="Substring of customer ids the table keeps.")

    # Outputs: set by the store only; the views depend on them.
    model = param.ClassSelector(class_=SegmentModel, default=None, allow_None=True)
    problem = param.ClassSelector(class_=Problem, default=None, allow_None=True)
    versions = param.List(default=[])
    customers = param.DataFrame(default=None, allow_None=True, doc="One row per customer, for the views.")
    links = param.ClassSelector(class_=hv.link_selections, default=None, allow_None=True)
    selection_expr = param.Parameter(default=None, doc="The linked views' selection (hv.dim expression).")
    selected = param.Array(default=None, allow_None=True, doc="Boolean mask of the brushed customers.")
    rows = param.DataFrame(default=None, allow_None=True, doc="The table's customers.")
    revision = param.Integer(default=0, doc="Bumped when the model or the customers change.")

    def __init__(
        self,
        *,
        loader: ModelLoader | None = None,
        lister: VersionLister | None = None,
        features_loader: FeatureLoader | None = None,
        uri: Callable[[], str] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self._loader = loader or load_model
        self._lister = lister or list_versions
        self._features_loader = features_loader or load_features
        self._uri = uri or tracking_uri
        self._scored: Scored | None = None
        self._features: pd.DataFrame | None = None
        self._dataset: hv.Dataset | None = None
        self._drift: Drift | Problem | None = None
        self._migrations: dict[str, Migration | Problem] = {}
        self.reload()

    # --- loading ---------------------------------------------------------------------------------

    @param.depends("model_ref", "data_path", "model_name", watch=True)
    def reload(self) -> None:
        """Load the model and the customers; on a user-fixable failure set ``problem`` instead."""
        problem = None
        model = scored = features = None
        versions: list[VersionSummary] = []
        try:
            versions = list(self._lister(self.model_name))
            model = self._loader(_resolve(self.model_ref, versions), self.model_name)
            features = self._load_customers(model)
            scored = score_customers(model, features)
        except ModelNotFoundError as error:
            problem = self._model_problem(error, versions)
        except StoreUnavailableError as error:
            problem = Problem("store", {"detail": _one_line(error), "uri": self._safe_uri()})
        except _FeaturesMismatchError as mismatch:
            problem = mismatch.problem
        except DataError as error:
            problem = self._data_problem(model, error)
        self._features, self._scored = features, scored
        self._drift, self._migrations = None, {}
        with param.parameterized.batch_call_watchers(self):
            self.versions = versions
            self.problem = problem
            self.model = model if problem is None else None
            self._build_customers()
            self.revision += 1

    def _load_customers(self, model: SegmentModel) -> pd.DataFrame:
        path = self.data_path or model.data_path
        as_of = None if self.data_path else (model.as_of or None)
        try:
            features = self._features_loader(path, as_of, model.home_country)
        except DataError as error:
            kind = "data" if self.data_path else "training_data_missing"
            raise _DataProblemError(Problem(kind, {"path": str(path), "detail": _one_line(error)})) from error
        missing = [name for name in model.features if name not in features.columns]
        if missing:
            values = {"version": str(model.version), "missing": ", ".join(missing), "path": str(path)}
            raise _FeaturesMismatchError(Problem("features", values))
        return features

    def _model_problem(self, error: ModelNotFoundError, versions: list[VersionSummary]) -> Problem:
        known = [str(summary.version) for summary in versions]
        values = {"name": self.model_name, "ref": self.model_ref, "detail": _one_line(error)}
        if not known:
            return Problem("no_model", values)
        values["versions"] = ", ".join(known)
        values["latest"] = max(known, key=lambda v: (len(v), v))
        if self.model_ref.isdigit():
            return Problem("version_missing", values)
        return Problem("alias_missing", values)

    def _data_problem(self, model: SegmentModel | None, error: DataError) -> Problem:
        if isinstance(error, _DataProblemError):
            return error.problem
        path = self.data_path or (model.data_path if model else "")
        return Problem("data", {"path": str(path), "detail": _one_line(error)})

    def _safe_uri(self) -> str:
        try:
            return self._uri()
        except SegmentsError as error:  # the URI itself may be what is broken
            return f"({_one_line(error)})"

    def _build_customers(self) -> None:
        """The frame every view draws from, in the current language; a fresh selection."""
        if self.problem is not None or self._scored is None or self._features is None:
            self.customers, self._dataset, self.links = None, None, None
            self.selected, self.rows = None, None
            return
        model, scored, features = self.model, self._scored, self._features
        names = model.names(self.lang)
        frame = pd.DataFrame(
            {
                "customer_id": features.index.array,
                "segment": scored.labels,
                "segment_name": pd.Categorical.from_codes(
                    scored.labels, categories=[names.get(s, str(s)) for s in range(model.k)]
                ),
                "pc1": scored.coords[:, 0],
                "pc2": scored.coords[:, 1],
            }
        )
        for name in model.features:
            frame[name] = features[name].to_numpy()
        self.customers = frame
        # The plots' dataset leaves out the customer ids: every selection layer copies the selected
        # rows, and 1M Python strings are the slowest column to copy by far.
        self._dataset = hv.Dataset(frame.drop(columns=["customer_id"]))
        # A new link_selections per model: the old one holds the old plots (and through them the old
        # frame) in its stream registry; reusing it would keep every version ever shown in memory.
        # No region overlays (the brushed box, the histograms' spans): they double the glyphs each
        # selection redraws, and the highlighted customers already show what is selected.
        links = hv.link_selections.instance(
            unselected_color=UNSELECTED_COLOUR,
            unselected_alpha=0.35,
            cross_filter_mode="intersect",
            show_regions=False,
        )
        links.param.watch(self._on_links_selection, "selection_expr")
        self.links = links
        self.selection_expr = None
        self.segment_filter = []
        self.selected = None
        self._update_rows()

    @param.depends("lang", watch=True)
    def _relabel(self) -> None:
        with param.parameterized.batch_call_watchers(self):
            self._build_customers()
            self.revision += 1

    # --- selection and table -----------------------------------------------------------------------

    @property
    def dataset(self) -> hv.Dataset | None:
        """The customers as one ``hv.Dataset``: every linked view must be built from it."""
        return self._dataset

    @property
    def scored(self) -> Scored | None:
        """Labels, scaled space and projection of the current customers."""
        return self._scored

    def _on_links_selection(self, event: param.parameterized.Event) -> None:
        self.selection_expr = event.new

    @param.depends("selection_expr", watch=True)
    def _apply_selection(self) -> None:
        expr = self.selection_expr
        if expr is None or self._dataset is None:
            self.selected = None
        else:
            self.selected = np.asarray(expr.apply(self._dataset, expanded=True, flat=True), dtype=bool)

    def clear_selection(self) -> None:
        """Forget the brushed selection (the segment filter and the search stay)."""
        if self.links is not None:
            self.links.selection_expr = None
        self.selection_expr = None

    def select(self, expr: hv.dim | None) -> None:
        """Select customers with an ``hv.dim`` expression, as a brush would (used by tests and taps)."""
        if self.links is not None:
            self.links.selection_expr = expr
        self.selection_expr = expr

    def row_mask(self) -> np.ndarray | None:
        """Customers the table shows: brushed ∩ segment filter ∩ id search (None without customers)."""
        frame = self.customers
        if frame is None:
            return None
        mask = np.ones(len(frame), dtype=bool) if self.selected is None else self.selected.copy()
        if self.segment_filter:
            mask &= np.isin(frame["segment"].to_numpy(), self.segment_filter)
        text = self.search.strip()
        if text:
            mask &= frame["customer_id"].str.contains(text, case=False, regex=False).to_numpy(dtype=bool)
        return mask

    @param.depends("selected", "segment_filter", "search", watch=True)
    def _update_rows(self) -> None:
        mask = self.row_mask()
        if mask is None:
            self.rows = None
            return
        rows = self.customers.loc[mask, self.table_columns()]
        self.rows = rows.reset_index(drop=True)

    def table_columns(self) -> list[str]:
        """Columns of the table and of the CSV exports: id, segment, name, the model's features."""
        return ["customer_id", "segment", "segment_name", *(self.model.features if self.model else [])]

    def n_selected(self) -> int:
        """Number of brushed customers (all customers when nothing is brushed)."""
        if self.customers is None:
            return 0
        return len(self.customers) if self.selected is None else int(self.selected.sum())

    def export_rows(self) -> io.StringIO:
        """CSV of exactly the customers the table shows (selection, segment filter and search)."""
        return _csv(self.rows if self.rows is not None else pd.DataFrame(columns=self.table_columns()))

    def export_segment(self, segment: int) -> io.StringIO:
        """CSV of every customer of one segment, whatever the selection."""
        frame = self.customers
        if frame is None:
            return _csv(pd.DataFrame(columns=self.table_columns()))
        rows = frame.loc[frame["segment"].to_numpy() == segment, self.table_columns()]
        return _csv(rows)

    def segment_stats(self) -> pd.DataFrame:
        """Per segment: name, customers, share, revenue, revenue share, shipments, selected customers."""
        model, frame = self.model, self.customers
        if model is None or frame is None:
            return pd.DataFrame()
        labels = frame["segment"].to_numpy()
        k = model.k
        size = np.bincount(labels, minlength=k)
        stats = pd.DataFrame(index=pd.RangeIndex(k, name="segment"))
        stats["name"] = [model.names(self.lang).get(s, str(s)) for s in range(k)]
        stats["customers"] = size
        stats["share"] = size / max(len(labels), 1)
        if "monetary" in frame:
            revenue = np.bincount(labels, weights=frame["monetary"].to_numpy(), minlength=k)
            stats["revenue"] = revenue
            stats["revenue_share"] = revenue / revenue.sum() if revenue.sum() else np.nan
        if "frequency" in frame:
            stats["shipments"] = np.bincount(labels, weights=frame["frequency"].to_numpy(), minlength=k)
        selected = labels if self.selected is None else labels[self.selected]
        stats["selected"] = np.bincount(selected, minlength=k)
        return stats

    def z_scores(self) -> pd.DataFrame:
        """Segment × feature z-scores of the brushed customers (of all customers without a brush).

        The z-scores are means in the model's scaled space, the same yardstick as the profile.
        """
        model, scored = self.model, self._scored
        if model is None or scored is None:
            return pd.DataFrame()
        means = analysis.segment_means(scored.scaled, scored.labels, model.k, self.selected)
        order = _scaled_order(model)
        table = pd.DataFrame(means, columns=order)[model.features]
        table.index = pd.RangeIndex(model.k, name="segment")
        return table

    # --- compare versions ------------------------------------------------------------------------

    def migration(self, ref: str) -> Migration | Problem:
        """Migration matrix from the shown version to ``ref``, on the same customers (cached)."""
        if ref in self._migrations:
            return self._migrations[ref]
        result = self._compute_migration(ref)
        self._migrations[ref] = result
        return result

    def _compute_migration(self, ref: str) -> Migration | Problem:
        model, scored, features = self.model, self._scored, self._features
        if model is None or scored is None or features is None:
            return Problem("compare", {"ref": ref, "detail": "no model shown"})
        try:
            other = self._loader(_resolve(ref, self.versions), self.model_name)
            labels_b = assign_segments(other.pipeline, features)
        except SegmentsError as error:
            return Problem("compare", {"ref": ref, "detail": _one_line(error)})
        matrix = analysis.migration_matrix(scored.labels, labels_b, model.k, other.k)
        names_a, names_b = model.names(self.lang), other.names(self.lang)
        counts = pd.DataFrame(
            matrix,
            index=pd.Index([names_a.get(s, str(s)) for s in range(model.k)], name=f"v{model.version}"),
            columns=pd.Index([names_b.get(s, str(s)) for s in range(other.k)], name=f"v{other.version}"),
        )
        return Migration(version_a=str(model.version), version_b=str(other.version), counts=counts)

    # --- drift -------------------------------------------------------------------------------------

    def drift(self) -> Drift | Problem | None:
        """PSI per feature and segment share change of ``--data`` against the training data.

        None when no ``--data`` was given (the customers are the training data); a ``Problem`` when
        the training data cannot be read. Computed on first use, then kept for this model.
        """
        if not self.data_path or self.model is None or self._scored is None:
            return None
        if self._drift is None:
            self._drift = self._compute_drift()
        return self._drift

    def _compute_drift(self) -> Drift | Problem:
        model, scored, current = self.model, self._scored, self._features
        try:
            reference = self._features_loader(model.data_path, model.as_of or None, model.home_country)
            reference_scored = score_customers(model, reference)
        except DataError as error:
            return Problem("drift", {"path": str(model.data_path), "reason": _one_line(error)})
        table = analysis.psi_table(reference, current, model.features)
        shares = analysis.share_change(reference_scored.labels, scored.labels, model.k)
        segment_psi = analysis.categorical_psi(shares["reference"], shares["current"])
        return Drift(
            psi=table,
            shares=shares,
            segment_psi=segment_psi,
            n_reference=len(reference),
            n_current=len(current),
        )


class _DataProblemError(DataError):
    """A data failure already turned into the problem to show."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.kind)
        self.problem = problem


class _FeaturesMismatchError(SegmentsError):
    """The model needs features the data cannot provide."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.kind)
        self.problem = problem


def _resolve(ref: str, versions: Sequence[VersionSummary]) -> str:
    """The version number of an alias, else ``ref`` unchanged.

    An alias is loaded by its version number: the model cache is then keyed by version, and a
    promotion made while the dashboard runs is picked up by the next page load.
    """
    for summary in versions:
        if ref in summary.aliases:
            return str(summary.version)
    return ref


def _scaled_order(model: SegmentModel) -> list[str]:
    # The ColumnTransformer puts transformed columns first: the scaled space's column order.
    return list(model.pipeline.named_steps["transform"].get_feature_names_out())


def _csv(frame: pd.DataFrame) -> io.StringIO:
    buffer = io.StringIO()
    # Six decimals: enough for shares and cents, without float noise (167.14999999999998).
    frame.round(6).to_csv(buffer, index=False)
    buffer.seek(0)
    return buffer
