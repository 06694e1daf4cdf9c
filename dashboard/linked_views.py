"""The linked views of the Explore tab: the customer map (a datashaded PCA projection), the
per-feature distribution charts and the segment × feature heatmap, with the filter chips.

Brushing any of them filters the customers of the store; every view redraws from the same filter.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from html import escape

import datashader as ds
import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param
from bokeh.core.properties import Float, List, String
from bokeh.events import SelectionGeometry, Tap
from bokeh.model import DataModel
from bokeh.models import (
    BoxSelectTool,
    ColumnDataSource,
    CustomJS,
    CustomJSHover,
    CustomJSTickFormatter,
    FixedTicker,
    HoverTool,
    Range1d,
)
from bokeh.models.dom import Div, ValueOf
from bokeh.plotting import figure
from holoviews.operation.datashader import datashade, dynspread

from dashboard import analysis
from dashboard.analysis import shade_codes
from dashboard.i18n import feature_label, fmt_float, fmt_int, fmt_money, fmt_pct, t
from dashboard.palette import UNSELECTED_COLOUR, segment_colour
from dashboard.panel_fixes import LiveHTML, placeholder, weak_hook
from dashboard.scoring import PROJECTION, HistogramBins, box_selection, lasso_selection, range_selection
from dashboard.store import DataStore, hold_models
from dashboard.viewer import PLOT_FONT, StoreViewer, units
from workflow.clustering import transformed_feature_order
from workflow.features import MONEY_FEATURES, SHARE_FEATURES

#: Features whose distributions are shown first (the RFM trio, then price), when the model has them.
DEFAULT_DISTRIBUTIONS = ("recency_days", "frequency", "monetary", "avg_amount")


#: Bars of the selected customers; the bars of all customers are drawn behind in UNSELECTED_COLOUR.
SELECTED_BAR_COLOUR = "#9aa7b8"


#: The shade of customers outside the selection in the projection (a category of the datashader
#: aggregate, coloured UNSELECTED_COLOUR).
UNSELECTED = "unselected"


#: Filter chips shown at most: the map, six charts, the search and eight segments.
MAX_CHIPS = 16


#: The map's tooltip counts the customers within this many pixels of the cursor (dynspread draws a
#: lone customer up to 3 pixels wide).
HOVER_RADIUS_PX = 4
#: Up to this many customers under the cursor are named, one by one; more are counted by segment.
HOVER_MAX_NAMED = 3
#: Features a named customer shows, in this order when the model has them, then the model's others.
HOVER_FEATURES = ("monetary", "frequency", "recency_days", "avg_amount")
#: How many feature values a named customer shows.
HOVER_N_FEATURES = 4
#: A map axis is named after its heaviest features until they carry this share of it (the weights
#: of an axis are a unit vector: their squares add up to 1), at most MAP_AXIS_FEATURES of them.
MAP_AXIS_COVER = 0.6
MAP_AXIS_FEATURES = 3
#: Most ticks on a distribution chart's log or asinh x axis ("x") and on its other axes ("y"): linear
#: labels are longer (0.25, 75 %). Log and asinh ticks are also kept apart (``analysis.axis_ticks``).
DISTRIBUTION_MAX_TICKS = {"x": 6, "y": 5}


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
            pmui.Typography(map_help(store, lang), variant="caption", margin=(0, 5)),
            sizing_mode="stretch_width",
            styles={"padding": "8px"},
        )
        distributions = pmui.Paper(
            pmui.Typography(t("distributions_title", lang), variant="subtitle1", margin=(0, 5)),
            self._picker,
            _deferred(self._fill_histograms, height=420),
            pmui.Typography(t("distributions_help_scales", lang), variant="caption", margin=(0, 5)),
            sizing_mode="stretch_width",
            styles={"padding": "8px"},
        )
        heatmap = pmui.Paper(
            self._heatmap_title_pane,
            _deferred(
                lambda: pn.pane.HoloViews(
                    self._heatmap(), sizing_mode="stretch_width", linked_axes=False, css_classes=["segment-heatmap"]
                ),
                height=heatmap_height(store.model.n_labels),
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
        components = store.scored.components
        order = transformed_feature_order(store.model.pipeline)
        axes = [
            hv.Dimension(
                f"pc{n}",
                label=map_axis_title(n, None if components is None else components[n - 1], order, lang, **units(store)),
            )
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
                # What an analyst uses: select, zoom, pan, reset (no save: a screenshot of a map
                # without its legend; no box zoom: the wheel does it). The hover is added by the hook.
                default_tools=["pan", "wheel_zoom", "reset"],
                tools=["box_select", "lasso_select"],
                active_tools=["box_select", "wheel_zoom"],
                fontsize=PLOT_FONT,
                bgcolor="white",
                show_legend=False,  # the legend is HTML above the plot: on the plot it hides points
                xformatter=number_formatter(lang),
                yformatter=number_formatter(lang),
                hooks=[weak_hook(self._add_map_hover)],
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

    def _add_map_hover(self, plot: object, element: object) -> None:
        # The tooltip is computed on the server from the cursor's position: the browser holds one
        # image of the customers, never the customers themselves (P3's bytes per page).
        chart = plot.state
        if getattr(chart, "_segments_hover", False):
            return  # hooks run again at every redraw
        chart._segments_hover = True
        chart.toolbar.logo = None
        hover_model = MapHover()
        chart.add_tools(map_hover_tool(hover_model, chart, plot.handles["glyph_renderer"]))
        hovered = weakref.WeakMethod(self._map_hovered)
        # Weakly: the model's callbacks must not keep a closed session's views and store alive.
        hover_model.on_change("xy", lambda _attr, _old, new: (method := hovered()) and method(hover_model, new))

    def _map_hovered(self, hover_model: MapHover, xy: list[float]) -> None:
        store = self.store
        if store.customers is None or len(xy) != 4 or not np.isfinite(xy).all():
            return
        x, y, dx, dy = xy
        rows = store.scored.near(x, y, HOVER_RADIUS_PX * abs(dx), HOVER_RADIUS_PX * abs(dy))
        title, text = map_hover_text(
            store.customers, rows, store.selected, store.model.features, self.lang, **units(store)
        )
        hover_model.update(title=title, text=text)

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
        # The formatters are made once per model and language: new ones at each selection would be new
        # Bokeh models to send, and Bokeh walks the page's whole model graph for each.
        lang = self.lang
        formatters = (number_formatter(lang), number_hover(lang))
        return hv.DynamicMap(lambda revision=0: self._heatmap_element(*formatters), streams=[self._redraw_stream])

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

    def _heatmap_element(self, colour_ticks: CustomJSTickFormatter, hover_number: CustomJSHover) -> hv.Overlay:
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
        # 0.0 rather than -0.0 for a value that rounds to zero.
        long["text"] = [fmt_float(v if abs(v) >= 0.05 else 0.0, lang, 1) if np.isfinite(v) else "" for v in long["z"]]
        limit = float(np.nanmax(np.abs(long["z"]))) if np.isfinite(long["z"]).any() else 1.0
        limit = min(max(limit, 0.5), 3.0)  # beyond ±3 σ the colour would only compress the rest
        fdim = hv.Dimension("feature", label=t("feature", lang))
        sdim = hv.Dimension("segment_name", label=t("segment", lang))
        zdim = hv.Dimension("z", label=t("z_score", lang))
        heat = hv.HeatMap(long, kdims=[fdim, sdim], vdims=[zdim]).opts(
            cmap="RdBu_r",
            clim=(-limit, limit),
            colorbar=True,
            cformatter=colour_ticks,
            responsive=True,
            height=heatmap_height(len(names)),
            xrotation=30,
            tools=["hover"],
            # The z-score as the page writes numbers (Bokeh's own format is English).
            hover_tooltips=[(sdim.label, "@segment_name"), (fdim.label, "@feature"), (zdim.label, "@z{custom}")],
            hover_formatters={"@z": hover_number},
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


def heatmap_height(n_rows: int) -> int:
    """Pixels of the heatmap: a 38 px row per segment and room for the slanted feature names.

    The placeholder shown while it loads has the same height: a taller one left a blank band between
    the plot and its caption.
    """
    return 70 + 38 * n_rows


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

    Bokeh draws linear and log axes itself; an asinh axis (signed heavy tails) has no Bokeh type, so
    its chart is drawn in asinh(x / width) and labelled in the feature's units (:func:`chart_x`).
    """

    def __init__(self, bins: HistogramBins, store: DataStore, lang: str) -> None:
        self.bins, self.store = bins, store
        edges, k = chart_x(bins, bins.edges), bins.n_clusters
        counts = bins.counts(store.selected)
        self._steps_x = np.repeat(edges, 2)[1:-1]
        everyone = bins.counts().sum(axis=1)
        self.bars = ColumnDataSource(
            {"left": edges[:-1], "right": edges[1:], "all": everyone, "selected": counts.sum(axis=1)}
        )
        self.lines = ColumnDataSource(
            {
                "xs": [self._steps_x] * k,
                "ys": _steps(counts),
                "colour": [segment_colour(s) for s in range(k)],
                "segment": list(store.customers["segment_name"].cat.categories),
            }
        )
        scale = {analysis.LOG: "axis_log", analysis.ASINH: "axis_asinh"}.get(bins.scale)
        label = feature_label(bins.feature, lang, **units(self.store)) + (f" ({t(scale, lang)})" if scale else "")
        top = float(everyone.max()) * 1.05 if len(everyone) and everyone.max() > 0 else 1.0
        self.figure = _distribution_figure(bins, label, t("customers_axis", lang), self.bars, self.lines, top, lang)
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
            f"{feature_label(feature, lang, **units(self.store))}{_colon(lang)}"
            f"{fmt_float(low, lang, digits)}–{fmt_float(high, lang, digits)}"
        )
        self.store.brush(feature, range_selection(feature, low, high), label=label)

    def _brushed(self, event: SelectionGeometry) -> None:
        geometry = event.geometry or {}
        if event.final and geometry.get("type") == "rect":
            self.brush(chart_value(self.bins, geometry["x0"]), chart_value(self.bins, geometry["x1"]))


def chart_x(bins: HistogramBins, values: np.ndarray) -> np.ndarray:
    """Where ``values`` (the feature's units) are drawn on ``bins``' chart: asinh(x / width) on an
    asinh axis, the values themselves otherwise (Bokeh maps a log axis itself)."""
    if bins.scale == analysis.ASINH:
        return analysis.to_axis(values, analysis.ASINH, bins.width)
    return np.asarray(values, dtype="float64")


def chart_value(bins: HistogramBins, position: float) -> float:
    """The feature's value at ``position`` of ``bins``' x axis (inverse of :func:`chart_x`)."""
    scale = analysis.ASINH if bins.scale == analysis.ASINH else analysis.LINEAR
    return analysis.from_axis(position, scale, bins.width)


def _steps(counts: np.ndarray) -> list[np.ndarray]:
    # Each bar's count twice: the step line runs flat over the bar, then jumps at its right edge.
    return [np.repeat(counts[:, s], 2) for s in range(counts.shape[1])]


def _distribution_figure(
    bins: HistogramBins,
    xlabel: str,
    ylabel: str,
    bars: ColumnDataSource,
    lines: ColumnDataSource,
    top: float,
    lang: str,
) -> figure:
    edges = chart_x(bins, bins.edges)
    # No renderers: the brush only reports its range (SelectionGeometry); a hit-test selection of
    # the bars would fade the others in the browser.
    brush = BoxSelectTool(dimensions="width", renderers=[])
    chart = figure(
        height=200,
        sizing_mode="stretch_width",
        x_axis_type="log" if bins.log else "linear",
        x_range=Range1d(float(edges[0]), float(edges[-1])),
        # Fixed: the bars of every customer are the tallest and never change; the ticks are then
        # computed here, in the page's language.
        y_range=Range1d(0.0, top),
        tools=[brush],
        toolbar_location=None,
        x_axis_label=xlabel,
        y_axis_label=ylabel,
        min_border_left=10,
        min_border_right=10,
        css_classes=["distribution", f"distribution-{bins.feature}"],
    )
    chart.toolbar.active_drag = brush
    for fill, colour in (("all", UNSELECTED_COLOUR), ("selected", SELECTED_BAR_COLOUR)):
        chart.quad(left="left", right="right", bottom=0, top=fill, source=bars, fill_color=colour, line_color="white")
    chart.multi_line(xs="xs", ys="ys", line_color="colour", line_width=2, source=lines)
    chart.grid.visible = False
    for axis, ticks in ((chart.xaxis, x_ticks(bins, lang)), (chart.yaxis, count_ticks(top, lang))):
        axis.ticker = FixedTicker(ticks=[position for position, _ in ticks], minor_ticks=[])
        axis.major_label_overrides = dict(ticks)
        axis.axis_label_text_font_size = PLOT_FONT["labels"]
        axis.axis_label_text_font_style = "normal"
        axis.major_label_text_font_size = PLOT_FONT["xticks"]
    return chart


def x_ticks(bins: HistogramBins, lang: str) -> list[tuple[float, str]]:
    """Ticks of ``bins``' x axis: (position on the chart, label in ``lang`` and the feature's units).

    Round values (…, -1k, -100, 0, 100, 1k, 10k…; shares in per cent) from ``analysis.axis_ticks``.
    """
    low, high = float(bins.edges[0]), float(bins.edges[-1])
    percent = bins.feature in SHARE_FEATURES
    max_ticks = DISTRIBUTION_MAX_TICKS["y" if bins.scale == analysis.LINEAR else "x"]
    values = analysis.axis_ticks(low, high, bins.scale, bins.width, max_ticks=max_ticks)
    positions = chart_x(bins, np.array(values))
    return [(float(p), tick_label(v, lang, percent=percent)) for p, v in zip(positions, values, strict=True)]


def count_ticks(top: float, lang: str) -> list[tuple[float, str]]:
    """Ticks of a count axis from 0 to ``top``, labelled in ``lang``."""
    values = analysis.axis_ticks(0.0, top, analysis.LINEAR, max_ticks=DISTRIBUTION_MAX_TICKS["y"])
    return [(v, tick_label(v, lang)) for v in values if float(v).is_integer()]


#: Short forms of large numbers on axes (as ``i18n.fmt_money_short`` writes money).
_SHORT_SUFFIXES = {
    "en": ((1e9, "B"), (1e6, "M"), (1e3, "k")),
    "fr": ((1e9, "\u202fMd"), (1e6, "\u202fM"), (1e3, "\u202fk")),
}


def tick_label(value: float, lang: str, *, percent: bool = False) -> str:
    """A round tick value as ``lang`` writes it: ``−1k``, ``2.5k``, ``0.25``, ``10M`` in English;
    ``−1 k``, ``2,5 k``, ``0,25``, ``10 M`` in French (narrow no-break spaces); ``25%`` / ``25 %``
    for a share. Thousands and above get a short form: axes are 150 pixels wide."""
    if percent:
        return fmt_pct(value, lang, _digits(100 * value))
    for threshold, suffix in _SHORT_SUFFIXES["fr" if lang == "fr" else "en"]:
        if abs(value) >= threshold:
            return fmt_float(value / threshold, lang, _digits(value / threshold)) + suffix
    return fmt_float(value, lang, _digits(value))


def _digits(value: float) -> int:
    # The fewest decimals that write a round tick exactly (at most 3).
    for digits in range(4):
        if abs(round(value, digits) - value) < 1e-9 * max(1.0, abs(value)):
            return digits
    return 3


def number_formatter(lang: str) -> CustomJSTickFormatter:
    """Bokeh's ticks of a zoomable axis (the map, a colour bar) written as ``lang`` writes numbers.

    The browser picks those ticks as the user zooms: the decimals follow the tick step, the
    thousands get a comma in English and a narrow no-break space in French, the decimal point a
    comma in French (``i18n.fmt_float``).
    """
    return CustomJSTickFormatter(args=_separators(lang), code=_NUMBER_FORMAT_JS)


def number_hover(lang: str, digits: int = 2) -> CustomJSHover:
    """A hover field's number with ``digits`` decimals, as ``lang`` writes it (``-0,53`` in French)."""
    code = f"const ticks = [0, {10.0**-digits}], tick = value\n" + _NUMBER_FORMAT_JS.replace(
        "return ", "return !isFinite(value) ? '–' : "
    )
    return CustomJSHover(args=_separators(lang), code=code)


def _separators(lang: str) -> dict[str, str]:
    # As i18n.fmt_float writes numbers: 12,345.6 in English, 12 345,6 in French (narrow no-break space).
    return {"group": "\u202f", "point": ","} if lang == "fr" else {"group": ",", "point": "."}


_NUMBER_FORMAT_JS = """
const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : Math.abs(tick) || 1
const digits = Math.min(6, Math.max(0, Math.ceil(-Math.log10(step) - 1e-9)))
const text = Math.abs(tick).toFixed(digits)
const [whole, decimals] = text.split(".")
const grouped = whole.replace(/\\B(?=(\\d{3})+(?!\\d))/g, group)
const sign = tick < 0 && Number(text) != 0 ? "\u2212" : ""
return sign + grouped + (decimals ? point + decimals : "")
"""


# --- the map's axes and tooltip --------------------------------------------------------------------


def map_help(store: DataStore, lang: str) -> str:
    """The caption under the map: how to read it, what each axis carries, who lies outside the view."""
    scored = store.scored
    text = t(
        "map_help",
        lang,
        share1=fmt_pct(scored.explained[0], lang, 0),
        share2=fmt_pct(scored.explained[1], lang, 0),
    )
    outside, aside = scored.outside_opening_view()
    if outside:
        clause = ""
        if aside:
            clause = (
                t("map_outside_aside_one", lang)
                if outside == 1
                else t("map_outside_aside", lang, m=fmt_int(aside, lang))
            )
        text += " " + t(
            "map_outside_one" if outside == 1 else "map_outside", lang, n=fmt_int(outside, lang), aside=clause
        )
    return text


def map_axis_title(
    axis: int, weights: np.ndarray | None, features: Sequence[str], lang: str, *, currency: str, orders: bool
) -> str:
    """The title of map axis 1 (x) or 2 (y) in plain words, from the axis' PCA weights.

    ``Map axis 1 — to the right: revenue ↑, orders ↑``: the features that weigh most on the axis
    (until they carry ``MAP_AXIS_COVER`` of it, at most ``MAP_AXIS_FEATURES``), each with the
    direction it takes along the axis. ``weights`` are in the order of ``features`` (the model's
    scaled space); None or zeros (a model of one feature has no second axis) give ``Map axis 2``.
    """
    if weights is None or not np.any(weights):
        return t("map_axis_plain", lang, n=axis)
    weights = np.asarray(weights, dtype="float64")
    picked: list[int] = []
    covered = 0.0
    for index in np.argsort(-np.abs(weights), kind="stable"):
        picked.append(int(index))
        covered += float(weights[index] ** 2)
        if covered >= MAP_AXIS_COVER or len(picked) == MAP_AXIS_FEATURES:
            break
    parts = [f"{_plain_name(features[i], lang, orders)} {'↑' if weights[i] > 0 else '↓'}" for i in picked]
    return t("map_axis_x" if axis == 1 else "map_axis_y", lang, features=", ".join(parts))


def _plain_name(feature: str, lang: str, orders: bool) -> str:
    # "Recency (days)" → "recency", "Revenue (£)" → "revenue": a name within a sentence.
    label = re.sub(r"\s*\([^)]*\)$", "", feature_label(feature, lang, currency="", orders=orders))
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def feature_value(feature: str, value: float, lang: str, currency: str) -> str:
    """One customer's ``feature`` in real units, as ``lang`` writes it: money with its currency,
    shares in per cent, counts and days whole."""
    if feature in MONEY_FEATURES:
        return fmt_money(value, lang, currency)
    if feature in SHARE_FEATURES:
        return fmt_pct(value, lang, 0)
    if feature in ("frequency", "recency_days", "tenure_days"):
        return fmt_int(value, lang)
    return fmt_float(value, lang, 1 if abs(value) >= 1 else 2)


def map_hover_text(
    customers: pd.DataFrame,
    rows: np.ndarray,
    selected: np.ndarray | None,
    features: Sequence[str],
    lang: str,
    *,
    currency: str,
    orders: bool,
) -> tuple[str, str]:
    """The title and lines of the map's tooltip for the customers at ``rows`` (under the cursor).

    Up to ``HOVER_MAX_NAMED`` customers are named: id, segment and a few features in real units
    (and whether they are outside the selection). More are counted, by segment, largest first, and
    the selected among them when there is a selection. No customer: empty strings (no tooltip).
    """
    rows = np.asarray(rows, dtype="int64")
    if not len(rows):
        return "", ""
    shown = [f for f in HOVER_FEATURES if f in features] + [f for f in features if f not in HOVER_FEATURES]
    shown = shown[:HOVER_N_FEATURES]
    names = customers["segment_name"].cat.categories
    colon = _colon(lang)
    if len(rows) <= HOVER_MAX_NAMED:
        blocks = []
        for row in rows:
            customer = customers.iloc[row]
            head = f"{t('map_hover_customer', lang, id=customer['customer_id'])} · {customer['segment_name']}"
            values = [
                feature_label(f, lang, currency="", orders=orders)
                + colon
                + feature_value(f, customer[f], lang, currency)
                for f in shown
            ]
            if selected is not None and not selected[row]:
                values.append(t("map_hover_outside", lang))
            blocks.append((head, values))
        if len(blocks) == 1:
            head, values = blocks[0]
            return head, "\n".join(values)
        title = t("map_hover_count", lang, n=fmt_int(len(rows), lang))
        return title, "\n".join(f"{head}\n  {' · '.join(values)}" for head, values in blocks)
    segments = customers["segment"].to_numpy()[rows]
    counts = np.bincount(segments, minlength=len(names))
    lines = [f"{names[s]}{colon}{fmt_int(counts[s], lang)}" for s in np.argsort(-counts, kind="stable") if counts[s]]
    if selected is not None:
        lines.append(t("map_hover_selected", lang, n=fmt_int(int(selected[rows].sum()), lang)))
    return t("map_hover_count", lang, n=fmt_int(len(rows), lang)), "\n".join(lines)


def _colon(lang: str) -> str:
    # French puts a narrow no-break space before a colon.
    return "\u202f: " if lang == "fr" else ": "


class MapHover(DataModel):
    """The map's tooltip, computed on the server: the browser sends the cursor, the server the text."""

    xy = List(Float, help="The cursor (x, y) and the size of one pixel (dx, dy), in map units.")
    title = String(default="", help="The tooltip's first line; empty: no tooltip.")
    text = String(default="", help="The tooltip's other lines.")


#: The hover's callback: the cursor's pixel and the pixel's size, once per pixel crossed.
_HOVER_JS = """
export default ({hover, chart}, _tool, {geometry: {x, y}}) => {
  if (!isFinite(x) || !isFinite(y)) { return }
  const {x_range, y_range, inner_width, inner_height} = chart
  const dx = Math.abs(x_range.end - x_range.start) / Math.max(inner_width || 1, 1)
  const dy = Math.abs(y_range.end - y_range.start) / Math.max(inner_height || 1, 1)
  const xy = [Math.round(x / dx) * dx, Math.round(y / dy) * dy, dx, dy]
  const old = hover.xy
  if (old.length == 4 && xy.every((value, i) => value == old[i])) { return }
  hover.xy = xy
}
"""


def map_hover_tool(hover_model: MapHover, chart: figure, renderer: object) -> HoverTool:
    """A hover tool on the map's image whose tooltip shows ``hover_model``'s title and text.

    No button in the toolbar (it is always on); no tooltip where the server found no customer.
    """
    # "basic": the text as it is ("raw", the default, would quote it).
    tooltip = Div(
        children=[
            Div(children=[ValueOf(obj=hover_model, attr="title", formatter="basic")], style={"font_weight": "bold"}),
            Div(children=[ValueOf(obj=hover_model, attr="text", formatter="basic")], style={"white_space": "pre-line"}),
        ],
        style={"font_size": "12px", "line_height": "1.45", "max_width": "340px"},
    )
    return HoverTool(
        renderers=[renderer],
        tooltips=tooltip,
        callback=CustomJS(args={"hover": hover_model, "chart": chart}, code=_HOVER_JS),
        filters={"": CustomJS(args={"hover": hover_model}, code="export default ({hover}) => hover.title != ''")},
        visible=False,
    )


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
