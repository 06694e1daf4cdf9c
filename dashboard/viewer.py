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

from dashboard.i18n import t
from dashboard.store import DataStore, Problem, resolve_ref

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
    """Labels → refs for the version pickers: each registered version once, newest first.

    A version's label carries its aliases (``v1 — production · 4 segments``) and its ref is its number:
    an alias is another name of a version, not another entry. A ref shown that names no registered
    version or alias (a typo, a deleted version) stays listed, next to its error.
    """
    lang = store.lang
    options: dict[str, str] = {}
    for summary in store.versions:
        values = {"version": summary.version, "k": summary.k, "aliases": ", ".join(summary.aliases)}
        options[t("version_entry_aliases" if summary.aliases else "version_entry", lang, **values)] = str(
            summary.version
        )
    if picked_version(store) not in options.values():
        options[store.model_ref] = store.model_ref
    return options


def picked_version(store: DataStore) -> str:
    """The entry of :func:`version_options` for the ref shown: its version number, or the ref itself."""
    return resolve_ref(store.model_ref, store.versions)
