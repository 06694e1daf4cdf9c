"""The customer table: the filtered customers a page at a time (as many as fit the window), search,
segment filter, the feature columns shown, and CSV export (every column)."""

from __future__ import annotations

import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param
from bokeh.models import (
    HTMLTemplateFormatter,
    NumberFormatter,
)

from dashboard.export import export_filename
from dashboard.i18n import MINUS, TEXT, currency_symbol, feature_label, fmt_int, t
from dashboard.panel_fixes import LiveHTML, PagedTabulator, relabel_choices
from dashboard.store import DataStore
from dashboard.viewer import StoreViewer, units
from workflow.features import SHARE_FEATURES

#: Rows of the first page, before the browser has measured how many fit its window (Panel's
#: Tabulator then sets ``page_size`` itself: see ``_make_table``).
FIRST_PAGE_ROWS = 20
#: The table's height: the window's less the app bar (64 px), the table's title, search, segment
#: and column rows (~190 px) and its pager (~50 px). A page then fills the screen when scrolled to:
#: 10 rows at 1280×800, 18 at 1920×1080. Never under 300 px (a short window keeps a usable table).
TABLE_HEIGHT_CSS = "max(300px, calc(100vh - 310px))"
#: Tabulator column options of the text columns: the segment name gets 3 shares of the width
#: for each feature column's one, and neither is squeezed below a readable minimum.
TEXT_COLUMNS = [
    {"field": "customer_id", "widthGrow": 1.2, "minWidth": 90},
    # A long name is cut to the column: the full name on hover.
    {"field": "segment_name", "widthGrow": 3, "minWidth": 150, "tooltip": True},
]
#: Feature columns shown at first: with the id and the segment name they fit 1280 px without
#: sideways scrolling; the others are one pick away (``Columns shown``) and all are in the CSV.
DEFAULT_FEATURE_COLUMNS = 6
#: Always among the first columns when the model has them: recency, frequency, monetary (RFM).
RFM = ("recency_days", "frequency", "monetary")
#: A feature column is never narrower (px): a picked column is scrolled to rather than cut.
FEATURE_MIN_WIDTH = 72
#: Tighter cells than the theme's: more columns fit 1280 px, and more rows fit a page.
#: The header has one height whatever its titles (up to three lines): the browser counts the rows
#: that fit under it once, and a header that grew afterwards (titles wrapping once the columns are
#: laid out) would hide the last row behind a scrollbar.
_TABLE_CSS = """
.tabulator-row .tabulator-cell { padding: 6px 6px; }
.tabulator .tabulator-header .tabulator-col { height: 62px !important; }
.tabulator .tabulator-header .tabulator-col .tabulator-col-content { padding: 6px 6px; }
.tabulator .tabulator-header .tabulator-col .tabulator-col-title { font-size: 12.5px; line-height: 1.2; }
"""


class CustomerTable(StoreViewer):
    """The selection's customers (remote pagination), search by id, segment filter, columns shown and
    CSV export.

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
        # Which feature columns the table shows: chips, as the charts' "Features shown" picker.
        self._columns = pmui.MultiChoice(sizing_mode="stretch_width", css_classes=["columns-picker"], margin=(4, 10))
        self._relabelling = False
        self._columns.param.watch(self._columns_picked, "value")
        self._export = pmui.FileDownload(
            callback=self._export_rows,
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
            pn.Row(self._columns, sizing_mode="stretch_width"),
            self._table,
            sizing_mode="stretch_width",
            styles={"padding": "8px"},
            css_classes=["customer-card"],
        )
        store.param.watch(self._rows_changed, "rows")
        store.param.watch(self._relabel, "revision")
        self._relabel()

    def _export_rows(self) -> object:
        # Named at the click: the filters and the day are those of the file, not of the page's load.
        self._export.filename = self.export_name()
        return self.store.export_rows()

    def export_name(self) -> str:
        """``v1-lapsed-occasional-customers-2026-12-01.csv``: version, which customers, day.

        One segment picked: its name (``… filtered`` when a brush or a search also applies); no
        filter: all customers; otherwise the filtered customers.
        """
        store, lang = self.store, self.lang
        others = [kind for kind, _key, _label in store.filters() if kind != "segment"]
        if len(store.segment_filter) == 1:
            name = store.model.names(lang).get(store.segment_filter[0], str(store.segment_filter[0]))
            what = t("export_filtered_name", lang, name=name) if others else name
        elif store.segment_filter or others:
            what = t("export_rows_name", lang)
        else:
            what = t("export_all_name", lang)
        return export_filename(store, what)

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
            filename=self.export_name(),
            disabled=store.rows is None or len(store.rows) == 0,
        )
        features = store.model.features
        shown = [f for f in self._columns.value if f in features] or default_columns(features, kmeans_z(store))
        self._relabelling = True
        try:
            options = {column_title(f, lang, **units(store)): f for f in features}
            relabel_choices(self._columns, t("table_columns", lang), options, shown)
        finally:
            self._relabelling = False
        if self._table_lang != lang:
            # Tabulator reads its pager's language once, when the browser builds the table: a
            # language switch gets a new table (a rare event; a selection only changes the rows).
            self._table, self._table_lang = self._make_table(lang), lang
            self._layout[3] = self._table
        self._table.param.update(
            value=store.rows,
            page=1,
            titles=self._titles(),
            header_tooltips=self._tooltips(),
            formatters=self._formatters(),
            # Numbers right-aligned in both languages (the French formatters have no alignment).
            text_align=dict.fromkeys(store.model.features, "right"),
            hidden_columns=self._hidden(),
        )

    def _hidden(self) -> list[str]:
        features = self.store.model.features if self.store.model is not None else []
        return ["segment", *(f for f in features if f not in self._columns.value)]

    def _columns_picked(self, *_: object) -> None:
        if self._relabelling:
            return
        self._table.hidden_columns = self._hidden()

    @staticmethod
    def _make_table(lang: str) -> PagedTabulator:
        # No page_size: Panel's Tabulator counts the rows that fit its height in the browser and sets
        # page_size (remote pagination then sends that many). The height follows the window (CSS).
        # fit_columns: the columns share the table's width, never wider (no sideways scrolling at
        # 1280 px); headers wrap (up to three lines) rather than being cut.
        return PagedTabulator(
            pagination="remote",
            initial_page_size=FIRST_PAGE_ROWS,
            disabled=True,
            show_index=False,
            selectable=False,
            sizing_mode="stretch_width",
            hidden_columns=["segment"],
            css_classes=["customer-table"],
            layout="fit_columns",
            # On the host, which Tabulator fills (its ``styles`` go elsewhere in Panel 1.9).
            stylesheets=[f":host {{ height: {TABLE_HEIGHT_CSS}; }}", _TABLE_CSS],
            configuration={
                **tabulator_language(lang),
                "columnDefaults": {"headerWordWrap": True, "minWidth": FEATURE_MIN_WIDTH},
                "columns": [dict(column) for column in TEXT_COLUMNS],
            },
        )

    def _rows_changed(self, event: param.parameterized.Event) -> None:
        if event.new is not None:
            self._table.param.update(value=event.new, page=1)
            self._export.disabled = len(event.new) == 0  # an empty file helps nobody
            self._export.filename = self.export_name()

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
        titles.update({f: column_title(f, lang, **units(self.store)) for f in self.store.model.features})
        return titles

    def _tooltips(self) -> dict[str, str]:
        # The full label on hover: the header is the short one.
        return {f: feature_label(f, self.lang, **units(self.store)) for f in self.store.model.features}

    def _formatters(self) -> dict[str, object]:
        return table_formatters(self.store.model.features, self.lang)


def default_columns(features: list[str], z: pd.DataFrame, n: int = DEFAULT_FEATURE_COLUMNS) -> list[str]:
    """The feature columns shown first: recency, frequency and monetary, then the features that tell
    the segments apart most (largest |z| of a segment), ``n`` in all, in the model's order.

    ``z`` is segments × features (the K-means segments' z-scores); without it, the first ``n``.
    """
    chosen = [f for f in RFM if f in features][:n]
    if not z.empty:
        spread = z.reindex(columns=features).abs().max(axis=0).fillna(0.0)
        rest = spread.drop(chosen).sort_values(ascending=False, kind="stable").index
    else:
        rest = [f for f in features if f not in chosen]
    chosen += list(rest[: max(n - len(chosen), 0)])
    return [f for f in features if f in chosen]


def kmeans_z(store: DataStore) -> pd.DataFrame:
    """The K-means segments' z-scores of every customer shown (set-aside groups left out: they are
    extreme by construction)."""
    if store.model is None or store.scored is None:
        return pd.DataFrame()
    return store.z_scores(everyone=True).iloc[: store.model.k]


def column_title(feature: str, lang: str, *, currency: str = "EUR", orders: bool = False) -> str:
    """A feature's short column header with its unit: ``Recency (d)``, ``Revenue (£)``, ``Late``.

    Shares keep their ``%`` in the cells. A feature without a short form keeps ``feature_label``'s.
    """
    key = f"col_{feature}"
    if key not in TEXT:
        return feature_label(feature, lang, currency=currency, orders=orders)
    # A model without a currency shows plain numbers: no empty "()".
    return t(key, lang, currency=currency_symbol(currency)).replace(" ()", "")


def table_formatters(features: list[str], lang: str) -> dict[str, object]:
    """Number formats of the table's feature columns: ``1,234.50`` / ``−64.68`` / ``12.5%`` in English,
    ``1 234,50`` / ``−64,68`` / ``12,5 %`` in French.

    Numbers use Tabulator's own ``money`` formatter: Bokeh's ``NumberFormatter(language="fr")`` still
    writes a decimal point inside Panel's Tabulator, and neither writes a true minus (refunds), as the
    rest of the page does. Shares are never negative: a template in French, Bokeh's format in English.
    """
    formatters: dict[str, object] = {}
    decimal, thousand = (",", "\u202f") if lang == "fr" else (".", ",")
    for feature in features:
        decimals = 2 if feature in {"monetary", "avg_amount", "avg_weight_kg"} else 0
        if feature in SHARE_FEATURES and lang != "fr":
            formatters[feature] = NumberFormatter(format="0.0%")  # aligned by the table's text_align
        elif feature in SHARE_FEATURES:
            # The value is a number (never text from the data): the template cannot inject markup.
            formatters[feature] = HTMLTemplateFormatter(
                template="<%= value == null ? '' : (100 * value).toFixed(1).replace('.', ',') + '\u202f%' %>"
            )
        else:
            formatters[feature] = {
                "type": "money",
                "decimal": decimal,
                "thousand": thousand,
                "precision": decimals,
                "negativeSign": MINUS,
            }
    return formatters


def tabulator_language(lang: str) -> dict[str, object]:
    """Tabulator's ``locale`` and ``langs`` options: the pager's words in the interface language."""
    pager = {
        key: t(f"pager_{key}", lang)
        for key in ("first", "first_title", "last", "last_title", "prev", "prev_title", "next", "next_title")
    }
    pager["page_size"] = t("pager_page_size", lang)
    pager["counter"] = {"showing": t("pager_showing", lang), "of": t("pager_of", lang), "rows": t("pager_rows", lang)}
    return {"locale": lang, "langs": {lang: {"pagination": pager}}}
