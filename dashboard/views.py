"""Thin ``pn.viewable.Viewer`` classes that render a :class:`~dashboard.store.DataStore`.

Each viewer reads the store and writes back only what the user asked for (a version, a segment
filter, a search, the language); the store does the work. Views that depend on the model rebuild on
``store.revision``; views that depend on the selection update on ``store.selected`` / ``store.rows``.
"""

from __future__ import annotations

from html import escape

import datashader as ds
import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param
from bokeh.models import NumberFormatter
from holoviews.operation.datashader import datashade, dynspread

from dashboard.analysis import psi_flag
from dashboard.i18n import feature_label, fmt_float, fmt_int, fmt_money_short, fmt_pct, t
from dashboard.store import (
    SEGMENT_COLOURS,
    DataStore,
    Drift,
    Migration,
    Problem,
    segment_colour,
)
from workflow.features import SHARE_FEATURES, SKEWED_FEATURES

#: Features whose distributions are shown first (the RFM trio, then price), when the model has them.
DEFAULT_DISTRIBUTIONS = ("recency_days", "frequency", "monetary", "avg_amount")
#: Histograms of long-tailed features are drawn between these quantiles, or one bar would hold all.
HIST_QUANTILES = (0.01, 0.99)
HIST_BINS = 30
TABLE_PAGE_SIZE = 10
#: Colours of the drift flags: green, amber and red read as "fine / watch / act" to most people.
FLAG_COLOURS = {"stable": "#2ca02c", "moderate": "#ff9f1c", "major": "#d62728"}
PLOT_FONT = {"title": "11pt", "labels": "10pt", "xticks": "9pt", "yticks": "9pt"}


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


def problem_alert(problem: Problem, lang: str) -> pmui.Alert:
    """An error alert with the problem and its fix (used by the page and the tests)."""
    text = f"{problem.message(lang)}\n\n**{t('fix', lang)}:** {problem.fix(lang)}"
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
            html += f'<p class="recommendation"><b>{t("recommendation", lang)}.</b> {escape(model.recommendation)}</p>'
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
        options = version_options(self.store)
        with param.parameterized.discard_events(self._select):
            self._select.param.update(label=t("version_picker", self.lang))
        self._select.param.update(options=options, value=self.store.model_ref)

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
            pn.pane.HTML(self._card_html(segment, row), stylesheets=[_KPI_CSS], margin=0, sizing_mode="stretch_width")
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
            f'<div class="kpi-main">{fmt_int(row["customers"], lang)}</div>',
            f'<div class="kpi-line">{t("kpi_customers", lang).lower()} · {fmt_pct(row["share"], lang)}</div>',
        ]
        if "revenue" in row:
            lines.append(
                f'<div class="kpi-line"><b>{fmt_money_short(row["revenue"], lang)}</b> · '
                f"{fmt_pct(row['revenue_share'], lang)} {t('kpi_of_revenue', lang)}</div>"
            )
        if "shipments" in row:
            lines.append(
                f'<div class="kpi-line"><b>{fmt_int(row["shipments"], lang)}</b> '
                f"{t('kpi_shipments', lang).lower()}</div>"
            )
        if self.store.selected is not None:
            lines.append(
                f'<div class="kpi-line kpi-selected"><b>{fmt_int(row["selected"], lang)}</b> '
                f"{t('kpi_in_selection', lang)}</div>"
            )
        return f'<div class="kpi">{"".join(lines)}</div>'

    def _card(self, segment: int, body: pn.pane.HTML) -> pn.viewable.Viewable:
        download = pmui.FileDownload(
            callback=lambda s=segment: self.store.export_segment(s),
            filename=f"segment-{segment}.csv",
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
.kpi-name { font-weight: 600; font-size: 12.5px; line-height: 1.25; min-height: 3.75em; display: flex; gap: 6px; }
.swatch { flex: none; width: 10px; height: 10px; border-radius: 50%; margin-top: 3px; }
.kpi-main { font-size: 20px; font-weight: 600; margin: 2px 0 0 0; }
.kpi-line { font-size: 12px; color: #333; white-space: nowrap; }
.kpi-selected { color: #0b57d0; margin-top: 2px; }
"""


# --- linked views ------------------------------------------------------------------------------------


class LinkedViews(StoreViewer):
    """PCA scatter (datashaded), per-feature distributions by segment and the z-score heatmap.

    The scatter and the histograms are linked by the store's ``hv.link_selections``: brushing one
    highlights the selection in all and filters the table. The heatmap shows the brushed customers'
    z-scores; clicking one of its rows filters the table to that segment.
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
            on_click=lambda _: store.clear_selection(),
        )
        self._selection_pane = pn.pane.HTML(self._selection_text, margin=(0, 10))
        self._heatmap_title_pane = pmui.Typography(self._heatmap_title, variant="subtitle1", margin=(0, 5))
        self._histogram_grid = pn.GridBox(ncols=2, sizing_mode="stretch_width", min_height=420)
        self._selection_stream = hv.streams.Params(store, ["selected"])

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.panel(self._render)

    @param.depends("store.revision")
    def _render(self) -> pn.viewable.Viewable:
        store = self.store
        if store.customers is None:
            return pn.Column(height=0, margin=0)
        lang = self.lang
        features = store.model.features
        shown = [f for f in DEFAULT_DISTRIBUTIONS if f in features] or features[:4]
        with param.parameterized.discard_events(self):
            self.features_shown = shown
        self._picker.param.update(
            label=t("distributions_pick", lang),
            options={feature_label(f, lang): f for f in features},
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
                lambda: pn.pane.HoloViews(self._heatmap(), sizing_mode="stretch_width", linked_axes=False),
                height=120 + 38 * store.model.k,
            ),
            pmui.Typography(t("heatmap_help", lang), variant="caption", margin=(0, 5)),
            sizing_mode="stretch_width",
            styles={"padding": "8px"},
        )
        toolbar = pn.Row(self._clear, self._selection_pane, align="center", sizing_mode="stretch_width")
        return pn.Column(
            toolbar,
            pn.Row(scatter, distributions, sizing_mode="stretch_width"),
            heatmap,
            sizing_mode="stretch_width",
        )

    def _fill_histograms(self) -> pn.GridBox:
        self._histogram_grid.objects = [self._histogram(feature) for feature in self.features_shown]
        return self._histogram_grid

    @param.depends("features_shown", watch=True)
    def _features_picked(self) -> None:
        if self.store.customers is not None:
            self._fill_histograms()

    def _scatter(self) -> hv.DynamicMap:
        store, lang = self.store, self.lang
        explained = store.scored.explained
        axes = [
            hv.Dimension(f"pc{n}", label=t("pc_axis", lang, n=n, share=fmt_pct(explained[n - 1], lang, 0)))
            for n in (1, 2)
        ]
        # Open on the bulk of the customers: a few extreme accounts would otherwise squeeze everyone
        # else into a corner. They stay reachable by zooming out.
        for axis, column in zip(axes, ("pc1", "pc2"), strict=True):
            low, high = np.quantile(store.customers[column].to_numpy(), [0.001, 0.999])
            pad = 0.05 * (high - low)
            axis.range = (float(low - pad), float(high + pad))
        points = hv.Points(store.dataset, kdims=axes, vdims=["segment_name"])
        names = list(store.customers["segment_name"].cat.categories)
        colour_key = {name: segment_colour(i) for i, name in enumerate(names)}
        # datashade, not rasterize: categorical colour with pandas string columns only works through
        # count_cat + datashade (DESIGN §7); the browser gets one image, never the points.
        shaded = datashade(points, aggregator=ds.count_cat("segment_name"), color_key=colour_key, min_alpha=90)
        spread = dynspread(shaded, threshold=0.6, max_px=3)
        linked = store.links(spread)
        return linked.opts(
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

    def _hist_edges(self, feature: str) -> tuple[np.ndarray, bool]:
        """Bin edges of a feature's histogram and whether they are logarithmic.

        Counts, durations and money have heavy right tails (the model log-transforms them too):
        they get log-spaced bins between the 1st and 99th percentiles, or every customer but the
        biggest would share the first bar. Shares get linear bins over [0, 1].
        """
        if feature in SHARE_FEATURES:
            return np.linspace(0.0, 1.0, HIST_BINS + 1), False
        values = self.store.customers[feature].to_numpy()
        low, high = (float(v) for v in np.nanquantile(values, HIST_QUANTILES))
        if feature in SKEWED_FEATURES and low > 0 and high > low:
            return np.geomspace(low, high, HIST_BINS + 1), True
        if not high > low:
            high = low + 1.0
        return np.linspace(low, high, HIST_BINS + 1), False

    def _histogram(self, feature: str) -> pn.pane.HoloViews:
        store, lang = self.store, self.lang
        edges, log = self._hist_edges(feature)
        label = feature_label(feature, lang) + (" (log)" if log else "")
        # The histogram of all customers is linked (brush it, see the selection in it); one glyph
        # set per feature keeps a selection update fast at 1M customers. Each segment's own
        # histogram is drawn over it as a coloured step line: the distribution by segment.
        histogram = hv.operation.histogram(store.dataset, dimension=feature, bins=edges)
        linked = store.links(histogram).opts(
            hv.opts.Histogram(
                color="#9aa7b8",
                line_color="white",
                tools=["xbox_select"],
                active_tools=["xbox_select"],
            )
        )
        plot = (linked * self._segment_lines(feature, edges)).opts(
            hv.opts.Overlay(
                logx=log,
                xticks=_log_ticks(edges[0], edges[-1]) if log else 5,
                responsive=True,
                height=200,
                xlabel=label,
                ylabel=t("customers_axis", lang),
                fontsize=PLOT_FONT,
                show_legend=False,
                toolbar=None,
                yformatter="%.0f",
            )
        )
        return pn.pane.HoloViews(plot, sizing_mode="stretch_width", height=200, linked_axes=False)

    def _segment_lines(self, feature: str, edges: np.ndarray) -> hv.Overlay:
        frame = self.store.customers
        low, high = edges[0], edges[-1]
        values = frame[feature].to_numpy()
        labels = frame["segment"].to_numpy()
        # One pass over the customers for all segments: bin index × k + segment, then bincount.
        inside = (values >= low) & (values <= high)
        bins = np.clip(np.searchsorted(edges, values[inside], side="right") - 1, 0, HIST_BINS - 1)
        k = self.store.model.k
        counts = np.bincount(bins * k + labels[inside], minlength=HIST_BINS * k).reshape(HIST_BINS, k)
        xs = np.repeat(edges, 2)[1:-1]
        # One Curve per segment: a selection redraws every layer of the chart, and a Curve redraws
        # several times faster than a multi-line Path (measured: +0.1 s against +1.5 s for 4 charts).
        names = list(frame["segment_name"].cat.categories)
        return hv.Overlay(
            [
                hv.Curve((xs, np.repeat(counts[:, s], 2)), feature, "count", label=names[s]).opts(
                    color=segment_colour(s), line_width=2
                )
                for s in range(k)
            ]
        )

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
        dmap = hv.DynamicMap(lambda selected: self._heatmap_element(), streams=[self._selection_stream])
        tap = hv.streams.Tap(source=dmap)
        tap.add_subscriber(self._heatmap_tapped)
        return dmap

    def _heatmap_element(self) -> hv.Overlay:
        store, lang = self.store, self.lang
        z = store.z_scores()
        names = list(store.customers["segment_name"].cat.categories)
        labels = [feature_label(f, lang) for f in z.columns]
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
            tools=["hover", "tap"],
            invert_yaxis=True,
            fontsize=PLOT_FONT,
            line_color="white",
            line_width=1,
            toolbar=None,
            xlabel="",
            ylabel="",
            framewise=True,
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
        self._table = pn.widgets.Tabulator(
            pagination="remote",
            page_size=TABLE_PAGE_SIZE,
            disabled=True,
            show_index=False,
            selectable=False,
            sizing_mode="stretch_width",
            hidden_columns=["segment"],
            css_classes=["customer-table"],
            layout="fit_data_table",
        )
        self._title = pmui.Typography(variant="h6", margin=(0, 10))
        self._layout = pmui.Paper(
            pn.Row(
                self._title,
                pn.pane.HTML(self._count, margin=(8, 10)),
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
        self._export.label = t("export_rows", lang)
        self._table.param.update(value=store.rows, page=1, titles=self._titles(), formatters=self._formatters())

    def _rows_changed(self, event: param.parameterized.Event) -> None:
        if event.new is not None:
            self._table.param.update(value=event.new, page=1)

    @param.depends("store.rows", "store.lang")
    def _count(self) -> str:
        n = 0 if self.store.rows is None else len(self.store.rows)
        text = t("table_rows", self.lang, n=fmt_int(n, self.lang))
        return f'<span class="rows-count" data-rows="{n}">{text}</span>'

    def _titles(self) -> dict[str, str]:
        lang = self.lang
        titles = {
            "customer_id": t("customer_id", lang),
            "segment": t("segment", lang),
            "segment_name": t("segment_name", lang),
        }
        titles.update({f: feature_label(f, lang) for f in self.store.model.features})
        return titles

    def _formatters(self) -> dict[str, NumberFormatter]:
        language = "fr" if self.lang == "fr" else "en"
        formatters = {}
        for feature in self.store.model.features:
            if feature in SHARE_FEATURES:
                pattern = "0.0%"
            elif feature in {"monetary", "avg_amount", "avg_weight_kg"}:
                pattern = "0,0.00"
            else:
                pattern = "0,0"
            formatters[feature] = NumberFormatter(format=pattern, language=language, text_align="right")
        return formatters


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
        others = {
            label: ref
            for label, ref in version_options(store).items()
            if ref.isdigit() and ref != str(store.model.version)
        }
        if not others:
            return pmui.Alert(object=t("compare_only_one", lang), severity="info", sizing_mode="stretch_width")
        if store.compare_ref not in others.values():
            store.compare_ref = next(iter(others.values()))
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
        if not store.compare_ref:
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
        pmui.Typography(t("migration_title", lang, a=result.version_a, b=result.version_b), variant="subtitle1"),
        pmui.Typography(
            t("migration_summary", lang, n=fmt_int(total, lang), a=result.version_a, b=result.version_b),
            variant="body2",
        ),
        pn.pane.HoloViews(heat * labels[0] * labels[1], sizing_mode="stretch_width", css_classes=["migration"]),
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
            return pmui.Alert(object=drift.message(lang), severity="warning", sizing_mode="stretch_width")
        return drift_view(drift, store, lang)


def drift_view(drift: Drift, store: DataStore, lang: str) -> pn.viewable.Viewable:
    """Bars of PSI per feature coloured by flag, with the 0.1 and 0.25 lines, and the share table."""
    table = drift.psi.iloc[::-1].copy()  # bars are drawn bottom-up: the largest PSI ends on top
    table["label"] = [feature_label(f, lang) for f in table["feature"]]
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
            t("share_change", lang): [
                f"{100 * v:+.1f}".replace(".", "," if lang == "fr" else ".") for v in shares["change"]
            ],
        }
    )
    summary = t(
        "drift_summary",
        lang,
        new=fmt_int(drift.n_current, lang),
        path=store.data_path,
        old=fmt_int(drift.n_reference, lang),
    )
    flag = t(f"flag_{psi_flag(drift.segment_psi)}", lang)
    return pn.Column(
        pmui.Typography(summary, variant="body2"),
        pmui.Typography(t("drift_title", lang), variant="subtitle1"),
        pmui.Typography(t("drift_help", lang), variant="caption"),
        pn.pane.HoloViews(chart, sizing_mode="stretch_width", css_classes=["drift-chart"]),
        pmui.Typography(
            f"{t('drift_shares_title', lang)} — {t('psi', lang)} {fmt_float(drift.segment_psi, lang, 3)} ({flag})",
            variant="subtitle1",
        ),
        pn.widgets.Tabulator(
            share_rows, show_index=False, disabled=True, sizing_mode="stretch_width", css_classes=["drift-shares"]
        ),
        sizing_mode="stretch_width",
    )


# --- the page ----------------------------------------------------------------------------------------


class Dashboard(StoreViewer):
    """The whole page: app bar, sidebar with the version picker and model card, KPIs and tabs."""

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        tabs = pmui.Tabs(
            (
                t("tab_explore", self.lang),
                pn.Column(LinkedViews(store), CustomerTable(store), sizing_mode="stretch_width"),
            ),
            (t("tab_compare", self.lang), CompareVersions(store)),
            (t("tab_drift", self.lang), DriftView(store)),
            dynamic=True,  # compare and drift load a second model or file: only when opened
            sizing_mode="stretch_width",
        )

        def relabel(*_: object) -> None:
            # Tab labels are a parameter of panel-material-ui's Tabs: relabel in place rather than
            # rebuild the tabs (and with them the linked views) on a language switch.
            tabs._names = [t(key, store.lang) for key in ("tab_explore", "tab_compare", "tab_drift")]

        store.param.watch(relabel, "lang")
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

    def _main(self, tabs: pmui.Tabs) -> object:
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
