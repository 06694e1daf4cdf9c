"""The linked views of the Explore tab: the customer map (a datashaded PCA projection), the
per-feature distribution charts and the segment × feature heatmap, with the filter chips.

Brushing any of them filters the customers of the store; every view redraws from the same filter.
"""

from __future__ import annotations

import weakref
from html import escape

import datashader as ds
import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param
from bokeh.events import SelectionGeometry, Tap
from bokeh.models import (
    BoxSelectTool,
    ColumnDataSource,
    DataRange1d,
    FixedTicker,
    PrintfTickFormatter,
    Range1d,
)
from bokeh.plotting import figure
from holoviews.operation.datashader import datashade, dynspread

from dashboard.analysis import shade_codes
from dashboard.i18n import feature_label, fmt_float, fmt_int, fmt_pct, t
from dashboard.palette import UNSELECTED_COLOUR, segment_colour
from dashboard.panel_fixes import LiveHTML, placeholder, weak_hook
from dashboard.scoring import PROJECTION, HistogramBins, box_selection, lasso_selection, range_selection
from dashboard.store import DataStore, hold_models
from dashboard.viewer import PLOT_FONT, StoreViewer, units
from workflow.features import SHARE_FEATURES

#: Features whose distributions are shown first (the RFM trio, then price), when the model has them.
DEFAULT_DISTRIBUTIONS = ("recency_days", "frequency", "monetary", "avg_amount")


#: Bars of the selected customers; the bars of all customers are drawn behind in UNSELECTED_COLOUR.
SELECTED_BAR_COLOUR = "#9aa7b8"


#: The shade of customers outside the selection in the projection (a category of the datashader
#: aggregate, coloured UNSELECTED_COLOUR).
UNSELECTED = "unselected"


#: Filter chips shown at most: the map, six charts, the search and eight segments.
MAX_CHIPS = 16


class LinkedViews(StoreViewer):
    """PCA scatter (datashaded), per-feature distributions by segment and the z-score heatmap.

    Brushing the scatter (box or lasso) or a distribution chart (a range) selects customers: the
    store intersects the brushes, the table and the KPIs follow, and every view shows the selection.
    The heatmap shows the selected customers' z-scores; clicking one of its rows filters the table
    to that segment.

    A selection redraws only data: the scatter is datashaded again (one image), the distribution
    charts get new counts (a few hundred numbers, from the store's precomputed bins), the heatmap
    new cells. ``hv.link_selections`` rebuilt every linked plot instead, ~0.2 s each at 1M customers.
    The redraw runs in the callback after the one that updates the table, so the numbers reach the
    browser first.
    """

    features_shown = param.List(default=[], item_type=str, doc="Features with a distribution chart.")

    def __init__(self, store: DataStore, **params: object) -> None:
        super().__init__(store, **params)
        # Widgets and reactive panes live as long as the view. Only the plots are rebuilt per model:
        # a reactive pane created inside ``_render`` would keep watching the store after the next
        # model replaced it, and redraw invisible plots on every selection.
        self._picker = pmui.MultiChoice(max_items=6, sizing_mode="stretch_width", css_classes=["features-picker"])
        self._picker.link(self, value="features_shown")
        self._clear = pmui.Button(
            icon="deselect",
            variant="outlined",
            css_classes=["clear-selection"],
            on_click=lambda _: store.clear_filters(),
        )
        self._selection_pane = LiveHTML(self._selection_text, margin=(0, 10))
        # The filter state drawn once, as chips; clicking a chip removes its filter.
        # A fixed pool of chips, shown and relabelled as filters come and go (see ``_show_chips``).
        self._chip_pool = [
            pmui.Chip(label="", icon="close", size="small", visible=False, css_classes=["filter-chip"], margin=(0, 4))
            for _ in range(MAX_CHIPS)
        ]
        for index, chip in enumerate(self._chip_pool):
            chip.param.watch(lambda _event, index=index: self._chip_clicked(index), "clicks")
        self._chips = pn.Row(*self._chip_pool, css_classes=["filter-chips"], margin=0)
        self._chip_filters: list[tuple[str, str, str]] = []
        self._chips_shown: tuple[list[tuple[str, str, str]], str] | None = None
        store.param.watch(self._show_chips, ["selected", "lang"])
        self._heatmap_title_pane = pmui.Typography(self._heatmap_title, variant="subtitle1", margin=(0, 5))
        self._histogram_grid = pn.GridBox(ncols=2, sizing_mode="stretch_width", min_height=420)
        # Per model (``_render``): the stream the scatter and the heatmap redraw on, and the charts.
        self._redraw_stream = SelectionRedraw()
        self._charts: list[DistributionChart] = []
        self._axes: list[hv.Dimension] = []
        self._shades: pd.CategoricalDtype | None = None
        self._redraw_pending = False
        store.param.watch(self._selection_changed, "selected")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.panel(self._render)

    @param.depends("store.revision")
    def _render(self) -> pn.viewable.Viewable:
        store = self.store
        # A new stream per model: the previous model's plots stay subscribed to the old one, which
        # nothing triggers any more.
        self._redraw_stream = SelectionRedraw()
        self._charts = []
        if store.customers is None:
            return pn.Column(height=0, margin=0)
        lang = self.lang
        features = store.model.features
        shown = [f for f in DEFAULT_DISTRIBUTIONS if f in features] or features[:4]
        with param.parameterized.discard_events(self):
            self.features_shown = shown
        self._picker.param.update(
            label=t("distributions_pick", lang),
            options={feature_label(f, lang, **units(self.store)): f for f in features},
            value=list(shown),
        )
        self._clear.label = t("clear_selection", lang)
        self._histogram_grid.objects = [placeholder(200) for _ in shown]
        scatter = pmui.Paper(
            pmui.Typography(t("projection_title", lang), variant="subtitle1", margin=(0, 5)),
            pn.pane.HTML(_legend_html(store), margin=(0, 5)),
            _deferred(
                lambda: pn.pane.HoloViews(
                    self._scatter(),
                    sizing_mode="stretch_width",
                    height=430,
                    linked_axes=False,
                    css_classes=["projection"],
                ),
                height=430,
            ),
            pmui.Typography(t("projection_help", lang), variant="caption", margin=(0, 5)),
            sizing_mode="stretch_width",
            styles={"padding": "8px"},
        )
        distributions = pmui.Paper(
            pmui.Typography(t("distributions_title", lang), variant="subtitle1", margin=(0, 5)),
            self._picker,
            _deferred(self._fill_histograms, height=420),
            pmui.Typography(t("distributions_help", lang), variant="caption", margin=(0, 5)),
            sizing_mode="stretch_width",
            styles={"padding": "8px"},
        )
        heatmap = pmui.Paper(
            self._heatmap_title_pane,
            _deferred(
                lambda: pn.pane.HoloViews(
                    self._heatmap(), sizing_mode="stretch_width", linked_axes=False, css_classes=["segment-heatmap"]
                ),
                height=120 + 38 * store.model.n_labels,
            ),
            pmui.Typography(t("heatmap_help", lang), variant="caption", margin=(0, 5)),
            sizing_mode="stretch_width",
            styles={"padding": "8px"},
        )
        self._show_chips()
        toolbar = pn.Row(self._clear, self._selection_pane, self._chips, align="center", sizing_mode="stretch_width")
        return pn.Column(
            toolbar,
            pn.Row(scatter, distributions, sizing_mode="stretch_width"),
            heatmap,
            sizing_mode="stretch_width",
        )

    # --- filter chips ----------------------------------------------------------------------------------

    def _show_chips(self, *_: object) -> None:
        store, lang = self.store, self.lang
        filters = store.filters() if store.customers is not None else []
        if (filters, lang) == self._chips_shown:
            return  # a brush moved within the same filters: the chips stay as they are
        self._chips_shown = (filters, lang)
        self._chip_filters = filters[: len(self._chip_pool)]
        names = list(store.customers["segment_name"].cat.categories) if store.customers is not None else []
        # Only labels and visibility change: a brush sends a few properties, never new models (new
        # models make Bokeh walk the page's whole model graph, ~0.1 s at each brush).
        for chip, (kind, key, label) in zip(self._chip_pool, self._chip_filters, strict=False):
            if kind == "segment":
                text = t("chip_segment", lang, name=names[int(key)])
            elif kind == "search":
                text = t("chip_search", lang, text=key)
            elif key == PROJECTION:
                text = t("chip_projection", lang)
            else:
                text = label or feature_label(key, lang, **units(store))
            chip.param.update(
                label=text,
                description=t("chip_remove", lang),
                css_classes=["filter-chip", f"filter-chip-{kind}"],
                visible=True,
            )
        for chip in self._chip_pool[len(self._chip_filters) :]:
            chip.param.update(visible=False, css_classes=["filter-chip"])

    def _chip_clicked(self, index: int) -> None:
        if index < len(self._chip_filters):
            kind, key, _ = self._chip_filters[index]
            self.store.remove_filter(kind, key)

    # --- selection: the numbers now, the plots in the next callback ------------------------------------

    def _selection_changed(self, *_: object) -> None:
        # The table, its count and the KPIs update in this callback (they watch the store too); the
        # plots, which take most of the time, in the next one: the browser gets the numbers first.
        # Several selections before the redraw runs make one redraw, of the last.
        if self._redraw_pending:
            return
        self._redraw_pending = True
        pn.state.execute(self._redraw, schedule=True)

    def _redraw(self) -> None:
        self._redraw_pending = False
        if self.store.customers is None:
            return
        # One recomputation of the document's model graph for all the plots: Bokeh walks every
        # model of the page each time a HoloViews plot update ends (~0.1 s per plot at this size).
        with hold_models():
            for chart in self._charts:
                chart.update(self.store.selected)
            self._redraw_stream.event(revision=self._redraw_stream.revision + 1)

    # --- distribution charts ----------------------------------------------------------------------------

    def _fill_histograms(self) -> pn.GridBox:
        lang = self.lang
        self._charts = [
            DistributionChart(self.store.histogram(feature), self.store, lang) for feature in self.features_shown
        ]
        self._histogram_grid.objects = [chart.pane for chart in self._charts]
        return self._histogram_grid

    @param.depends("features_shown", watch=True)
    def _features_picked(self) -> None:
        if self.store.customers is not None:
            self._fill_histograms()

    # --- projection ---------------------------------------------------------------------------------------

    def _scatter(self) -> hv.DynamicMap:
        store, lang = self.store, self.lang
        explained = store.scored.explained
        axes = [
            hv.Dimension(f"pc{n}", label=t("pc_axis", lang, n=n, share=fmt_pct(explained[n - 1], lang, 0)))
            for n in (1, 2)
        ]
        # Open on the bulk of the customers (the extreme accounts stay reachable by zooming out).
        for axis, span in zip(axes, store.scored.projection_ranges(), strict=True):
            axis.range = span
        k = store.model.n_labels
        self._axes = axes
        self._shades = pd.CategoricalDtype([*(str(s) for s in range(k)), UNSELECTED])
        colour_key = {**{str(s): segment_colour(s) for s in range(k)}, UNSELECTED: UNSELECTED_COLOUR}
        # datashade, not rasterize: categorical colour with pandas string columns only works through
        # count_cat + datashade: the browser gets one image, never the points.
        dmap = hv.DynamicMap(self._projection_points, streams=[self._redraw_stream])
        shaded = datashade(dmap, aggregator=ds.count_cat("shade"), color_key=colour_key, min_alpha=90)
        spread = dynspread(shaded, threshold=0.6, max_px=3).opts(
            hv.opts.RGB(
                responsive=True,
                height=430,
                tools=["box_select", "lasso_select"],
                active_tools=["box_select", "wheel_zoom"],
                fontsize=PLOT_FONT,
                bgcolor="white",
                show_legend=False,  # the legend is HTML above the plot: on the plot it hides points
            )
        )
        hv.streams.BoundsXY(source=spread).add_subscriber(self._box_brushed)
        hv.streams.Lasso(source=spread).add_subscriber(self._lasso_brushed)
        hv.streams.PlotReset(source=spread).add_subscriber(self._plot_reset)
        return spread

    def _projection_points(self, revision: int = 0) -> hv.Points:
        # A three-column frame over the shared projection (no copy) and this session's shades: each
        # customer's segment, or UNSELECTED outside the selection.
        store = self.store
        codes = shade_codes(store.scored.labels, store.selected, store.model.n_labels)
        frame = store.customers
        data = pd.DataFrame(
            {
                "pc1": frame["pc1"].to_numpy(),
                "pc2": frame["pc2"].to_numpy(),
                "shade": pd.Categorical.from_codes(codes, dtype=self._shades, validate=False),
            },
            copy=False,
        )
        return hv.Points(data, kdims=self._axes, vdims=["shade"])

    def _box_brushed(self, bounds: tuple[float, float, float, float] | None = None) -> None:
        if bounds is not None:
            self.store.brush(PROJECTION, box_selection(bounds))

    def _lasso_brushed(self, geometry: np.ndarray | None = None) -> None:
        if geometry is not None and len(geometry) > 2:
            self.store.brush(PROJECTION, lasso_selection(geometry))

    def _plot_reset(self, resetting: bool = False) -> None:
        # The reset tool clears the selection too, as with hv.link_selections.
        if resetting:
            self.store.clear_selection()

    # --- heatmap ------------------------------------------------------------------------------------------

    @param.depends("store.selected", "store.lang")
    def _heatmap_title(self) -> str:
        key = "heatmap_title" if self.store.selected is None else "heatmap_title_selection"
        return t(key, self.lang)

    @param.depends("store.selected", "store.lang")
    def _selection_text(self) -> str:
        store, lang = self.store, self.lang
        total = len(store.customers) if store.customers is not None else 0
        if store.selected is None:
            text = t("selection_all", lang, n=fmt_int(total, lang))
        else:
            n = store.n_selected()
            text = t("selection_some", lang, n=fmt_int(n, lang), share=fmt_pct(n / max(total, 1), lang))
        return f'<span class="selection-count">{text}</span>'

    def _heatmap(self) -> hv.DynamicMap:
        # The click is read from Bokeh's own Tap event on the figure (attached by a plot hook): in the
        # browser HoloViews' Tap stream on this overlay of a heatmap and labels never fired.
        return hv.DynamicMap(lambda revision=0: self._heatmap_element(), streams=[self._redraw_stream])

    def _listen_to_taps(self, plot: object, element: object) -> None:
        figure = plot.state
        if not getattr(figure, "_segments_tap", False):
            figure._segments_tap = True
            clicked = weakref.WeakMethod(self._heatmap_clicked)
            # Weakly: the figure's callbacks must not keep a closed session's views and store alive.
            figure.on_event(Tap, lambda event: (method := clicked()) and method(figure, event))

    def _heatmap_clicked(self, figure: object, event: Tap) -> None:
        # A categorical axis puts factor i between i and i + 1 (Bokeh's synthetic coordinates).
        factors = list(getattr(figure.y_range, "factors", []) or [])
        if event.y is not None and 0 <= event.y < len(factors):
            self._heatmap_tapped(y=factors[int(event.y)])

    def _heatmap_element(self) -> hv.Overlay:
        store, lang = self.store, self.lang
        z = store.z_scores()
        names = list(store.customers["segment_name"].cat.categories)
        labels = [feature_label(f, lang, **units(store)) for f in z.columns]
        long = pd.DataFrame(
            {
                "feature": np.tile(labels, len(z)),
                "segment_name": np.repeat(names, len(z.columns)),
                "z": z.to_numpy().ravel(),
            }
        )
        long["text"] = [fmt_float(v, lang, 1) if np.isfinite(v) else "" for v in long["z"]]
        limit = float(np.nanmax(np.abs(long["z"]))) if np.isfinite(long["z"]).any() else 1.0
        limit = min(max(limit, 0.5), 3.0)  # beyond ±3 σ the colour would only compress the rest
        fdim = hv.Dimension("feature", label=t("feature", lang))
        sdim = hv.Dimension("segment_name", label=t("segment", lang))
        zdim = hv.Dimension("z", label=t("z_score", lang))
        heat = hv.HeatMap(long, kdims=[fdim, sdim], vdims=[zdim]).opts(
            cmap="RdBu_r",
            clim=(-limit, limit),
            colorbar=True,
            responsive=True,
            height=70 + 38 * len(names),
            xrotation=30,
            tools=["hover"],
            invert_yaxis=True,
            fontsize=PLOT_FONT,
            line_color="white",
            line_width=1,
            toolbar=None,
            xlabel="",
            ylabel="",
            framewise=True,
            hooks=[weak_hook(self._listen_to_taps)],
        )
        # Dark cells get white numbers: black on deep red or blue is unreadable.
        dark = np.abs(long["z"].to_numpy()) > 0.6 * limit
        ink = [
            hv.Labels(long[rows], kdims=[fdim, sdim], vdims=["text"]).opts(text_font_size="9pt", text_color=colour)
            for rows, colour in ((~dark, "black"), (dark, "white"))
        ]
        return heat * ink[0] * ink[1]

    def _heatmap_tapped(self, x: object = None, y: object = None) -> None:
        if y is None:
            return
        names = list(self.store.customers["segment_name"].cat.categories)
        if y in names:
            self.store.segment_filter = [names.index(y)]


def _deferred(build: object, height: int) -> pn.viewable.Viewable:
    """A plot built after the page is shown, with a loading spinner in its place meanwhile.

    Each linked plot costs Bokeh and HoloViews ~0.5–2 s to build whatever the data size; deferring
    them lets the KPIs and the table paint first, and the plots appear one after the other.
    """
    return pn.panel(build, defer_load=True, loading_indicator=True, min_height=height, sizing_mode="stretch_width")


class SelectionRedraw(hv.streams.Stream):
    """Triggered once per selection change, after the table: the scatter and the heatmap redraw on it."""

    revision = param.Integer(default=0, doc="Bumped at each redraw.")


class DistributionChart:
    """One feature's distribution chart in plain Bokeh: bars of all customers (light) and of the
    selection, and one step line per segment of the selection.

    A selection only replaces two columns of two ColumnDataSources (a few hundred numbers, sent as a
    column patch); the counts come from the store's precomputed bins (``HistogramBins.counts``), one
    ``bincount`` over the selected customers. Dragging along the x axis brushes a range of the feature.
    """

    def __init__(self, bins: HistogramBins, store: DataStore, lang: str) -> None:
        self.bins, self.store = bins, store
        edges, k = bins.edges, bins.n_clusters
        counts = bins.counts(store.selected)
        self._steps_x = np.repeat(edges, 2)[1:-1]
        self.bars = ColumnDataSource(
            {"left": edges[:-1], "right": edges[1:], "all": bins.counts().sum(axis=1), "selected": counts.sum(axis=1)}
        )
        self.lines = ColumnDataSource(
            {
                "xs": [self._steps_x] * k,
                "ys": _steps(counts),
                "colour": [segment_colour(s) for s in range(k)],
                "segment": list(store.customers["segment_name"].cat.categories),
            }
        )
        label = feature_label(bins.feature, lang, **units(self.store)) + (" (log)" if bins.log else "")
        self.figure = _distribution_figure(bins, label, t("customers_axis", lang), self.bars, self.lines)
        self.figure.on_event(SelectionGeometry, self._brushed)
        self.pane = pn.pane.Bokeh(self.figure, sizing_mode="stretch_width", height=200)

    def update(self, selected: np.ndarray | None) -> None:
        """Show the selection ``selected`` (None: every customer)."""
        counts = self.bins.counts(selected)
        self.bars.data.update(selected=counts.sum(axis=1))
        self.lines.data.update(ys=_steps(counts))

    def brush(self, low: float, high: float) -> None:
        """Select the customers whose feature is in [low, high] (intersected with the other brushes)."""
        feature = self.bins.feature
        low, high = min(low, high), max(low, high)
        lang = self.store.lang
        digits = 2 if feature in SHARE_FEATURES or high - low < 10 else 0
        label = (
            f"{feature_label(feature, lang, **units(self.store))}: "
            f"{fmt_float(low, lang, digits)}–{fmt_float(high, lang, digits)}"
        )
        self.store.brush(feature, range_selection(feature, low, high), label=label)

    def _brushed(self, event: SelectionGeometry) -> None:
        geometry = event.geometry or {}
        if event.final and geometry.get("type") == "rect":
            self.brush(geometry["x0"], geometry["x1"])


def _steps(counts: np.ndarray) -> list[np.ndarray]:
    # Each bar's count twice: the step line runs flat over the bar, then jumps at its right edge.
    return [np.repeat(counts[:, s], 2) for s in range(counts.shape[1])]


def _distribution_figure(
    bins: HistogramBins, xlabel: str, ylabel: str, bars: ColumnDataSource, lines: ColumnDataSource
) -> figure:
    edges = bins.edges
    # No renderers: the brush only reports its range (SelectionGeometry); a hit-test selection of
    # the bars would fade the others in the browser.
    brush = BoxSelectTool(dimensions="width", renderers=[])
    chart = figure(
        height=200,
        sizing_mode="stretch_width",
        x_axis_type="log" if bins.log else "linear",
        x_range=Range1d(float(edges[0]), float(edges[-1])),
        y_range=DataRange1d(start=0),
        tools=[brush],
        toolbar_location=None,
        x_axis_label=xlabel,
        y_axis_label=ylabel,
        min_border_left=10,
        min_border_right=10,
        css_classes=["distribution"],
    )
    chart.toolbar.active_drag = brush
    for top, colour in (("all", UNSELECTED_COLOUR), ("selected", SELECTED_BAR_COLOUR)):
        chart.quad(left="left", right="right", bottom=0, top=top, source=bars, fill_color=colour, line_color="white")
    chart.multi_line(xs="xs", ys="ys", line_color="colour", line_width=2, source=lines)
    chart.grid.visible = False
    chart.yaxis.formatter = PrintfTickFormatter(format="%.0f")
    if bins.log:
        ticks = _log_ticks(edges[0], edges[-1])
        chart.xaxis.ticker = FixedTicker(ticks=[tick for tick, _ in ticks])
        chart.xaxis.major_label_overrides = dict(ticks)
    else:
        chart.xaxis.ticker.desired_num_ticks = 5
    for axis in (chart.xaxis, chart.yaxis):
        axis.axis_label_text_font_size = PLOT_FONT["labels"]
        axis.axis_label_text_font_style = "normal"
        axis.major_label_text_font_size = PLOT_FONT["xticks"]
    return chart


def _log_ticks(low: float, high: float, max_ticks: int = 5) -> list[tuple[float, str]]:
    """Round ticks (1, 2, 5 × 10ⁿ, thinned to powers of ten if crowded) with short labels (1k, 20k).

    Bokeh's log ticker writes 10⁰, 10¹…, which analysts read badly, and with a formatter its
    labels overlap on a 200 px wide chart.
    """
    exponents = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0**e for e in exponents for m in mantissas if low <= m * 10.0**e <= high]
        if len(ticks) <= max_ticks:
            break
    return [(tick, _short_number(tick)) for tick in ticks]


def _short_number(value: float) -> str:
    for threshold, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= threshold:
            return f"{value / threshold:g}{suffix}"
    return f"{value:g}"


def _legend_html(store: DataStore) -> str:
    names = list(store.customers["segment_name"].cat.categories)
    items = "".join(
        f'<span class="legend-item"><span class="swatch" style="background:{segment_colour(i)}"></span>'
        f"{escape(name)}</span>"
        for i, name in enumerate(names)
    )
    return (
        "<style>.legend-item{display:inline-flex;align-items:center;gap:5px;margin-right:14px;font-size:12px}"
        ".swatch{width:10px;height:10px;border-radius:50%;display:inline-block}</style>"
        f'<div class="legend">{items}</div>'
    )
