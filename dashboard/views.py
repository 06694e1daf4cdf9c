"""The page: app bar, version and language pickers, model card, KPI cards and the three tabs.

The tabs' contents are in ``linked_views`` and ``table_view`` (Explore) and ``version_views``
(Compare, Drift); every view is a :class:`~dashboard.viewer.StoreViewer`.
"""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from dashboard.export import export_filename
from dashboard.i18n import fmt_float, fmt_int, fmt_money, fmt_money_short, fmt_pct, recommendation_text, t
from dashboard.linked_views import LinkedViews
from dashboard.palette import segment_colour
from dashboard.panel_fixes import LiveHTML, relabel_tabs, tab_bar_only
from dashboard.store import DataStore, Problem
from dashboard.table_view import CustomerTable
from dashboard.version_views import CompareVersions, DriftView
from dashboard.viewer import StoreViewer, problem_alert, units, version_options

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


# --- customer table ----------------------------------------------------------------------------------


# --- compare versions --------------------------------------------------------------------------------


# --- drift -------------------------------------------------------------------------------------------


# --- the page ----------------------------------------------------------------------------------------


class Dashboard(StoreViewer):
    """The whole page: app bar, sidebar with the version picker and model card, KPIs and tabs."""

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        keys = ("tab_explore", "tab_compare", "tab_drift")
        tab_bar = tab_bar_only([t(key, self.lang) for key in keys], css_classes=["page-tabs"])
        # Compare and Drift are built when first opened: they load a second model or read the
        # training data.
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

        store.param.watch(lambda event: relabel_tabs(tab_bar, [t(key, event.new) for key in keys]), "lang")
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
