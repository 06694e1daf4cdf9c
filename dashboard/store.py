"""The dashboard's DataStore: one ``param.Parameterized`` object owns the model, the customers,
their labels and the filter (docs/architecture.md, "The dashboard"); the views only render it.

Heavy work is done once per process, not once per browser tab:

* the model load goes through ``load_model``, whose core ``_cached_model`` is ``@pn.cache``-d per
  (version, model name, tracking URI); aliases are resolved to a version number first so that a
  ``segments promote`` shows up on the next page load instead of being hidden by the cache;
* features are cached per (file, modification time, size, as-of, home country, read options);
* labels, scaled space, projection and bins come from ``dashboard.scoring``, shared by every tab.

Every failure a user can cause (no model, missing alias, unreachable store, missing or invalid data,
features that don't match) becomes a :class:`Problem` that the page shows with the command that fixes
it. Anything else is a bug and propagates.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from dashboard import analysis
from dashboard.export import to_csv
from dashboard.i18n import LANGUAGES, t
from dashboard.scoring import HistogramBins, Scored, combine, score_customers
from workflow.clustering import assign_segments, transformed_feature_order
from workflow.data import ReadOptions, read_shipments
from workflow.errors import DataError, ModelNotFoundError, SegmentsError, StoreUnavailableError, first_line
from workflow.features import build_features
from workflow.model import SegmentModel, VersionSummary
from workflow.profiles import segment_totals
from workflow.tracking.names import MODEL_NAME

ModelLoader = Callable[[str, str], SegmentModel]
VersionLister = Callable[[str], Sequence[VersionSummary]]
#: ``(path, as_of, home_country, options, recorded)``: the last two are ``ReadOptions`` as JSON text.
FeatureLoader = Callable[[str, str | None, str, str, str], pd.DataFrame]


# --- default loaders: workflow.tracking and the data files, cached per process ------------------


@pn.cache
def _cached_model(ref: str, model_name: str, tracking_uri: str) -> SegmentModel:
    """Load a model version once per process (a cold load costs seconds)."""
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
def _cached_features(
    path: str, mtime_ns: int, size: int, as_of: str, home_country: str, options: str, recorded: str
) -> pd.DataFrame:
    # mtime and size are in the key so that a rewritten file is read again; the options as JSON text
    # so that the key hashes the same for equal options.
    shipments, _report = read_shipments(
        path, options=ReadOptions.from_json(options), recorded=ReadOptions.from_json(recorded)
    )
    return build_features(shipments, as_of=as_of or None, home_country=home_country)


def load_training_customers(model: SegmentModel) -> pd.DataFrame | None:
    """The model's training customers as logged with its sweep (``workflow.tracking.load_customers``).

    None for a version registered before the customers were logged: its customers come from its
    ``data_path`` as before. Cached per run by ``tracking``. Raises ``DataError`` when the artifact
    is unreadable.
    """
    if not model.customers_run_id:
        return None
    from workflow import tracking

    return tracking.load_customers(model.customers_run_id)


def load_features(
    path: str, as_of: str | None, home_country: str, options: str = "", recorded: str = ""
) -> pd.DataFrame:
    """The default feature loader: read and validate a shipments file, build features (cached).

    ``options`` (given for ``--data``) and ``recorded`` (the model's: what its training file needed)
    are ``workflow.data.ReadOptions`` as JSON text; see ``read_shipments`` for how each applies.
    Raises ``DataError`` when the file is missing, unreadable or invalid.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{path}: file not found")
    stat = file.stat()
    return _cached_features(
        str(file.resolve()), stat.st_mtime_ns, stat.st_size, as_of or "", home_country, options, recorded
    )


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
    """Customers of version A's segments (rows) moving to version B's segments (columns).

    ``counts`` is in label order (row i = A's label i, named). ``rows`` and ``columns`` order the
    labels so that equivalent segments face each other (``analysis.match_segments``): for
    ``i < n_matched``, A's ``rows[i]`` is equivalent to B's ``columns[i]``; unmatched labels follow.
    ``kmeans_a`` and ``kmeans_b`` are the versions' k: labels from k on are set-aside groups.
    """

    version_a: str
    version_b: str
    counts: pd.DataFrame
    rows: list[int] = field(default_factory=list)
    columns: list[int] = field(default_factory=list)
    n_matched: int = 0
    kmeans_a: int = 0
    kmeans_b: int = 0

    @property
    def ordered(self) -> pd.DataFrame:
        """``counts`` with rows and columns in matched order (equivalent segments on the diagonal)."""
        return self.counts.iloc[self.rows, self.columns]

    @property
    def kept_share(self) -> float:
        """Share of customers that keep an equivalent segment (on the matched diagonal)."""
        return analysis.kept_share(self.ordered.to_numpy(), self.n_matched)


@dataclass
class Drift:
    """New data against the model's training data: PSI per feature and segment share change."""

    psi: pd.DataFrame
    shares: pd.DataFrame
    segment_psi: float
    n_reference: int
    n_current: int
    #: First and last day of the training customers' shipments and of the current file's; None when
    #: not known (a version without an as-of date, features without recency and tenure, an unreadable file).
    reference_period: tuple[pd.Timestamp, pd.Timestamp] | None = None
    current_period: tuple[pd.Timestamp, pd.Timestamp] | None = None
    #: Customers in both data sets (same ``customer_id``).
    n_common: int = 0


#: Longer error details are cut: the page shows the gist and the fix, the CLI shows the rest.
DETAIL_CHARS = 300


def _recorded(model: SegmentModel) -> str:
    """The model's recorded reading options as JSON text (what its training file needed)."""
    return ReadOptions.from_dict(model.read_options).to_json()


def _detail(error: Exception) -> str:
    return first_line(error, DETAIL_CHARS)


class DataStore(param.Parameterized):
    """Owns the model, the customers, their labels, the projection and the selection.

    Parameters
    ----------
    model_ref : str
        Alias, version number or ``models:/`` URI of the model to show.
    data_path : str, optional
        Shipments file whose customers to show; default the model's training data.
    data_options : str, optional
        Reading options given for ``data_path`` (``workflow.data.ReadOptions`` as JSON); files are
        otherwise read with the options recorded with the model.
    loader, lister, features_loader : callable, optional
        Injection points for tests and benchmarks; default ``load_model``, ``list_versions`` and
        ``load_features`` (MLflow through ``workflow.tracking``, files through ``workflow.data``).
    """

    model_name = param.String(default=MODEL_NAME, doc="Registered model name.")
    model_ref = param.String(default="production", doc="Alias, version or models:/ URI shown.")
    data_path = param.String(default=None, allow_None=True, doc="--data, or None for the training data.")
    data_options = param.String(default="", doc="Reading options given for --data (ReadOptions as JSON).")
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
    selection_expr = param.Parameter(default=None, doc="The brushed selection (hv.dim expression).")
    selected = param.Array(
        default=None, allow_None=True, doc="Boolean mask of the filtered customers (brushes ∩ segments ∩ search)."
    )
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
        # The brushes in force, per source (the projection, a feature's chart): a new brush on a
        # source replaces that source's, and the selection is their intersection.
        self._regions: dict[str, hv.dim] = {}
        self._region_labels: dict[str, str] = {}
        self._base_stats: pd.DataFrame | None = None  # the selection-free part of segment_stats
        self._drift: Drift | Problem | None = None
        # Per compared version: its model and the migration counts (names are added per language).
        self._migrations: dict[str, tuple[SegmentModel, np.ndarray] | Problem] = {}
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
            model = self._loader(resolve_ref(self.model_ref, versions), self.model_name)
            features = self._load_customers(model)
            scored = score_customers(model, features)
        except ModelNotFoundError as error:
            problem = self._model_problem(error, versions)
        except StoreUnavailableError as error:
            problem = Problem("store", {"detail": _detail(error), "uri": self._safe_uri()})
        except _FeaturesMismatchError as mismatch:
            problem = mismatch.problem
        except DataError as error:
            problem = self._data_problem(model, error)
        self._features, self._scored = features, scored
        self._drift, self._migrations = None, {}
        # Every view follows in one document update: the browser never shows the model card or the
        # KPI cards of one version beside the plots of another.
        with hold_page(), param.parameterized.batch_call_watchers(self):
            self.versions = versions
            self.problem = problem
            self.model = model if problem is None else None
            # In the same batch as the model: a comparison of the new version with itself must
            # never be drawn, not even for the time between two watchers.
            self.compare_ref = self._valid_compare_ref()
            self._build_customers()
            self.revision += 1

    def _load_customers(self, model: SegmentModel) -> pd.DataFrame:
        path = self.data_path or model.data_path
        as_of = None if self.data_path else (model.as_of or None)
        options = self.data_options if self.data_path else ""
        try:
            features = None if self.data_path else load_training_customers(model)
            if features is None:
                features = self._features_loader(path, as_of, model.home_country, options, _recorded(model))
        except DataError as error:
            kind = "data" if self.data_path else "training_data_missing"
            raise _DataProblemError(Problem(kind, {"path": str(path), "detail": _detail(error)})) from error
        missing = [name for name in model.features if name not in features.columns]
        if missing:
            values = {"version": str(model.version), "missing": ", ".join(missing), "path": str(path)}
            raise _FeaturesMismatchError(Problem("features", values))
        return features

    def _model_problem(self, error: ModelNotFoundError, versions: list[VersionSummary]) -> Problem:
        known = [str(summary.version) for summary in versions]
        values = {"name": self.model_name, "ref": self.model_ref, "detail": _detail(error)}
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
        return Problem("data", {"path": str(path), "detail": _detail(error)})

    def _safe_uri(self) -> str:
        try:
            return self._uri()
        except SegmentsError as error:  # the URI itself may be what is broken
            return f"({_detail(error)})"

    def _build_customers(self) -> None:
        """The frame every view draws from, in the current language; a fresh selection.

        The frame is the shared :attr:`Scored.frame` plus this session's segment names: a shallow
        frame (pandas copy-on-write), not a copy of the customers.
        """
        self._regions = {}
        self._base_stats = None
        if self.problem is not None or self._scored is None or self._features is None:
            self.customers = None
            self.selection_expr, self.selected, self.rows = None, None, None
            return
        model, scored = self.model, self._scored
        names = model.names(self.lang)
        segment_names = pd.Categorical.from_codes(
            scored.labels, categories=[names.get(s, str(s)) for s in range(model.n_labels)], validate=False
        )
        frame = scored.frame.assign(segment_name=segment_names)
        self.customers = frame[["customer_id", "segment", "segment_name", "pc1", "pc2", *model.features]]
        self.selection_expr = None
        self.segment_filter = []
        self.selected = None
        self._update_rows()

    @param.depends("lang", watch=True)
    def _relabel(self) -> None:
        with hold_page(), param.parameterized.batch_call_watchers(self):
            self._build_customers()
            self.revision += 1

    # --- selection and table -----------------------------------------------------------------------

    @property
    def dataset(self) -> hv.Dataset | None:
        """The customers as one ``hv.Dataset`` (without ids): what selection expressions apply to."""
        return self._scored.dataset if self._scored is not None and self.customers is not None else None

    @property
    def scored(self) -> Scored | None:
        """Labels, scaled space, projection and shared frame of the current customers."""
        return self._scored

    def histogram(self, feature: str) -> HistogramBins:
        """Bins of ``feature``'s distribution chart (shared by every session on this model)."""
        return self._scored.histogram(feature)

    @param.depends("selection_expr", "segment_filter", "search", watch=True)
    def _apply_selection(self) -> None:
        # One filter state: the brushes, the segments and the id search make one mask that the KPI
        # cards, the plots, the toolbar's count and the table all show.
        expr, dataset = self.selection_expr, self.dataset
        if dataset is None or self.customers is None:
            self.selected = None
            return
        mask = None if expr is None else np.asarray(expr.apply(dataset, expanded=True, flat=True), dtype=bool)
        frame = self.customers
        if self.segment_filter:
            keep = np.isin(frame["segment"].to_numpy(), self.segment_filter)
            mask = keep if mask is None else mask & keep
        text = self.search.strip()
        if text:
            found = frame["customer_id"].str.contains(text, case=False, regex=False).to_numpy(dtype=bool)
            mask = found if mask is None else mask & found
        with hold_models():
            self.selected = mask

    def filters(self) -> list[tuple[str, str, str]]:
        """The filters in force, as ``(kind, key, label)``: ``("brush", source, range)``,
        ``("segment", "2", "")``, ``("search", text, "")``; what the page draws as removable chips."""
        chips = [("brush", source, self._region_labels.get(source, "")) for source in self._regions]
        chips += [("segment", str(segment), "") for segment in self.segment_filter]
        if self.search.strip():
            chips.append(("search", self.search.strip(), ""))
        return chips

    def remove_filter(self, kind: str, key: str) -> None:
        """Remove one filter of :meth:`filters` (a chip's close button)."""
        if kind == "brush":
            self.brush(key, None)
        elif kind == "segment":
            self.segment_filter = [segment for segment in self.segment_filter if str(segment) != key]
        elif kind == "search":
            self.search = ""

    def clear_filters(self) -> None:
        """Remove every filter: brushes, segments and search, in one update."""
        self._regions = {}
        with hold_models(), param.parameterized.batch_call_watchers(self):
            self.selection_expr = None
            self.segment_filter = []
            self.search = ""

    def brush(self, source: str, expr: hv.dim | None, label: str = "") -> None:
        """Replace the brush of ``source`` (``PROJECTION`` or a feature) by ``expr`` (None: remove it).

        The selection is the intersection of every source's brush, as with ``hv.link_selections``
        in ``cross_filter_mode="intersect"``. ``label`` names the brush on its chip (e.g. its range).
        """
        regions = {name: region for name, region in self._regions.items() if name != source}
        if expr is not None:
            regions[source] = expr
            self._region_labels[source] = label
        self._regions = regions
        with hold_models():
            self.selection_expr = combine(regions)

    def clear_selection(self) -> None:
        """Forget the brushed selection (the segment filter and the search stay)."""
        self._regions = {}
        with hold_models():
            self.selection_expr = None

    def select(self, expr: hv.dim | None) -> None:
        """Select customers with an ``hv.dim`` expression, replacing every brush (tests, taps, scripts)."""
        self._regions = {} if expr is None else {"expr": expr}
        with hold_models():
            self.selection_expr = expr

    def _filter_mask(self) -> np.ndarray | None:
        # None when nothing filters: the table then shows the customers frame itself, not a copy.
        return self.selected

    @param.depends("selected", watch=True)
    def _update_rows(self) -> None:
        frame = self.customers
        if frame is None:
            self.rows = None
            return
        mask = self._filter_mask()
        rows = frame[self.table_columns()]  # shallow: no copy of the customers
        if mask is not None:
            # take on positions: half the time of a boolean .loc at 1M rows.
            rows = rows.take(np.flatnonzero(mask)).reset_index(drop=True)
        self.rows = rows

    def table_columns(self) -> list[str]:
        """Columns of the table and of the CSV exports: id, segment, name, the model's features."""
        return ["customer_id", "segment", "segment_name", *(self.model.features if self.model else [])]

    def n_selected(self) -> int:
        """Number of customers in the filter (all customers when nothing filters)."""
        if self.customers is None:
            return 0
        return len(self.customers) if self.selected is None else int(self.selected.sum())

    def export_rows(self) -> io.StringIO:
        """CSV of exactly the customers the table shows (selection, segment filter and search)."""
        return to_csv(self.rows if self.rows is not None else pd.DataFrame(columns=self.table_columns()))

    def export_segment(self, segment: int) -> io.StringIO:
        """CSV of every customer of one segment, whatever the selection."""
        frame = self.customers
        if frame is None:
            return to_csv(pd.DataFrame(columns=self.table_columns()))
        rows = frame.loc[frame["segment"].to_numpy() == segment, self.table_columns()]
        return to_csv(rows)

    def segment_stats(self) -> pd.DataFrame:
        """Per segment: name, customers, share, revenue, revenue share, shipments, and the same for the
        customers in the filter (``selected``, ``selected_revenue``, ``selected_shipments``)."""
        model, frame = self.model, self.customers
        if model is None or frame is None:
            return pd.DataFrame()
        if self._base_stats is None:
            self._base_stats = _named_totals(frame, model, self.lang)
        stats = self._base_stats.copy()
        labels, k = self._scored.labels, model.n_labels
        if self.selected is None:
            stats["selected"] = stats["customers"]
            for column, source in (("selected_revenue", "revenue"), ("selected_shipments", "shipments")):
                if source in stats:
                    stats[column] = stats[source]
            return stats
        chosen = labels[self.selected]
        stats["selected"] = np.bincount(chosen, minlength=k)
        # The cards show what the filter holds in money and volume too, not only a head count.
        for column, feature in (("selected_revenue", "monetary"), ("selected_shipments", "frequency")):
            if feature in frame:
                stats[column] = np.bincount(chosen, weights=frame[feature].to_numpy()[self.selected], minlength=k)
        return stats

    def z_scores(self, *, everyone: bool = False) -> pd.DataFrame:
        """Segment × feature z-scores of the brushed customers (of all customers without a brush, or
        with ``everyone``).

        The z-scores are means in the model's scaled space, the same yardstick as the profile.
        """
        model, scored = self.model, self._scored
        if model is None or scored is None:
            return pd.DataFrame()
        selected = None if everyone else self.selected
        if selected is None:
            means = scored.segment_means()
        else:
            means = analysis.segment_means(scored.scaled, scored.labels, model.n_labels, selected)
        order = transformed_feature_order(model.pipeline)
        table = pd.DataFrame(means, columns=order)[model.features]
        table.index = pd.RangeIndex(model.n_labels, name="segment")
        return table

    def activity_period(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last day of the shown customers' orders or shipments (None when undated).

        Their features count days back from the as-of date they were built at (kept with them by
        ``build_features``; for training customers logged before that, the version's ``as_of``).
        """
        if self._features is None or self.model is None:
            return None
        return analysis.activity_period(self._features, _as_of(self._features, self.model, bool(self.data_path)))

    # --- compare versions ------------------------------------------------------------------------

    def compare_choices(self) -> list[str]:
        """Versions the shown one can be compared with: every other registered version, newest first."""
        if self.model is None:
            return []
        shown = str(self.model.version)
        return [str(summary.version) for summary in self.versions if str(summary.version) != shown]

    def _valid_compare_ref(self) -> str:
        # The version picked for comparison if it is still another version, else the newest other one.
        choices = self.compare_choices()
        if self.compare_ref in choices:
            return self.compare_ref
        return choices[0] if choices else ""

    def migration(self, ref: str) -> Migration | Problem:
        """Migration matrix from the shown version to ``ref``, on the same customers.

        The counts are cached per version, the segment names follow the interface language.
        """
        model = self.model
        if model is None or self._scored is None or self._features is None:
            return Problem("compare", {"ref": ref, "detail": "no model shown"})
        if resolve_ref(ref, self.versions) == str(model.version):
            # A version against itself says nothing (and its two axes would share one name).
            return Problem("compare", {"ref": ref, "detail": t("compare_itself", self.lang)})
        if ref not in self._migrations:
            self._migrations[ref] = self._compute_migration(ref)
        result = self._migrations[ref]
        if isinstance(result, Problem):
            return result
        other, matrix = result
        names_a, names_b = model.names(self.lang), other.names(self.lang)
        counts = pd.DataFrame(
            matrix,
            index=pd.Index([names_a.get(s, str(s)) for s in range(model.n_labels)], name=f"v{model.version}"),
            columns=pd.Index([names_b.get(s, str(s)) for s in range(other.n_labels)], name=f"v{other.version}"),
        )
        # The matching takes microseconds (k ≤ 12): computed per call rather than cached with the counts.
        # Names in one language for both, whatever the page's (the pairing must not change with it).
        english_a, english_b = model.names("en"), other.names("en")
        rows, columns, n_matched = analysis.match_segments(
            matrix,
            model.k,
            other.k,
            model.set_aside.groups,
            other.set_aside.groups,
            [english_a.get(s, str(s)) for s in range(model.n_labels)],
            [english_b.get(s, str(s)) for s in range(other.n_labels)],
        )
        return Migration(
            version_a=str(model.version),
            version_b=str(other.version),
            counts=counts,
            rows=rows.tolist(),
            columns=columns.tolist(),
            n_matched=n_matched,
            kmeans_a=model.k,
            kmeans_b=other.k,
        )

    def _compute_migration(self, ref: str) -> tuple[SegmentModel, np.ndarray] | Problem:
        model, scored, features = self.model, self._scored, self._features
        try:
            other = self._loader(resolve_ref(ref, self.versions), self.model_name)
            labels_b = assign_segments(other.pipeline, features, other.set_aside)
        except SegmentsError as error:
            return Problem("compare", {"ref": ref, "detail": _detail(error)})
        return other, analysis.migration_matrix(scored.labels, labels_b, model.n_labels, other.n_labels)

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
            # The training customers logged with the version; older versions re-read their training file.
            reference = load_training_customers(model)
            if reference is None:
                reference = self._features_loader(
                    model.data_path, model.as_of or None, model.home_country, "", _recorded(model)
                )
            reference_scored = score_customers(model, reference)
        except DataError as error:
            return Problem("drift", {"path": str(model.data_path), "reason": _detail(error)})
        table = analysis.psi_table(reference, current, model.features)
        shares = analysis.share_change(reference_scored.labels, scored.labels, model.n_labels)
        segment_psi = analysis.categorical_psi(shares["reference"], shares["current"])
        return Drift(
            psi=table,
            shares=shares,
            segment_psi=segment_psi,
            n_reference=len(reference),
            n_current=len(current),
            # The training customers' features count days back from the version's as-of date.
            reference_period=analysis.activity_period(reference, _as_of(reference, model, False)),
            current_period=self.activity_period(),
            n_common=int(current.index.isin(reference.index).sum()),
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


@contextlib.contextmanager
def hold_models() -> Iterator[None]:
    """Recompute the page's Bokeh model graph once, when the block ends, not at each change inside.

    Bokeh walks every model of the document after a change that may add models (a plot update, a
    pane's new stylesheets): ~20 ms per walk on this page. A selection changes the table, the counts,
    the KPI cards and the plots: one walk instead of one each. Outside a served page, nothing to hold.
    """
    doc = pn.state.curdoc
    if doc is None:
        yield
        return
    with doc.models.freeze():
        yield


@contextlib.contextmanager
def hold_page() -> Iterator[None]:
    """Send every change made inside the block to the browser as one update, when the block ends.

    ``pn.io.hold`` combines the document's change events; with ``freeze`` the model graph is also
    recomputed once (as :func:`hold_models`). A version or language switch changes the header, the
    model card, the KPI cards, the plots and the table: the browser applies them together instead of
    showing, for seconds, the new plots beside the old cards. Outside a served page, nothing to hold.
    """
    if pn.state.curdoc is None:
        yield
        return
    with pn.io.hold(freeze=True):
        yield


def resolve_ref(ref: str, versions: Sequence[VersionSummary]) -> str:
    """The version number of an alias, else ``ref`` unchanged.

    An alias is loaded by its version number: the model cache is then keyed by version, and a
    promotion made while the dashboard runs is picked up by the next page load.
    """
    for summary in versions:
        if ref in summary.aliases:
            return str(summary.version)
    return ref


def _named_totals(frame: pd.DataFrame, model: SegmentModel, lang: str) -> pd.DataFrame:
    """The part of ``segment_stats`` that does not depend on the selection, once per model and language."""
    names, descriptions = model.names(lang), model.descriptions(lang)
    totals = segment_totals(frame, frame["segment"].to_numpy(), model.n_labels)
    totals.insert(0, "description", [descriptions.get(s, "") for s in totals.index])
    totals.insert(0, "name", [names.get(s, str(s)) for s in totals.index])
    return totals.rename(columns={"size": "customers"})


# --- compare and drift: private helpers -----------------------------------------------------------


def _as_of(features: pd.DataFrame, model: SegmentModel, from_data_file: bool) -> str | None:
    """The date ``features``' recency and tenure count back from: their own, else the version's for its
    training customers (logged before the features kept it); None for a ``--data`` file without it."""
    return features.attrs.get("as_of") or (None if from_data_file else (model.as_of or None))
