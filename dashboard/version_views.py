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
from bokeh.models import CustomJSTickFormatter

from dashboard import analysis
from dashboard.analysis import PSI_MAJOR, PSI_MODERATE, psi_flag
from dashboard.i18n import feature_label, fmt_float, fmt_int, fmt_pct, t
from dashboard.palette import segment_colour
from dashboard.panel_fixes import mounted_later
from dashboard.store import DataStore, Drift, Migration, Problem
from dashboard.viewer import PLOT_FONT, StoreViewer, as_text, units, version_options

#: Colours of the drift flags: green, amber and red read as "fine / watch / act" to most people.
FLAG_COLOURS = {"stable": "#2ca02c", "moderate": "#ff9f1c", "major": "#d62728"}
#: The PSI axis ends at this value at most: beyond it every shift is major, and a single 4.7 would
#: otherwise squeeze the other bars and the 0.1 / 0.25 bands against the left edge.
PSI_AXIS_CAP = 1.0
#: The periods "differ in length" (recency and tenure then shift by construction) beyond this ratio.
PERIOD_LENGTH_TOLERANCE = 0.1
#: Babel locales of the interface languages, for dates ("1 Dec 2009", "1 déc. 2009").
DATE_LOCALES = {"en": "en_GB", "fr": "fr_FR"}
#: Narrowest column of the migration matrix (px): "International" fits at 11.5 px.
MATRIX_MIN_COLUMN = 80
#: Stops of the migration cells' colour ramp (ColorBrewer's Blues), from an empty to a full row share.
_BLUES = ("#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b")


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
            return pmui.Alert(object=t("err_compare", lang, **as_text(result).params), severity="warning")
        return migration_view(result, lang)


def migration_view(result: Migration, lang: str) -> pn.viewable.Viewable:
    """The headline (customers that keep an equivalent segment, the largest move) and the matrix.

    The matrix is an HTML table rather than a plot: long segment names wrap in its headers, every
    number is text in the interface language, and each cell's tooltip gives the count in words.
    """
    a, b = result.version_a, result.version_b
    return pn.Column(
        pmui.Typography(t("migration_title", lang, a=a, b=b), variant="subtitle1", css_classes=["migration-title"]),
        pn.pane.HTML(
            migration_headline(result, lang),
            sizing_mode="stretch_width",
            css_classes=["migration-headline"],
            stylesheets=[_HEADLINE_CSS],
        ),
        pmui.Typography(
            f"{t('migration_scored', lang, n=fmt_int(int(result.counts.to_numpy().sum()), lang))} "
            f"{t('migration_help', lang, a=a, b=b)}",
            variant="body2",
            css_classes=["migration-summary"],
        ),
        pn.pane.HTML(
            migration_table(result, lang),
            sizing_mode="stretch_width",
            css_classes=["migration-matrix"],
            stylesheets=[_MATRIX_CSS],
        ),
        sizing_mode="stretch_width",
    )


def migration_headline(result: Migration, lang: str) -> str:
    """HTML of the headline: the share of customers on the matched diagonal, then the largest move."""
    ordered = result.ordered
    counts = ordered.to_numpy()
    b = result.version_b
    kept = f"<strong>{escape(_share_text(result.kept_share, lang))}</strong>"
    lines = [f'<p class="kept">{t("migration_kept", lang, share=kept, b=b)}</p>']
    move = analysis.largest_move(counts, result.n_matched)
    if move is None:
        lines.append(f'<p class="move">{t("migration_no_move", lang)}</p>')
    else:
        row, column = move
        share = counts[row, column] / counts[row].sum()
        # Into a segment of B that no segment of A matches: say so, or the sentence reads as a
        # contradiction when that segment has the name of the one the customers leave.
        key = "migration_move_new" if column >= result.n_matched else "migration_move"
        text = t(
            key,
            lang,
            share=f"<strong>{escape(_share_text(share, lang))}</strong>",
            source=escape(str(ordered.index[row])),
            n=fmt_int(counts[row, column], lang),
            target=escape(str(ordered.columns[column])),
            a=result.version_a,
            b=b,
        )
        lines.append(f'<p class="move">{text}</p>')
    unmatched = _unmatched_note(result, lang)
    if unmatched:
        lines.append(f'<p class="unmatched">{unmatched}</p>')
    return "".join(lines)


def _share_text(share: float, lang: str) -> str:
    """A headline share in whole percent, with one decimal next to 0 and 100 % so that neither is
    claimed when it does not hold (99.6 % keep their segment: "99.6%", not "100%")."""
    return fmt_pct(share, lang, 1 if 0 < share < 0.005 or 0.995 <= share < 1 else 0)


def _unmatched_note(result: Migration, lang: str) -> str:
    """The segments of either version without an equivalent in the other (when k differs), or ''."""
    ordered = result.ordered
    notes = []
    for names, other in (
        (ordered.index[result.n_matched :], result.version_b),
        (ordered.columns[result.n_matched :], result.version_a),
    ):
        if len(names):
            quoted = [t("migration_quote", lang, name=escape(str(name))) for name in names]
            notes.append(t("migration_unmatched", lang, other=other, names=_join(quoted, lang)))
    return " ".join(notes)


def _join(items: list[str], lang: str) -> str:
    """``a, b and c`` / ``a, b et c``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + t("migration_and", lang) + items[-1]


def migration_table(result: Migration, lang: str) -> str:
    """HTML of the migration matrix in matched order: row shares in the cells, counts below them.

    Rows are version A's segments, columns version B's; cell ``(i, i)`` for ``i < n_matched`` is
    outlined (the equivalent segment). A last column and a last row hold the totals.
    """
    ordered = result.ordered
    counts = ordered.to_numpy()
    total = int(counts.sum())
    head = _matrix_head(result, lang)
    body = [_matrix_row(result, i, lang) for i in range(counts.shape[0])]
    totals = [f'<th scope="row" class="row total-head">{escape(t("migration_total", lang))}</th>']
    for name, count in zip(ordered.columns, counts.sum(axis=0), strict=True):
        share = _pct(count, total, lang)
        tip = t("migration_total_tip", lang, n=fmt_int(count, lang), name=name, version=result.version_b, share=share)
        totals.append(_total_cell(count, total, tip, lang))
    totals.append(_total_cell(total, total, t("migration_scored", lang, n=fmt_int(total, lang)), lang, grand=True))
    body.append(f'<tr class="totals">{"".join(totals)}</tr>')
    # table-layout: fixed shares the width the names and the totals leave equally between the segments;
    # ``lang`` lets the browser hyphenate long names in the narrow column headers.
    # Below MATRIX_MIN_COLUMN px a column would break its words: the table scrolls sideways instead.
    columns = '<col class="names">' + "<col>" * counts.shape[1] + '<col class="totals">'
    least = 180 + 64 + MATRIX_MIN_COLUMN * counts.shape[1]
    return (
        f'<div class="scroll"><table class="matrix" lang="{lang}" data-matched="{result.n_matched}" '
        f'style="min-width:{least}px"><colgroup>{columns}</colgroup>'
        f"<thead>{head}</thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _matrix_head(result: Migration, lang: str) -> str:
    ordered = result.ordered
    corner = escape(t("segments_of", lang, version=result.version_a))
    group = escape(t("segments_of", lang, version=result.version_b))
    total = escape(t("migration_total", lang))
    columns = "".join(
        _segment_header("col", name, label, set_aside=label >= result.kmeans_b)
        for name, label in zip(ordered.columns, result.columns, strict=True)
    )
    return (
        f'<tr><th class="corner" rowspan="2">{corner}</th><th class="group" colspan="{len(ordered.columns)}">'
        f'{group}</th><th class="total-head" rowspan="2">{total}</th></tr><tr>{columns}</tr>'
    )


def _matrix_row(result: Migration, i: int, lang: str) -> str:
    ordered = result.ordered
    counts = ordered.to_numpy()
    row = counts[i]
    name, label = ordered.index[i], result.rows[i]
    shares = analysis.row_shares(row[np.newaxis, :])[0]
    cells = [_segment_header("row", name, label, set_aside=label >= result.kmeans_a)]
    for j, target in enumerate(ordered.columns):
        tip = t(
            "migration_cell_tip",
            lang,
            n=fmt_int(row[j], lang),
            row_n=fmt_int(row.sum(), lang),
            source=name,
            target=target,
            a=result.version_a,
            b=result.version_b,
        )
        cells.append(_share_cell(row[j], shares[j], tip, matched=i == j < result.n_matched, lang=lang))
    share = _pct(row.sum(), counts.sum(), lang)
    tip = t("migration_total_tip", lang, n=fmt_int(row.sum(), lang), name=name, version=result.version_a, share=share)
    cells.append(_total_cell(row.sum(), counts.sum(), tip, lang))
    return f"<tr>{''.join(cells)}</tr>"


def _segment_header(kind: str, name: object, label: int, *, set_aside: bool) -> str:
    """A row or column header: a row's segment colour (as on the cards above it) and the name.

    Columns get no colour: version B's palette follows its own labels, and a green row beside a green
    column of another segment would read as a pair.
    """
    classes = f"{kind} set-aside" if set_aside else kind
    swatch = f'<span class="swatch" style="background:{segment_colour(label)}"></span>' if kind == "row" else ""
    return f'<th scope="{kind}" class="{classes}">{swatch}<span class="name">{escape(str(name))}</span></th>'


def _share_cell(count: int, share: float, tip: str, *, matched: bool, lang: str) -> str:
    """A cell: the row share in large type, the count below; empty (but with its tooltip) at zero."""
    background = _blue(share)
    ink = "#ffffff" if share > 0.5 else "#1a1a1a"
    classes = "cell matched" if matched else "cell"
    text = ""
    if count:
        # "<1 %" rather than a "0 %" that would read as nobody.
        shown = fmt_pct(share, lang, 0) if share >= 0.005 else "<" + fmt_pct(0.01, lang, 0)
        text = f'<span class="pct">{escape(shown)}</span><span class="n">{fmt_int(count, lang)}</span>'
    return (
        f'<td class="{classes}" style="background:{background};color:{ink}" '
        f'title="{escape(tip)}" data-count="{int(count)}">{text}</td>'
    )


def _total_cell(count: float, total: float, tip: str, lang: str, *, grand: bool = False) -> str:
    classes = "total grand" if grand else "total"
    return (
        f'<td class="{classes}" title="{escape(tip)}" data-count="{int(count)}">'
        f'<span class="pct">{fmt_int(count, lang)}</span><span class="n">{escape(_pct(count, total, lang))}</span></td>'
    )


def _pct(count: float, total: float, lang: str) -> str:
    # One decimal, as the KPI cards give each segment's share.
    return fmt_pct(count / total if total else float("nan"), lang, 1)


def _blue(share: float) -> str:
    """Colour of a row share on ColorBrewer's Blues ramp (linear between its stops)."""
    position = min(max(share, 0.0), 1.0) * (len(_BLUES) - 1)
    index = min(int(position), len(_BLUES) - 2)
    low, high = _BLUES[index], _BLUES[index + 1]
    weight = position - index
    channels = [round(int(low[k : k + 2], 16) * (1 - weight) + int(high[k : k + 2], 16) * weight) for k in (1, 3, 5)]
    return "#" + "".join(f"{value:02x}" for value in channels)


_HEADLINE_CSS = """
p { margin: 2px 0; font-size: 14px; line-height: 1.45; }
p.kept { font-size: 18px; }
p.unmatched { color: #555; font-size: 13px; }
strong { font-weight: 600; }
"""

_MATRIX_CSS = """
div.scroll { overflow-x: auto; }
table.matrix { border-collapse: separate; border-spacing: 2px; width: 100%; table-layout: fixed; font-size: 12.5px; }
col.names { width: 180px; }
col.totals { width: 64px; }
th { font-weight: 500; color: #222; }
th.corner { text-align: left; vertical-align: bottom; font-weight: 600; padding: 4px 6px; }
th.group { font-weight: 600; text-align: center; padding: 2px; border-bottom: 1px solid #999; }
th.col { vertical-align: bottom; text-align: left; padding: 4px 3px; line-height: 1.2; font-size: 11.5px;
         hyphens: auto; overflow-wrap: break-word; }
th.row { text-align: left; padding: 4px 8px 4px 6px; line-height: 1.25; }
th.set-aside .name, th.row.set-aside .name { font-style: italic; }
th .swatch { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 5px; }
th.total-head { font-weight: 600; vertical-align: bottom; text-align: center; }
th.row.total-head { text-align: left; }
td { text-align: center; padding: 5px 2px; border-radius: 3px; height: 34px; }
td .pct { display: block; font-size: 14px; font-weight: 500; line-height: 1.15; }
td .n { display: block; font-size: 11px; opacity: 0.8; line-height: 1.1; }
td.matched { box-shadow: inset 0 0 0 2px #111; }
td.total { background: #eeeeee; color: #1a1a1a; }
td.grand { background: #dddddd; font-weight: 600; }
tr.totals th { font-weight: 600; }
"""


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
    """The periods compared, the PSI bars per feature with their legend, and the segment shares."""
    summary = t(
        "drift_summary",
        lang,
        new=fmt_int(drift.n_current, lang),
        path=escape(store.data_path or "", quote=False),  # Typography renders Markdown, raw HTML included
        old=fmt_int(drift.n_reference, lang),
    )
    n_features = len(drift.psi)
    flag = t(f"flag_{psi_flag(drift.segment_psi)}", lang)
    shares_title = (
        f"{t('drift_shares_title', lang)} — {t('psi', lang)} {fmt_float(drift.segment_psi, lang, 3)} ({flag})"
    )
    return pn.Column(
        pmui.Typography(summary, variant="body2", css_classes=["drift-summary"]),
        pn.pane.HTML(
            periods_html(drift, store.model.features, lang),
            sizing_mode="stretch_width",
            css_classes=["drift-periods"],
            stylesheets=[_PERIODS_CSS],
        ),
        pmui.Typography(t("drift_title", lang), variant="subtitle1"),
        pmui.Typography(t("drift_psi_help", lang), variant="caption"),
        mounted_later(
            lambda: pn.pane.HoloViews(
                psi_chart(drift, store, lang), sizing_mode="stretch_width", css_classes=["drift-chart"]
            ),
            height=_chart_height(n_features),
        ),
        pn.pane.HTML(
            flags_legend(drift, lang),
            sizing_mode="stretch_width",
            css_classes=["drift-legend"],
            stylesheets=[_LEGEND_CSS],
        ),
        pmui.Typography(shares_title, variant="subtitle1", css_classes=["drift-shares-title"]),
        pmui.Typography(t("drift_shares_help", lang), variant="caption"),
        pn.pane.HTML(
            shares_table(drift, store.model.names(lang), lang),
            sizing_mode="stretch_width",
            css_classes=["drift-shares"],
            stylesheets=[_SHARES_CSS],
        ),
        sizing_mode="stretch_width",
    )


def _chart_height(n_features: int) -> int:
    return 70 + 30 * n_features


def psi_chart(drift: Drift, store: DataStore, lang: str) -> hv.Overlay:
    """Horizontal bars of PSI per feature, coloured by flag and labelled with their value, on the flags' bands.

    The value axis ends at ``PSI_AXIS_CAP`` (a little further for the labels): a longer bar is cut
    at the cap and its label still gives its value.
    """
    table = drift.psi.iloc[::-1].copy()  # bars are drawn bottom-up: the largest PSI ends on top
    values = table["psi"].fillna(0.0).to_numpy()
    cap = max(0.3, min(float(values.max()) if len(values) else 0.0, PSI_AXIS_CAP))
    top = cap * 1.18
    table["label"] = [feature_label(f, lang, **units(store)) for f in table["feature"]]
    table["status"] = [t(f"flag_{flag}", lang) for flag in table["flag"]]
    table["colour"] = [FLAG_COLOURS[flag] for flag in table["flag"]]
    table["shown"] = np.minimum(values, cap)
    table["text"] = [fmt_float(value, lang, 2) for value in table["psi"]]
    table["at"] = table["shown"] + top * 0.012
    label_dim = hv.Dimension("label", label=t("feature", lang))
    psi_dim = hv.Dimension("shown", label=t("psi", lang))
    bars = hv.Bars(table, kdims=[label_dim], vdims=[psi_dim, "text", "status", "colour"]).opts(
        color="colour",
        invert_axes=True,
        responsive=True,
        height=_chart_height(len(table)),
        tools=["hover"],
        hover_tooltips=[(t("feature", lang), "@label"), (t("psi", lang), "@text"), (t("flag", lang), "@status")],
        fontsize=PLOT_FONT,
        ylim=(0, top),
        toolbar=None,
        xlabel="",
        line_color=None,
        # The value axis (horizontal once inverted) in the interface language: 0,25 in French.
        xformatter=_tick_formatter(lang),
        default_tools=[],
    )
    labels = hv.Labels(table, kdims=[label_dim, hv.Dimension("at")], vdims=["text"]).opts(
        invert_axes=True,
        text_align="left",
        text_baseline="middle",
        text_font_size="9pt",
        text_color="#222",
    )
    # The three flags as faint bands behind the bars, in the legend's colours: a bar's end reads
    # against its band. Bands, not dashed lines: Bokeh draws a Span over the bars and their values
    # whatever its level, a BoxAnnotation at level "underlay" goes under them. HSpan: with invert_axes
    # the value axis is horizontal, and the bands turn with it.
    bands = [
        hv.HSpan(low, high).opts(color=FLAG_COLOURS[flag], alpha=alpha, line_alpha=0, level="underlay")
        for low, high, flag, alpha in (
            (0.0, PSI_MODERATE, "stable", 0.10),
            (PSI_MODERATE, PSI_MAJOR, "moderate", 0.16),
            (PSI_MAJOR, top, "major", 0.08),
        )
    ]
    return hv.Overlay([bars, *bands, labels])


def _tick_formatter(lang: str) -> CustomJSTickFormatter:
    """Axis ticks in the interface language (``0.25`` / ``0,25``), formatted by the browser's ``Intl``.

    Bokeh 3.9's ``NumeralTickFormatter(language="fr")`` still drew ``0.2`` in the browser (checked on
    the page): its numbro languages other than English are not loaded.
    """
    return CustomJSTickFormatter(
        code="return tick.toLocaleString(locale, {minimumFractionDigits: 1, maximumFractionDigits: 2});",
        args={"locale": DATE_LOCALES.get(lang, "en_GB").replace("_", "-")},
    )


def flags_legend(drift: Drift, lang: str) -> str:
    """HTML legend of the three flags, each with its colour, its name and what it means in plain words."""
    numbers = {"moderate": _threshold(PSI_MODERATE, lang), "major": _threshold(PSI_MAJOR, lang)}
    items = []
    for flag in ("stable", "moderate", "major"):
        name = escape(t(f"flag_{flag}", lang).capitalize())
        meaning = escape(t(f"flag_help_{flag}", lang, **numbers))
        swatch = f'<span class="swatch" style="background:{FLAG_COLOURS[flag]}"></span>'
        items.append(f"<li>{swatch}<span><b>{name}</b> — {meaning}</span></li>")
    values = drift.psi["psi"].to_numpy()
    note = ""
    if len(values) and np.nanmax(values) > PSI_AXIS_CAP:
        note = f'<p class="note">{escape(t("psi_capped", lang, limit=fmt_float(PSI_AXIS_CAP, lang, 1)))}</p>'
    return f'<ul class="flags">{"".join(items)}</ul>{note}'


def _threshold(value: float, lang: str) -> str:
    """A PSI threshold as people quote it: ``0.1``, ``0.25`` (``0,1``, ``0,25``), not ``0.10``."""
    return fmt_float(value, lang, 1 if round(value, 1) == value else 2)


def periods_html(drift: Drift, features: list[str], lang: str) -> str:
    """HTML of the two data sets' periods, how they relate, the customers in both, and a caveat.

    The caveat: recency and tenure are counted within each period, so periods of different lengths
    shift them by construction (a 6-month file has no tenure above 6 months).
    """
    reference, current = drift.reference_period, drift.current_period
    rows = [
        (t("drift_period_training", lang), _period_text(reference, lang), "training"),
        (t("drift_period_current", lang), _period_text(current, lang), "current"),
    ]
    table = "".join(
        f'<tr class="{kind}"><th>{escape(name)}</th><td>{escape(text)}</td></tr>' for name, text, kind in rows
    )
    notes = []
    if reference is not None and current is not None:
        notes.append(f'<p class="relation">{escape(relation_text(reference, current, lang))}</p>')
    common = t("drift_common", lang, n=fmt_int(drift.n_common, lang), total=fmt_int(drift.n_current, lang))
    notes.append(f'<p class="common">{escape(common)}</p>')
    if reference is not None and current is not None and {"recency_days", "tenure_days"} & set(features):
        days_a, days_b = analysis.period_days(reference), analysis.period_days(current)
        if abs(days_a - days_b) > PERIOD_LENGTH_TOLERANCE * max(days_a, days_b):
            caveat = t("period_length_caveat", lang, training=_span(days_a, lang), current=_span(days_b, lang))
            notes.append(f'<p class="caveat">{escape(caveat)}</p>')
    return f'<table class="periods">{table}</table>{"".join(notes)}'


def relation_text(
    reference: tuple[pd.Timestamp, pd.Timestamp], current: tuple[pd.Timestamp, pd.Timestamp], lang: str
) -> str:
    """How the current file's period relates to the training period, in one sentence in ``lang``."""
    kind, days = analysis.period_relation(reference, current)
    share = fmt_pct(days / analysis.period_days(reference), lang, 0)
    if kind in ("after", "before") and days == 1:
        return t(f"period_right_{kind}", lang)
    if kind in ("end_of", "start_of"):
        if days > 1:
            return t(f"period_{kind}", lang, n=fmt_int(days, lang))
        kind = "inside"  # "the last 1 days": a one-day file reads better as inside the period
    return t(f"period_{kind}", lang, span=_span(days, lang), share=share)


def _period_text(period: tuple[pd.Timestamp, pd.Timestamp] | None, lang: str) -> str:
    if period is None:
        return t("drift_period_unknown", lang)
    start, end = (_fmt_date(day, lang) for day in period)
    return t("drift_period_range", lang, start=start, end=end, span=_span(analysis.period_days(period), lang))


def _span(days: int, lang: str) -> str:
    return t("drift_days_one", lang) if days == 1 else t("drift_days_many", lang, n=fmt_int(days, lang))


def _fmt_date(day: pd.Timestamp, lang: str) -> str:
    """``1 Dec 2009`` / ``1 déc. 2009``. (A date format for ``dashboard.i18n``, which this module does not own.)"""
    from babel.dates import format_date

    text = format_date(day.date(), format="d MMM y", locale=DATE_LOCALES.get(lang, "en_GB"))
    # French writes the first of the month as an ordinal: « 1er déc. 2009 ».
    return "1er" + text[1:] if lang == "fr" and day.day == 1 else text


def shares_table(drift: Drift, names: dict[int, str], lang: str) -> str:
    """HTML table of each segment's share in both data sets and the change, with a bar centred on 0."""
    shares = drift.shares
    largest = float(np.abs(shares["change"]).max()) if len(shares) else 0.0
    head = "".join(
        f"<th>{escape(t(key, lang))}</th>" for key in ("segment", "share_training", "share_current", "share_change")
    )
    body = []
    for segment, row in shares.iterrows():
        name = names.get(segment, str(segment))
        change = float(row["change"])
        width = 0.0 if largest == 0 else 100 * abs(change) / largest
        bar = f'<span class="bar" style="width:{width:.1f}%;background:{segment_colour(int(segment))}"></span>'
        halves = (
            f'<span class="half neg">{bar if change < 0 else ""}</span>'
            f'<span class="half pos">{bar if change > 0 else ""}</span>'
        )
        body.append(
            f'<tr data-segment="{int(segment)}"><th scope="row"><span class="swatch" '
            f'style="background:{segment_colour(int(segment))}"></span>{escape(name)}</th>'
            f'<td class="num">{escape(fmt_pct(row["reference"], lang))}</td>'
            f'<td class="num">{escape(fmt_pct(row["current"], lang))}</td>'
            f'<td class="change"><div class="change"><span class="bars">{halves}</span>'
            f'<span class="value">{escape(_signed_points(change, lang))}</span></div></td></tr>'
        )
    return f'<table class="shares"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _signed_points(change: float, lang: str) -> str:
    """A share change in percentage points with its sign (``+1.5``, ``−0.3``; ``+1,5`` in French).

    Rounded first, then signed: a change that rounds to zero is ``0.0``, never ``-0.0`` or ``−0.0``.
    """
    points = round(100 * change, 1)
    if points == 0:
        return fmt_float(0.0, lang, 1)
    return ("+" if points > 0 else "\u2212") + fmt_float(abs(points), lang, 1)


_PERIODS_CSS = """
table.periods { border-collapse: collapse; font-size: 13.5px; margin: 2px 0 4px 0; }
table.periods th { text-align: left; font-weight: 500; padding: 2px 14px 2px 0; color: #444; }
table.periods td { padding: 2px 0; }
p { margin: 3px 0; font-size: 13.5px; line-height: 1.4; }
p.relation { font-weight: 600; }
p.caveat { color: #7a4a00; background: #fff6e5; border-left: 3px solid #ff9f1c; padding: 4px 8px; }
"""

_LEGEND_CSS = """
ul.flags { list-style: none; margin: 0; padding: 0; font-size: 13px; line-height: 1.5; }
ul.flags li { display: flex; align-items: baseline; gap: 6px; }
.swatch { flex: none; display: inline-block; width: 10px; height: 10px; border-radius: 2px; }
p.note { margin: 4px 0 0 0; font-size: 12px; color: #555; }
"""

_SHARES_CSS = """
table.shares { border-collapse: collapse; width: 100%; font-size: 13px; }
table.shares th, table.shares td { padding: 5px 8px; border-bottom: 1px solid #e5e5e5; }
table.shares thead th { text-align: left; font-weight: 600; color: #333; border-bottom: 1px solid #999; }
table.shares thead th:nth-child(2), table.shares thead th:nth-child(3) { text-align: right; }
table.shares tbody th { text-align: left; font-weight: 500; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.change { width: 34%; }
div.change { display: flex; align-items: center; gap: 8px; }
.bars { display: flex; flex: 1; height: 14px; }
.half { flex: 1; display: flex; }
.half.neg { justify-content: flex-end; border-right: 1px solid #888; }
.bar { display: block; height: 100%; border-radius: 2px; opacity: 0.85; }
.value { width: 4.5em; text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.swatch { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px; }
"""
