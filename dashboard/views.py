"""The page: app bar, version and language pickers, model card, KPI cards and the three tabs.

The tabs' contents are in ``linked_views`` and ``table_view`` (Explore) and ``version_views``
(Compare, Drift); every view is a :class:`~dashboard.viewer.StoreViewer`.
"""

from __future__ import annotations

from html import escape
from pathlib import PurePath

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
from dashboard.profile_view import SegmentProfiles
from dashboard.store import DataStore, Problem
from dashboard.table_view import CustomerTable
from dashboard.version_views import CompareVersions, DriftView
from dashboard.viewer import StoreViewer, picked_version, problem_alert, units, version_options

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
    """The shown version for the reader it serves: plain words first, the data scientist's numbers after.

    First what an analyst asks (which version, how many segments and customers, what period, trained
    when and on which file), then under "Details" the model name, k, silhouette, stability, why this k,
    the exact registration time, the data digest, the training file's full path and the run link.
    """

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.panel(self._render)

    @param.depends("store.revision", "store.lang")
    def _render(self) -> pn.viewable.Viewable:
        model, lang = self.store.model, self.lang
        if model is None:
            return pn.Column(height=0, margin=0)
        html = _table(self._plain_rows()) + f'<h4 class="details">{t("card_details", lang)}</h4>'
        html += _table(self._detail_rows())
        if self.store.ui_address and model.run_id:
            url = _run_url(self.store.ui_address, model)
            html += f'<p><a href="{escape(url)}" target="_blank" rel="noopener">{t("open_run", lang)} ↗</a></p>'
        return pn.pane.HTML(html, stylesheets=[_CARD_CSS], sizing_mode="stretch_width", css_classes=["model-info"])

    def _plain_rows(self) -> list[tuple[str, ...]]:
        store, model, lang = self.store, self.store.model, self.lang
        groups = len(model.set_aside.groups)
        segments = str(model.k)
        if groups:
            segments = t("card_segments_aside_one" if groups == 1 else "card_segments_aside", lang, k=model.k, n=groups)
        customers = fmt_int(len(store.customers), lang) if store.customers is not None else "–"
        if store.data_path:
            customers += f" · {_file_name(store.data_path)}"
        trained = t(
            "card_trained_on", lang, date=escape(_date(model.created, lang)), file=_file_name(model.data_path or "–")
        )
        if store.data_path and model.as_of:
            # The period above is the new file's: say up to when the model learnt.
            last_day = pd.Timestamp(model.as_of) - pd.Timedelta(days=1)
            trained += f", {t('card_data_until', lang, date=escape(_date(last_day, lang)))}"
        rows = [
            (t("version", lang), escape(_version_text(store))),
            (t("k", lang), escape(segments)),
            (t("customers_total", lang), customers),
        ]
        period = escape(period_text(store, lang))
        if period:
            rows.append((t("card_period", lang), period))
        rows.append((t("trained_at", lang), trained))
        return rows

    def _detail_rows(self) -> list[tuple[str, ...]]:
        model, lang = self.store.model, self.lang
        silhouette = fmt_float(model.metrics.get("silhouette", np.nan), lang, 3)
        stability = fmt_float(model.metrics.get("stability_ari", np.nan), lang, 2)
        rows = [
            (t("model", lang), escape(model.name)),
            (t("silhouette", lang), silhouette),
            (t("stability", lang), stability),
        ]
        if model.recommendation:
            # Recorded in English with the version: rebuilt in French, or the metrics it rests on.
            sentence = recommendation_text(model.recommendation, lang) or t(
                "recommendation_metrics", lang, k=model.k, silhouette=silhouette, stability=stability
            )
            sentence = f'<span class="recommendation">{escape(sentence)}</span>'
            rows.append((t("recommendation", lang), sentence, _STACKED))
        rows += [
            (t("card_trained_exactly", lang), _timestamp(model.created)),
            (t("data_digest", lang), f"<code>{escape(model.data_digest or '–')}</code>"),
            (t("card_training_file", lang), _path_html(model.data_path), _STACKED),
        ]
        if self.store.data_path:
            rows.append((t("data_file", lang), _path_html(self.store.data_path), _STACKED))
        return rows


#: Rows whose value is long text (a sentence, a path): shown under their label, across the card.
_STACKED = "stacked"


def _table(rows: list[tuple[str, ...]]) -> str:
    cells = []
    for key, value, *how in rows:
        if how == [_STACKED]:
            cells.append(f'<tr><th colspan="2">{key}</th></tr><tr><td colspan="2" class="long">{value}</td></tr>')
        else:
            cells.append(f"<tr><th>{key}</th><td>{value}</td></tr>")
    return f'<table class="model-card">{"".join(cells)}</table>'


def _file_name(path: str) -> str:
    """The file's name, its full path as the tooltip (a path in a 330 px sidebar breaks badly)."""
    name = PurePath(path).name or path
    return f'<span class="file" title="{escape(path)}">{escape(name)}</span>'


def _path_html(path: str) -> str:
    """A path that may wrap after a ``/`` only, never inside a name."""
    if not path:
        return "–"
    parts = [escape(part) for part in path.split("/")]
    return f'<code class="path">{"/<wbr>".join(parts)}</code>'


def _date(value: object, lang: str) -> str:
    """A day in the reader's language: ``1 Dec 2009``, ``1er déc. 2009``; ``–`` when unknown."""
    if value is None or (isinstance(value, str) and not value):
        return "–"
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC")
    from babel.dates import format_date  # babel is loaded by i18n's money formats already

    text = format_date(stamp.date(), "d MMM y", locale="fr_FR" if lang == "fr" else "en_GB")
    # French writes the first of the month as an ordinal: « 1er décembre ».
    return "1er" + text[1:] if lang == "fr" and stamp.day == 1 else text


def _timestamp(value: object) -> str:
    if value is None:
        return "–"
    stamp = pd.Timestamp(value)
    return stamp.strftime("%Y-%m-%d %H:%M") + (" UTC" if stamp.tzinfo is not None else "")


def period_text(store: DataStore, lang: str) -> str:
    """What the customers' figures cover, ``1 Dec 2009 – 9 Dec 2010``; empty when nothing dates them."""
    period = store.activity_period()
    if period is None:
        return ""
    return t("period_dates", lang, start=_date(period[0], lang), end=_date(period[1], lang))


def _version_text(store: DataStore) -> str:
    model = store.model
    aliases = ", ".join(model.aliases)
    return t("card_version", store.lang, version=model.version, aliases=aliases) if aliases else f"v{model.version}"


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
.model-card th { text-align: left; vertical-align: top; font-weight: 500; color: #555; padding: 2px 8px 2px 0;
  white-space: nowrap; }
.model-card td { padding: 2px 0; overflow-wrap: normal; word-break: normal; }
.model-card td.long { padding: 0 0 4px 0; }
/* A path wraps after a slash (<wbr>); only a single name wider than the card breaks inside. */
.path { overflow-wrap: break-word; }
.details { font-size: 12px; font-weight: 600; color: #555; text-transform: uppercase; letter-spacing: 0.04em;
  margin: 14px 0 4px 0; padding-top: 8px; border-top: 1px solid #ddd; }
.recommendation { font-size: 12px; color: #333; line-height: 1.35; }
.file { border-bottom: 1px dotted #888; cursor: help; display: inline-block; max-width: 100%; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; vertical-align: bottom; }
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
        # The entry is the version's number, also when the page was opened on one of its aliases.
        self._select.param.update(
            label=t("version_picker", self.lang), options=version_options(self.store), value=picked_version(self.store)
        )

    def _picked(self, event: param.parameterized.Event) -> None:
        # The entry of the version shown (an alias resolved to its number) is no switch.
        if event.new and event.new != picked_version(self.store):
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
        grid = pn.GridBox(*cards, ncols=min(len(cards), 6), sizing_mode="stretch_width", css_classes=["kpis"])
        caption = pn.pane.HTML(
            kpi_caption(self.store, stats, self.lang),
            stylesheets=[_KPI_CSS],
            sizing_mode="stretch_width",
            margin=(0, 0, 4, 0),
            css_classes=["kpi-period"],
        )
        return pn.Column(caption, grid, sizing_mode="stretch_width", margin=0)

    def _selection_changed(self, *_: object) -> None:
        if not self._bodies:
            return
        for (segment, row), body in zip(self.store.segment_stats().iterrows(), self._bodies, strict=True):
            body.object = self._card_html(segment, row)

    def _card_html(self, segment: int, row: pd.Series) -> str:
        lang = self.lang
        swatch = f'<span class="swatch" style="background:{segment_colour(segment)}"></span>'
        lines = [
            # The one-sentence description is in the profile table below, beside the numbers behind
            # it; here it is the name's tooltip (the same sentence twice on one screen reads badly).
            f'<div class="kpi-name" title="{escape(row.get("description", ""))}">{swatch}{escape(row["name"])}</div>',
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

    def _segment_file(self, segment: int) -> str:
        """``v1-lapsed-occasional-customers-2026-12-01.csv``: the version, the segment's name, the day."""
        return export_filename(self.store, self.store.model.names(self.lang).get(segment, str(segment)))

    def _card(self, segment: int, body: pn.pane.HTML) -> pn.viewable.Viewable:
        def export() -> object:
            # Named at the click: the day is the file's, not the page's load.
            download.filename = self._segment_file(segment)
            return self.store.export_segment(segment)

        download = pmui.FileDownload(
            callback=export,
            filename=self._segment_file(segment),
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
.kpi-main { font-size: 20px; font-weight: 600; margin: 2px 0 0 0; }
.kpi-line { font-size: 12px; color: #333; white-space: nowrap; }
.kpi-selected { color: #0b57d0; margin-top: 2px; white-space: normal; }
.kpi-caption { font-size: 13px; color: #333; margin: 10px 0 2px 2px; }
.kpi-caption b { font-weight: 600; }
"""


def kpi_caption(store: DataStore, stats: pd.DataFrame, lang: str) -> str:
    """The line above the KPI cards: the period their revenue and orders cover, and the totals.

    ``Revenue and orders, 1 Dec 2009 – 9 Dec 2010 · 3,608 customers, £4.9M, 14,216 orders``.
    """
    unit = units(store)
    what = t("kpi_orders" if unit["orders"] else "kpi_shipments", lang).lower()
    period = period_text(store, lang)
    parts = []
    if period:
        parts.append(f"<b>{escape(t('kpi_period', lang, what=what, period=period))}</b>")
    totals = {"customers": fmt_int(stats["customers"].sum(), lang), "what": what}
    totals["revenue"] = fmt_money_short(stats["revenue"].sum(), lang, unit["currency"]) if "revenue" in stats else "–"
    totals["count"] = fmt_int(stats["shipments"].sum(), lang) if "shipments" in stats else "–"
    parts.append(escape(t("kpi_totals", lang, **totals)))
    return f'<p class="kpi-caption">{" · ".join(parts)}</p>'


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
            # The segments in real units first: what an analyst reads before exploring customers.
            pn.Column(SegmentProfiles(store), LinkedViews(store), CustomerTable(store), sizing_mode="stretch_width"),
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
