"""Views that set the shown version against another data set: Compare versions (how customers
move between two models' segments) and Drift (the current data against the training customers)."""

from __future__ import annotations

from html import escape

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param

from dashboard.analysis import psi_flag
from dashboard.i18n import feature_label, fmt_float, fmt_int, fmt_pct, t
from dashboard.panel_fixes import mounted_later
from dashboard.store import DataStore, Drift, Migration, Problem
from dashboard.viewer import PLOT_FONT, StoreViewer, as_text, units, version_options

#: Colours of the drift flags: green, amber and red read as "fine / watch / act" to most people.
FLAG_COLOURS = {"stable": "#2ca02c", "moderate": "#ff9f1c", "major": "#d62728"}


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
        mounted_later(
            lambda: pn.pane.HoloViews(
                heat * labels[0] * labels[1], sizing_mode="stretch_width", css_classes=["migration"]
            ),
            height=90 + 44 * counts.shape[0],
        ),
        sizing_mode="stretch_width",
    )


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
            return pmui.Alert(object=as_text(drift).message(lang), severity="warning", sizing_mode="stretch_width")
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
        mounted_later(
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
