"""The customer table: the filtered customers a page at a time, search, segment filter and CSV export."""

from __future__ import annotations

import panel as pn
import panel_material_ui as pmui
import param
from bokeh.models import (
    HTMLTemplateFormatter,
    NumberFormatter,
)

from dashboard.export import export_filename
from dashboard.i18n import feature_label, fmt_int, t
from dashboard.panel_fixes import LiveHTML, PagedTabulator
from dashboard.store import DataStore
from dashboard.viewer import StoreViewer, units
from workflow.features import SHARE_FEATURES

TABLE_PAGE_SIZE = 10


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
    def _make_table(lang: str) -> PagedTabulator:
        return PagedTabulator(
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


def tabulator_language(lang: str) -> dict[str, object]:
    """Tabulator's ``locale`` and ``langs`` options: the pager's words in the interface language."""
    pager = {
        key: t(f"pager_{key}", lang)
        for key in ("first", "first_title", "last", "last_title", "prev", "prev_title", "next", "next_title")
    }
    pager["page_size"] = t("pager_page_size", lang)
    pager["counter"] = {"showing": t("pager_showing", lang), "of": t("pager_of", lang), "rows": t("pager_rows", lang)}
    return {"locale": lang, "langs": {lang: {"pagination": pager}}}
