"""Thin ``pn.viewable.Viewer`` classes that render a :class:`~dashboard.store.DataStore`.

Each viewer reads the store and writes back only what the user asked for (a version, a segment
filter, a search, the language); the store does the work. Views that depend on the model rebuild on
``store.revision``; views that depend on the selection update on ``store.selected`` / ``store.rows``.
"""

from __future__ import annotations

import re
import unicodedata
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
    HTMLTemplateFormatter,
    NumberFormatter,
    PrintfTickFormatter,
    Range1d,
)
from bokeh.plotting import figure
from holoviews.operation.datashader import datashade, dynspread

from dashboard.analysis import psi_flag, shade_codes
from dashboard.i18n import (
    feature_label,
    fmt_float,
    fmt_int,
    fmt_money,
    fmt_money_short,
    fmt_pct,
    recommendation_text,
    t,
)
from dashboard.store import (
    PROJECTION,
    SEGMENT_COLOURS,
    UNSELECTED_COLOUR,
    DataStore,
    Drift,
    HistogramBins,
    Migration,
    Problem,
    box_selection,
    hold_models,
    lasso_selection,
    range_selection,
    segment_colour,
)
from workflow.features import SHARE_FEATURES

#: Features whose distributions are shown first (the RFM trio, then price), when the model has them.
DEFAULT_DISTRIBUTIONS = ("recency_days", "frequency", "monetary", "avg_amount")
TABLE_PAGE_SIZE = 10
#: Bars of the selected customers; the bars of all customers are drawn behind in UNSELECTED_COLOUR.
SELECTED_BAR_COLOUR = "#9aa7b8"
#: The shade of customers outside the selection in the projection (a category of the datashader
#: aggregate, coloured UNSELECTED_COLOUR).
UNSELECTED = "unselected"
#: Colours of the drift flags: green, amber and red read as "fine / watch / act" to most people.
FLAG_COLOURS = {"stable": "#2ca02c", "moderate": "#ff9f1c", "major": "#d62728"}
#: Filter chips shown at most: the map, six charts, the search and eight segments.
MAX_CHIPS = 16
#: Delay before a plot is added to a freshly opened tab (see ``_mounted_later``).
MOUNT_DELAY_MS = 250
PLOT_FONT = {"title": "11pt", "labels": "10pt", "xticks": "9pt", "yticks": "9pt"}


def units(store: DataStore) -> dict[str, object]:
    """How the shown model counts and prices: its currency, and orders rather than shipments.

    Keyword arguments for ``feature_label``; a model without a currency shows plain numbers.
    """
    model = store.model
    if model is None:
        return {"currency": "EUR", "orders": False}
    return {"currency": model.currency, "orders": not model.shipment_data}


class LiveHTML(pn.pane.HTML):
    """An HTML pane for text that changes with every selection: an update sends only the text.

    Panel 1.9 sends an HTML pane's stylesheets again with each new text, as new ImportedStyleSheet
    models: Bokeh then walks the page's whole model graph (10–30 ms at each update, seven updates per
    selection) and the browser applies the stylesheets again. Other changes (styles, sizing) take
    Panel's usual path.
    """

    def _update(self, ref: str, model: object) -> None:
        props = self._get_properties(model.document)
        props.pop("stylesheets", None)
        model.update(**props)


class StoreViewer(pn.viewable.Viewer):
    """Base of the dashboard's viewers: holds the store."""

    store = param.ClassSelector(class_=DataStore, doc="The store this view renders.")

    def __init__(self, store: DataStore, **params: object) -> None:
        super().__init__(store=store, **params)

    @property
    def lang(self) -> str:
        """The interface language."""
        return self.store.lang


# --- header, problems, model card, version picker -------------------------------------------------


class HeaderTitle(StoreViewer):
    """The model's name, version and alias in the app bar."""

    def __panel__(self) -> pn.viewable.Viewable:
        # A pane with a reactive object (not a re-rendered layout) so the app bar can centre it.
        return pn.pane.HTML(
            self._text,
            styles={"color": "white", "font-size": "16px", "opacity": "0.92"},
            # The app bar lays its items out with align-self from their sizing policy (top);
            # centre the text on the bar's title instead.
            stylesheets=[":host { align-self: center !important; }"],
            margin=(0, 16),
            css_classes=["header-title"],
        )

    @param.depends("store.revision", "store.problem")
    def _text(self) -> str:
        model = self.store.model
        if model is None:
            return ""
        alias = _alias_text(self.store)
        return f"{model.name} · v{model.version}" + (f" · {alias}" if alias else "")


class ProblemBanner(StoreViewer):
    """The error state of the page: what is wrong and the command that fixes it."""

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.panel(self._render)

    @param.depends("store.problem", "store.lang")
    def _render(self) -> pn.viewable.Viewable:
        problem = self.store.problem
        if problem is None:
            return pn.Column(height=0, margin=0)
        return problem_alert(problem, self.lang)


def _as_text(problem: Problem) -> Problem:
    """``problem`` with its values HTML-escaped, for the Markdown of an alert or a Typography.

    Both render Markdown with raw HTML passed through, and the values come from files, paths and error
    messages (a column name, a file name, a path recorded in the registry): escaped, they show as text.
    """
    return Problem(problem.kind, {key: escape(str(value), quote=False) for key, value in problem.params.items()})


def problem_alert(problem: Problem, lang: str) -> pmui.Alert:
    """An error alert with the problem and its fix (used by the page and the tests)."""
    shown = _as_text(problem)
    text = f"{shown.message(lang)}\n\n**{t('fix', lang)}:** {shown.fix(lang)}"
    return pmui.Alert(
        object=text,
        title=t("error_title", lang),
        severity="error",
        css_classes=["problem"],
        sizing_mode="stretch_width",
    )


class ModelCard(StoreViewer):
    """Name, version, aliases, k, silhouette, stability, training date, data digest, recommendation."""

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.panel(self._render)

    @param.depends("store.revision", "store.lang")
    def _render(self) -> pn.viewable.Viewable:
        model, lang = self.store.model, self.lang
        if model is None:
            return pn.Column(height=0, margin=0)
        created = _timestamp(model.created)
        rows = [
            (t("model", lang), escape(model.name)),
            (t("version", lang), f"v{model.version}"),
            (t("aliases", lang), escape(", ".join(model.aliases)) or t("none", lang)),
            (t("k", lang), str(model.k)),
            (t("silhouette", lang), fmt_float(model.metrics.get("silhouette", np.nan), lang, 3)),
            (t("stability", lang), fmt_float(model.metrics.get("stability_ari", np.nan), lang, 2)),
            (t("trained_at", lang), created),
            (t("data_digest", lang), f"<code>{escape(model.data_digest or '–')}</code>"),
            (t("customers_total", lang), fmt_int(len(self.store.customers), lang)),
            (t("data_file", lang), f"<code>{escape(self.store.data_path or model.data_path)}</code>"),
        ]
        table = "".join(f"<tr><th>{key}</th><td>{value}</td></tr>" for key, value in rows)
        html = f'<table class="model-card">{table}</table>'
        if model.recommendation:
            # Recorded in English with the version: rebuilt in French, or the metrics it rests on.
            sentence = recommendation_text(model.recommendation, lang) or t(
                "recommendation_metrics",
                lang,
                k=model.k,
                silhouette=fmt_float(model.metrics.get("silhouette", np.nan), lang, 3),
                stability=fmt_float(model.metrics.get("stability_ari", np.nan), lang, 2),
            )
            html += f'<p class="recommendation"><b>{t("recommendation", lang)}.</b> {escape(sentence)}</p>'
        if self.store.ui_address and model.run_id:
            url = _run_url(self.store.ui_address, model)
            html += f'<p><a href="{escape(url)}" target="_blank" rel="noopener">{t("open_run", lang)} ↗</a></p>'
        return pn.pane.HTML(html, stylesheets=[_CARD_CSS], sizing_mode="stretch_width", css_classes=["model-info"])


def _timestamp(value: object) -> str:
    if value is None:
        return "–"
    stamp = pd.Timestamp(value)
    return stamp.strftime("%Y-%m-%d %H:%M") + (" UTC" if stamp.tzinfo is not None else "")


def _run_url(ui_address: str, model: object) -> str:
    from workflow import tracking  # only when a UI address is configured: tracking imports mlflow

    return tracking.run_url(ui_address, model)


def _alias_text(store: DataStore) -> str:
    model = store.model
    if model is None:
        return ""
    if not store.model_ref.isdigit() and store.model_ref in model.aliases:
        return store.model_ref
    return ", ".join(model.aliases)


_CARD_CSS = """
.model-card { border-collapse: collapse; width: 100%; font-size: 13px; }
.model-card th { text-align: left; font-weight: 500; color: #555; padding: 2px 8px 2px 0; white-space: nowrap; }
.model-card td { padding: 2px 0; word-break: break-all; }
.recommendation { font-size: 12px; color: #333; line-height: 1.35; }
code { font-size: 12px; }
a { font-size: 13px; }
"""


class VersionPicker(StoreViewer):
    """Any alias or version of the registered model; picking one reloads the store."""

    def __init__(self, store: DataStore, **params: object) -> None:
        super().__init__(store, **params)
        self._select = pmui.Select(
            label=t("version_picker", self.lang),
            sizing_mode="stretch_width",
            css_classes=["version-picker"],
        )
        self._sync_options()
        self._select.param.watch(self._picked, "value")
        store.param.watch(self._sync_options, ["versions", "lang", "model_ref"])

    def __panel__(self) -> pn.viewable.Viewable:
        return self._select

    def _sync_options(self, *_: object) -> None:
        # One update: the label must reach the browser too (a language switch changes only it).
        self._select.param.update(
            label=t("version_picker", self.lang), options=version_options(self.store), value=self.store.model_ref
        )

    def _picked(self, event: param.parameterized.Event) -> None:
        if event.new and event.new != self.store.model_ref:
            self.store.model_ref = event.new


def version_options(store: DataStore) -> dict[str, str]:
    """Labels → refs for the version picker: aliases first, then versions, newest first."""
    lang = store.lang
    options: dict[str, str] = {}
    for summary in store.versions:
        for alias in summary.aliases:
            options[t("alias_option", lang, alias=alias, version=summary.version)] = alias
    for summary in store.versions:
        label = t(
            "version_option",
            lang,
            version=summary.version,
            k=summary.k,
            silhouette=fmt_float(summary.silhouette, lang, 3),
        )
        options[label] = str(summary.version)
    if store.model_ref not in options.values():
        options[store.model_ref] = store.model_ref  # an unknown ref stays visible next to its error
    return options


class LanguagePicker(StoreViewer):
    """English / French switch."""

    def __panel__(self) -> pn.viewable.Viewable:
        toggle = pmui.RadioButtonGroup(
            options={"English": "en", "Français": "fr"},
            value=self.store.lang,
            size="small",
            css_classes=["language-picker"],
            # White on the blue app bar: the default dark text on primary blue is hard to read.
            sx={
                "& .MuiToggleButton-root": {"color": "rgba(255,255,255,0.8)", "borderColor": "rgba(255,255,255,0.5)"},
                "& .MuiToggleButton-root.Mui-selected": {
                    "color": "white",
                    "backgroundColor": "rgba(255,255,255,0.22)",
                },
            },
        )
        toggle.link(self.store, value="lang", bidirectional=True)
        return toggle


# --- KPIs --------------------------------------------------------------------------------------------


class SegmentKPIs(StoreViewer):
    """One card per segment: name, customers and share, revenue and share, shipments, selection.

    Cards are built per model; a selection only rewrites their text (rebuilding the cards and their
    download buttons on every brush cost half a second at 1M customers).
    """

    def __init__(self, store: DataStore, **params: object) -> None:
        super().__init__(store, **params)
        self._bodies: list[pn.pane.HTML] = []
        store.param.watch(self._selection_changed, "selected")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.panel(self._render)

    @param.depends("store.revision")
    def _render(self) -> pn.viewable.Viewable:
        stats = self.store.segment_stats()
        if stats.empty:
            self._bodies = []
            return pn.Column(height=0, margin=0)
        self._bodies = [
            LiveHTML(self._card_html(segment, row), stylesheets=[_KPI_CSS], margin=0, sizing_mode="stretch_width")
            for segment, row in stats.iterrows()
        ]
        cards = [self._card(segment, body) for segment, body in enumerate(self._bodies)]
        # Equal columns, at most six a row: cards stay readable at 1280 px for any k up to 10.
        return pn.GridBox(*cards, ncols=min(len(cards), 6), sizing_mode="stretch_width", css_classes=["kpis"])

    def _selection_changed(self, *_: object) -> None:
        if not self._bodies:
            return
        for (segment, row), body in zip(self.store.segment_stats().iterrows(), self._bodies, strict=True):
            body.object = self._card_html(segment, row)

    def _card_html(self, segment: int, row: pd.Series) -> str:
        lang = self.lang
        swatch = f'<span class="swatch" style="background:{segment_colour(segment)}"></span>'
        lines = [
            f'<div class="kpi-name">{swatch}{escape(row["name"])}</div>',
            f'<div class="kpi-desc">{escape(row.get("description", ""))}</div>',
            f'<div class="kpi-main">{fmt_int(row["customers"], lang)}</div>',
            f'<div class="kpi-line">{t("kpi_customers", lang).lower()} · {fmt_pct(row["share"], lang)}</div>',
        ]
        if "revenue" in row:
            revenue = fmt_money_short(row["revenue"], lang, units(self.store)["currency"])
            lines.append(
                f'<div class="kpi-line"><b>{revenue}</b> · '
                f"{fmt_pct(row['revenue_share'], lang)} {t('kpi_of_revenue', lang)}</div>"
            )
            if row["customers"]:
                per_customer = fmt_money(row["revenue"] / row["customers"], lang, units(self.store)["currency"])
                lines.append(f'<div class="kpi-line">{t("kpi_per_customer", lang, money=per_customer)}</div>')
        if "shipments" in row:
            lines.append(
                f'<div class="kpi-line"><b>{fmt_int(row["shipments"], lang)}</b> '
                f"{t('kpi_orders' if units(self.store)['orders'] else 'kpi_shipments', lang).lower()}</div>"
            )
        if self.store.selected is not None:
            # The filter's customers, revenue and volume of this segment, not only a head count.
            parts = [f"<b>{fmt_int(row['selected'], lang)}</b> {t('kpi_in_selection', lang)}"]
            if "selected_revenue" in row:
                parts.append(fmt_money_short(row["selected_revenue"], lang, units(self.store)["currency"]))
            if "selected_shipments" in row:
                unit = t("kpi_orders" if units(self.store)["orders"] else "kpi_shipments", lang).lower()
                parts.append(f"{fmt_int(row['selected_shipments'], lang)} {unit}")
            lines.append(f'<div class="kpi-line kpi-selected">{" · ".join(parts)}</div>')
        return f'<div class="kpi">{"".join(lines)}</div>'

    def _card(self, segment: int, body: pn.pane.HTML) -> pn.viewable.Viewable:
        download = pmui.FileDownload(
            callback=lambda s=segment: self.store.export_segment(s),
            filename=export_filename(self.store, self.store.model.names(self.lang).get(segment, str(segment))),
            label=t("export_segment", self.lang),
            icon="download",
            size="small",
            description=t("export_segment_help", self.lang),
            css_classes=[f"export-segment-{segment}"],
            margin=0,
        )
        # Set after construction: Panel's FileDownload warns when variant is a constructor argument.
        download.variant = "text"
        return pmui.Paper(
            body,
            download,
            elevation=1,
            styles={"border-top": f"4px solid {segment_colour(segment)}", "padding": "6px 8px"},
            sizing_mode="stretch_width",
            margin=(0, 8, 8, 0),
        )


_KPI_CSS = """
.kpi-name { font-weight: 600; font-size: 12.5px; line-height: 1.25; min-height: 2.5em; display: flex; gap: 6px; }
.swatch { flex: none; width: 10px; height: 10px; border-radius: 50%; margin-top: 3px; }
.kpi-desc { font-size: 11.5px; line-height: 1.3; color: #444; min-height: 4em; margin: 2px 0; }
.kpi-main { font-size: 20px; font-weight: 600; margin: 2px 0 0 0; }
.kpi-line { font-size: 12px; color: #333; white-space: nowrap; }
.kpi-selected { color: #0b57d0; margin-top: 2px; white-space: normal; }
"""


# --- linked views ------------------------------------------------------------------------------------


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
        self._histogram_grid.objects = [_placeholder(200) for _ in shown]
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
        # count_cat + datashade (DESIGN §7); the browser gets one image, never the points.
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
            hooks=[_weak_hook(self._listen_to_taps)],
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


def _weak_hook(method: object) -> object:
    """A plot hook that calls ``method`` while its object lives, and holds it only weakly.

    HoloViews keeps an element's options, hooks included, in its process-wide option trees: a hook
    bound to a view would keep the view, its store and the session's data alive after the session
    ends (tests/browser/test_session_release.py).
    """
    ref = weakref.WeakMethod(method)

    def hook(plot: object, element: object) -> None:
        bound = ref()
        if bound is not None:
            bound(plot, element)

    return hook


def _mounted_later(build: object, height: int) -> pn.viewable.Viewable:
    """The plot ``build()`` returns, added to the page in a later server callback than its tab.

    Workaround for panel-material-ui 0.x (panel-extensions/panel-material-ui#548, open): a tab's
    layout that arrives with a Bokeh plot inside measures the plot before the plot has built its own
    layout, and the browser logs "Cannot read properties of undefined (reading 'top_panel')". A plot
    added to an already-mounted column is measured after it is built. (Needed while the tab bodies
    were inside ``pmui.Tabs``; kept with the tab-bar workaround of :class:`Dashboard`, not
    re-measured without it.) Outside a served page (tests, exports) the plot is built at once.
    """
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        return build()
    holder = pn.Column(_placeholder(height), sizing_mode="stretch_width", min_height=height)

    def fill() -> None:
        holder.objects = [build()]

    # After a delay, not at the next tick: the tab's models must have reached the browser and been
    # mounted. Panel's periodic callback (run once) sets the session's document for ``build``.
    pn.state.add_periodic_callback(fill, period=MOUNT_DELAY_MS, count=1)
    return holder


def _placeholder(height: int) -> pn.viewable.Viewable:
    return pn.Spacer(height=height, sizing_mode="stretch_width")


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


# --- customer table ----------------------------------------------------------------------------------


class CustomerTable(StoreViewer):
    """The selection's customers (remote pagination), search by id, segment filter and CSV export.

    The widgets are built once and relabelled per model: a table rebuilt per model would leave its
    predecessor watching the store, fed every selection (1M rows) for nothing.
    """

    def __init__(self, store: DataStore, **params: object) -> None:
        super().__init__(store, **params)
        self._search = pmui.TextInput(value=store.search, width=260, css_classes=["search"], margin=(0, 10))
        self._search.link(store, value="search", bidirectional=True)
        self._segments = pmui.MultiChoice(
            value=list(store.segment_filter), width=440, css_classes=["segment-filter"], margin=(0, 10)
        )
        self._segments.link(store, value="segment_filter", bidirectional=True)
        self._export = pmui.FileDownload(
            callback=store.export_rows,
            filename="customers-selection.csv",
            icon="download",
            css_classes=["export-rows"],
            margin=(0, 10),
            align="center",
        )
        self._table, self._table_lang = self._make_table(self.lang), self.lang
        self._title = pmui.Typography(variant="h6", margin=(0, 10))
        self._layout = pmui.Paper(
            pn.Row(
                self._title,
                LiveHTML(self._count, margin=(8, 10)),
                pn.HSpacer(),
                self._export,
                sizing_mode="stretch_width",
            ),
            pn.Row(self._search, self._segments),
            self._table,
            sizing_mode="stretch_width",
            styles={"padding": "8px"},
        )
        store.param.watch(self._rows_changed, "rows")
        store.param.watch(self._relabel, "revision")
        self._relabel()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def _relabel(self, *_: object) -> None:
        store, lang = self.store, self.lang
        self._layout.visible = store.customers is not None
        if store.customers is None:
            return
        names = list(store.customers["segment_name"].cat.categories)
        self._title.object = t("table_title", lang)
        self._search.label = t("search", lang)
        self._segments.param.update(
            label=t("segment_filter", lang),
            placeholder=t("segment_filter_all", lang),
            options={name: i for i, name in enumerate(names)},
            value=list(store.segment_filter),
        )
        self._export.param.update(
            label=t("export_rows", lang),
            filename=export_filename(store, t("export_rows_name", lang)),
            disabled=store.rows is None or len(store.rows) == 0,
        )
        if self._table_lang != lang:
            # Tabulator reads its pager's language once, when the browser builds the table: a
            # language switch gets a new table (a rare event; a selection only changes the rows).
            self._table, self._table_lang = self._make_table(lang), lang
            self._layout[2] = self._table
        self._table.param.update(value=store.rows, page=1, titles=self._titles(), formatters=self._formatters())

    @staticmethod
    def _make_table(lang: str) -> _PagedTabulator:
        return _PagedTabulator(
            pagination="remote",
            page_size=TABLE_PAGE_SIZE,
            disabled=True,
            show_index=False,
            selectable=False,
            sizing_mode="stretch_width",
            hidden_columns=["segment"],
            css_classes=["customer-table"],
            layout="fit_data_table",
            configuration=tabulator_language(lang),
        )

    def _rows_changed(self, event: param.parameterized.Event) -> None:
        if event.new is not None:
            self._table.param.update(value=event.new, page=1)
            self._export.disabled = len(event.new) == 0  # an empty file helps nobody

    @param.depends("store.rows", "store.lang")
    def _count(self) -> str:
        n = 0 if self.store.rows is None else len(self.store.rows)
        key = "table_empty" if n == 0 else ("table_rows_one" if n == 1 else "table_rows")
        text = t(key, self.lang, n=fmt_int(n, self.lang))
        return f'<span class="rows-count" data-rows="{n}">{text}</span>'

    def _titles(self) -> dict[str, str]:
        lang = self.lang
        titles = {
            "customer_id": t("customer_id", lang),
            "segment": t("segment", lang),
            "segment_name": t("segment_name", lang),
        }
        titles.update({f: feature_label(f, lang, **units(self.store)) for f in self.store.model.features})
        return titles

    def _formatters(self) -> dict[str, object]:
        return table_formatters(self.store.model.features, self.lang)


def table_formatters(features: list[str], lang: str) -> dict[str, object]:
    """Number formats of the table's feature columns: ``1,234.50`` / ``12.5%`` in English, ``1 234,50`` /
    ``12,5 %`` in French.

    Bokeh's ``NumberFormatter(language="fr")`` still writes a decimal point inside Panel's Tabulator:
    French numbers use Tabulator's own ``money`` formatter (any separators) and, for shares, a template.
    """
    formatters: dict[str, object] = {}
    for feature in features:
        decimals = 2 if feature in {"monetary", "avg_amount", "avg_weight_kg"} else 0
        if lang != "fr":
            pattern = "0.0%" if feature in SHARE_FEATURES else ("0,0.00" if decimals else "0,0")
            formatters[feature] = NumberFormatter(format=pattern, text_align="right")
        elif feature in SHARE_FEATURES:
            # The value is a number (never text from the data): the template cannot inject markup.
            formatters[feature] = HTMLTemplateFormatter(
                template="<%= value == null ? '' : (100 * value).toFixed(1).replace('.', ',') + '\u202f%' %>"
            )
        else:
            formatters[feature] = {"type": "money", "decimal": ",", "thousand": "\u202f", "precision": decimals}
    return formatters


def export_filename(store: DataStore, what: str) -> str:
    """``v3-lapsed-heavy-parcel-shippers-2026-12-01.csv``: the model version, what is exported, the day.

    Analysts keep exports side by side: the name says which model cut them, which customers and when.
    """
    slug = re.sub(r"[^0-9a-z]+", "-", unicodedata.normalize("NFKD", what).encode("ascii", "ignore").decode().lower())
    version = f"v{store.model.version}-" if store.model is not None else ""
    return f"{version}{slug.strip('-') or 'customers'}-{pd.Timestamp.now().date().isoformat()}.csv"


def tabulator_language(lang: str) -> dict[str, object]:
    """Tabulator's ``locale`` and ``langs`` options: the pager's words in the interface language."""
    pager = {
        key: t(f"pager_{key}", lang)
        for key in ("first", "first_title", "last", "last_title", "prev", "prev_title", "next", "next_title")
    }
    pager["page_size"] = t("pager_page_size", lang)
    pager["counter"] = {"showing": t("pager_showing", lang), "of": t("pager_of", lang), "rows": t("pager_rows", lang)}
    return {"locale": lang, "langs": {lang: {"pagination": pager}}}


class _PositionToIndex:
    """``Tabulator``'s row position → index lookup, answered from the index itself."""

    def __init__(self, index: pd.Index | None) -> None:
        self._index = index

    def get(self, position: int, default: object = None) -> object:
        """The index label at ``position``, else ``default``."""
        if self._index is None or not 0 <= position < len(self._index):
            return default
        return self._index[position]


class _PagedTabulator(pn.widgets.Tabulator):
    """Panel's Tabulator without the Python dict from row position to index it builds on every value.

    With remote pagination the browser holds one page, but Panel 1.9 still maps every row of the
    value in a dict comprehension (0.2–0.3 s at 1M rows, on each selection). The dict only serves
    ``.get(row)`` for cell events, which the index answers directly.
    """

    def _update_index_mapping(self) -> None:
        processed = self._processed
        self._index_mapping = _PositionToIndex(processed.index if isinstance(processed, pd.DataFrame) else None)


# --- compare versions --------------------------------------------------------------------------------


class CompareVersions(StoreViewer):
    """Migration matrix between the shown version and a second one, on the same customers."""

    def __init__(self, store: DataStore, **params: object) -> None:
        super().__init__(store, **params)
        # Created once (see CustomerTable); lazy: the second model loads when the tab is opened.
        self._matrix_pane = pn.panel(self._matrix, sizing_mode="stretch_width", lazy=True)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.panel(self._render, lazy=True)

    @param.depends("store.revision")
    def _render(self) -> pn.viewable.Viewable:
        store = self.store
        if store.model is None:
            return pn.Column(height=0, margin=0)
        lang = self.lang
        # The store keeps ``compare_ref`` among these (in the same update as a version switch).
        choices = store.compare_choices()
        others = {label: ref for label, ref in version_options(store).items() if ref in choices}
        if not others:
            return pmui.Alert(object=t("compare_only_one", lang), severity="info", sizing_mode="stretch_width")
        picker = pmui.Select(
            label=t("compare_with", lang),
            options=others,
            value=store.compare_ref,
            width=320,
            css_classes=["compare-picker"],
        )
        picker.link(store, value="compare_ref")
        return pn.Column(picker, self._matrix_pane, sizing_mode="stretch_width")

    @param.depends("store.compare_ref", "store.revision")
    def _matrix(self) -> pn.viewable.Viewable:
        store, lang = self.store, self.lang
        if store.model is None:
            return pn.Column(height=0, margin=0)
        if store.compare_ref not in store.compare_choices():
            return pmui.Typography(t("compare_pick", lang))
        result = store.migration(store.compare_ref)
        if isinstance(result, Problem):
            return pmui.Alert(object=t("err_compare", lang, **result.params), severity="warning")
        return migration_view(result, lang)


def migration_view(result: Migration, lang: str) -> pn.viewable.Viewable:
    """Heatmap of the migration counts with the numbers written in the cells."""
    counts = result.counts
    long = counts.rename_axis(index="from", columns="to").reset_index().melt(id_vars="from", value_name="count")
    long["text"] = [fmt_int(v, lang) for v in long["count"]]
    from_dim = hv.Dimension("from", label=t("segments_of", lang, version=result.version_a))
    to_dim = hv.Dimension("to", label=t("segments_of", lang, version=result.version_b))
    count_dim = hv.Dimension("count", label=t("count", lang))
    top = max(int(long["count"].max()), 1)
    # Linear colours from 0: an empty cell stays white, and the numbers carry the small flows.
    heat = hv.HeatMap(long, kdims=[to_dim, from_dim], vdims=[count_dim]).opts(
        cmap="Blues",
        clim=(0, top),
        colorbar=False,
        responsive=True,
        height=90 + 44 * counts.shape[0],
        xrotation=20,
        tools=["hover"],
        invert_yaxis=True,
        fontsize=PLOT_FONT,
        line_color="white",
        line_width=1,
        toolbar=None,
    )
    dark = long["count"].to_numpy() > 0.55 * top
    labels = [
        hv.Labels(long[rows], kdims=[to_dim, from_dim], vdims=["text"]).opts(text_font_size="10pt", text_color=ink)
        for rows, ink in ((~dark, "black"), (dark, "white"))
    ]
    total = int(counts.to_numpy().sum())
    return pn.Column(
        pmui.Typography(
            t("migration_title", lang, a=result.version_a, b=result.version_b),
            variant="subtitle1",
            css_classes=["migration-title"],
        ),
        pmui.Typography(
            t("migration_summary", lang, n=fmt_int(total, lang), a=result.version_a, b=result.version_b),
            variant="body2",
            css_classes=["migration-summary"],
        ),
        _mounted_later(
            lambda: pn.pane.HoloViews(
                heat * labels[0] * labels[1], sizing_mode="stretch_width", css_classes=["migration"]
            ),
            height=90 + 44 * counts.shape[0],
        ),
        sizing_mode="stretch_width",
    )


# --- drift -------------------------------------------------------------------------------------------


class DriftView(StoreViewer):
    """PSI per feature and segment share change of ``--data`` against the training data."""

    def __panel__(self) -> pn.viewable.Viewable:
        # Lazy: reading the training data for the reference distribution waits for the tab to open.
        return pn.panel(self._render, lazy=True)

    @param.depends("store.revision")
    def _render(self) -> pn.viewable.Viewable:
        store, lang = self.store, self.lang
        if store.model is None:
            return pn.Column(height=0, margin=0)
        drift = store.drift()
        if drift is None:
            return pmui.Alert(object=t("drift_needs_data", lang), severity="info", sizing_mode="stretch_width")
        if isinstance(drift, Problem):
            return pmui.Alert(object=_as_text(drift).message(lang), severity="warning", sizing_mode="stretch_width")
        return drift_view(drift, store, lang)


def drift_view(drift: Drift, store: DataStore, lang: str) -> pn.viewable.Viewable:
    """Bars of PSI per feature coloured by flag, with the 0.1 and 0.25 lines, and the share table."""
    table = drift.psi.iloc[::-1].copy()  # bars are drawn bottom-up: the largest PSI ends on top
    table["label"] = [feature_label(f, lang, **units(store)) for f in table["feature"]]
    table["status"] = [t(f"flag_{flag}", lang) for flag in table["flag"]]
    table["colour"] = [FLAG_COLOURS[flag] for flag in table["flag"]]
    psi_dim = hv.Dimension("psi", label=t("psi", lang))
    bars = hv.Bars(table, kdims=[hv.Dimension("label", label=t("feature", lang))], vdims=[psi_dim, "status", "colour"])
    top = max(0.3, float(np.nanmax(table["psi"])) * 1.1) if len(table) else 0.3
    chart = (
        bars.opts(
            color="colour",
            invert_axes=True,
            responsive=True,
            height=60 + 28 * len(table),
            tools=["hover"],
            fontsize=PLOT_FONT,
            ylim=(0, top),
            toolbar=None,
            xlabel="",
        )
        # HLine: with invert_axes the value axis is horizontal, and the lines turn with it.
        * hv.HLine(0.1).opts(color=FLAG_COLOURS["moderate"], line_dash="dashed", line_width=1.5)
        * hv.HLine(0.25).opts(color=FLAG_COLOURS["major"], line_dash="dashed", line_width=1.5)
    )
    names = store.model.names(lang)
    shares = drift.shares
    share_rows = pd.DataFrame(
        {
            t("segment", lang): [names.get(s, str(s)) for s in shares.index],
            t("share_training", lang): [fmt_pct(v, lang) for v in shares["reference"]],
            t("share_current", lang): [fmt_pct(v, lang) for v in shares["current"]],
            t("share_change", lang): [_signed_points(v, lang) for v in shares["change"]],
        }
    )
    summary = t(
        "drift_summary",
        lang,
        new=fmt_int(drift.n_current, lang),
        path=escape(store.data_path or "", quote=False),  # Typography renders Markdown, raw HTML included
        old=fmt_int(drift.n_reference, lang),
    )
    flag = t(f"flag_{psi_flag(drift.segment_psi)}", lang)
    return pn.Column(
        pmui.Typography(summary, variant="body2"),
        pmui.Typography(t("drift_title", lang), variant="subtitle1"),
        pmui.Typography(t("drift_help", lang), variant="caption"),
        _mounted_later(
            lambda: pn.pane.HoloViews(chart, sizing_mode="stretch_width", css_classes=["drift-chart"]),
            height=60 + 28 * len(table),
        ),
        pmui.Typography(
            f"{t('drift_shares_title', lang)} — {t('psi', lang)} {fmt_float(drift.segment_psi, lang, 3)} ({flag})",
            variant="subtitle1",
        ),
        pn.widgets.Tabulator(
            share_rows, show_index=False, disabled=True, sizing_mode="stretch_width", css_classes=["drift-shares"]
        ),
        sizing_mode="stretch_width",
    )


def _signed_points(change: float, lang: str) -> str:
    """A share change in percentage points with its sign (``+1.5``, ``−0.3``); ``0.0`` rather than ``-0.0``."""
    points = round(100 * change, 1)
    if points == 0:
        return fmt_float(0.0, lang, 1)
    return ("+" if points > 0 else "\u2212") + fmt_float(abs(points), lang, 1)


# --- the page ----------------------------------------------------------------------------------------


class Dashboard(StoreViewer):
    """The whole page: app bar, sidebar with the version picker and model card, KPIs and tabs."""

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        keys = ("tab_explore", "tab_compare", "tab_drift")
        # Workaround for panel-material-ui 0.x (panel-extensions/panel-material-ui#548, open): its
        # Tabs mount only the active tab's views, and a Bokeh plot mounted again when its tab comes
        # back logs "Cannot read properties of undefined (reading 'top_panel')". The Tabs here are
        # only the tab bar; the three bodies stay mounted below it and the inactive ones are hidden
        # (``visible``), which Bokeh lays out without error. Compare and Drift are built when first
        # opened: they load a second model or read the training data.
        tab_bar = pmui.Tabs(
            *((t(key, self.lang), pn.Spacer(height=0, margin=0)) for key in keys),
            sizing_mode="stretch_width",
            css_classes=["page-tabs"],
        )
        bodies = [
            pn.Column(LinkedViews(store), CustomerTable(store), sizing_mode="stretch_width"),
            pn.Column(sizing_mode="stretch_width", visible=False, css_classes=["compare-tab"]),
            pn.Column(sizing_mode="stretch_width", visible=False, css_classes=["drift-tab"]),
        ]
        builders = {1: CompareVersions, 2: DriftView}

        def show(event: param.parameterized.Event) -> None:
            active = event.new
            if active in builders and not bodies[active].objects:
                bodies[active].objects = [builders.pop(active)(store)]
            for index, body in enumerate(bodies):
                body.visible = index == active

        tab_bar.param.watch(show, "active")

        def relabel(*_: object) -> None:
            # Tab labels are a parameter of panel-material-ui's Tabs (``_names``): relabel in place.
            tab_bar._names = [t(key, store.lang) for key in keys]

        store.param.watch(relabel, "lang")
        tabs = pmui.Column(tab_bar, *bodies, sizing_mode="stretch_width")
        page = pmui.Page(
            title=t("title", self.lang),
            header=[HeaderTitle(store), pn.Spacer(), LanguagePicker(store)],
            sidebar=[VersionPicker(store), ModelCard(store)],
            main=[ProblemBanner(store), pn.panel(self._main(tabs))],
            sidebar_width=330,
            busy_indicator="linear",
            theme_toggle=False,
        )
        store.param.watch(lambda event: page.param.update(title=t("title", event.new)), "lang")
        return page

    def _main(self, tabs: pn.Column) -> object:
        @param.depends(self.store.param.problem)
        def main(problem: Problem | None = None) -> pn.viewable.Viewable:
            if self.store.problem is not None:
                return pn.Column(height=0, margin=0)
            return pn.Column(SegmentKPIs(self.store), tabs, sizing_mode="stretch_width")

        return main


__all__ = [
    "SEGMENT_COLOURS",
    "CompareVersions",
    "CustomerTable",
    "Dashboard",
    "DriftView",
    "HeaderTitle",
    "LanguagePicker",
    "LinkedViews",
    "ModelCard",
    "ProblemBanner",
    "SegmentKPIs",
    "StoreViewer",
    "VersionPicker",
    "migration_view",
    "problem_alert",
    "version_options",
]
