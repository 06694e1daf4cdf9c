"""What every view of the page shares: the base class holding the store, units, fonts and the
problem alert.

Each viewer reads the store and writes back only what the user asked for (a version, a segment
filter, a search, the language); the store does the work. Views that depend on the model rebuild on
``store.revision``; views that depend on the selection update on ``store.selected`` / ``store.rows``.
"""

from __future__ import annotations

from html import escape

import panel as pn
import panel_material_ui as pmui
import param

from dashboard.i18n import fmt_float, t
from dashboard.store import DataStore, Problem

#: Font sizes of every plot's title, axis labels and ticks.
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


def units(store: DataStore) -> dict[str, object]:
    """How the shown model counts and prices: its currency, and orders rather than shipments.

    Keyword arguments for ``feature_label``; a model without a currency shows plain numbers.
    """
    model = store.model
    if model is None:
        return {"currency": "EUR", "orders": False}
    return {"currency": model.currency, "orders": not model.shipment_data}


def as_text(problem: Problem) -> Problem:
    """``problem`` with its values HTML-escaped, for the Markdown of an alert or a Typography.

    Both render Markdown with raw HTML passed through, and the values come from files, paths and error
    messages (a column name, a file name, a path recorded in the registry): escaped, they show as text.
    """
    return Problem(problem.kind, {key: escape(str(value), quote=False) for key, value in problem.params.items()})


def problem_alert(problem: Problem, lang: str) -> pmui.Alert:
    """An error alert with the problem and its fix (used by the page and the tests)."""
    shown = as_text(problem)
    text = f"{shown.message(lang)}\n\n**{t('fix', lang)}:** {shown.fix(lang)}"
    return pmui.Alert(
        object=text,
        title=t("error_title", lang),
        severity="error",
        css_classes=["problem"],
        sizing_mode="stretch_width",
    )


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
