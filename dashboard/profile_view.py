"""The segment profile table: each segment's typical customer in real units, beside all customers.

Features are rows and segments columns: a row reads as one fact across the segments ("late rate:
6.2 % overall, 17.9 % ▲ in this segment"), and up to eight segments and the two set-aside groups fit
1280 px without sideways scrolling, where eleven feature columns would not. Past
``SENTENCES_IN_TABLE_UP_TO`` groups the columns are too narrow for a sentence (a dozen lines each):
the sentences go in a list under the table, and long words of the names get soft hyphens (Pyphen's
dictionaries; Chromium on Linux has none for ``hyphens: auto``), so that "internationaux" breaks
as "interna-tionaux", not "internatio/naux".

Which statistic is the typical value follows ``workflow.naming``'s descriptions: the median for
counts, days, money and weights (a few very large accounts drag a mean far from every real customer),
the mean for shares (the mean of a 0/1 rate is the share of all shipments). A value is marked ▲ or ▼
when the segment sits at least ``TRAIT_Z`` standard deviations away on the model's scaled space (the
yardstick the segment names rest on) and its shown value is on the same side of the overall one.

The means and medians logged with the model (``profile.csv``, ``SegmentModel.profile``) are reused
when the customers shown are those it was computed on; otherwise they are computed here.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd
import panel as pn
import panel_material_ui as pmui
import param
import pyphen

from dashboard.analysis import segment_means
from dashboard.i18n import MINUS, currency_symbol, feature_label, fmt_float, fmt_int, fmt_money, fmt_pct, t
from dashboard.palette import segment_colour
from dashboard.viewer import StoreViewer, units
from workflow.features import COUNT_FEATURES, MONEY_FEATURES, SHARE_FEATURES
from workflow.naming import TRAIT_Z, WHOLE_MONEY_FROM
from workflow.profiles import segment_medians

#: Profiles kept, per scored customers (``dashboard.scoring.Scored``), oldest dropped first.
PROFILE_CACHE_SIZE = 4
_PROFILES: dict[int, tuple[weakref.ref, Profile]] = {}

MEDIAN = "median"
MEAN = "mean"
#: Most groups (segments and set-aside groups) whose sentences fit a row of the table (~120 px each).
SENTENCES_IN_TABLE_UP_TO = 6
#: Words at least this long get soft hyphens in a crowded table.
HYPHENATE_FROM = 8
#: Pyphen's dictionary for each interface language.
_HYPHENATION = {"en": "en_GB", "fr": "fr"}

#: Typical values shown with one decimal (a median of counts can fall between two customers).
ONE_DECIMAL = frozenset({"frequency", "avg_weight_kg"})


def statistic_of(feature: str) -> str:
    """``"mean"`` for a share, ``"median"`` for counts, days, money, weights and unknown features."""
    return MEAN if feature in SHARE_FEATURES else MEDIAN


@dataclass(frozen=True)
class Profile:
    """Typical values of each feature (rows) per segment and set-aside group (columns), and overall.

    Attributes
    ----------
    typical : DataFrame
        Index: the features; columns: the labels ``0 .. n_labels - 1``. Each feature's statistic.
    overall : Series
        The same statistic over every customer, per feature.
    z : DataFrame
        Same shape as ``typical``: the group's mean in the model's scaled space (its z-score).
    statistic : Series
        ``"median"`` or ``"mean"`` per feature.
    sizes : ndarray of int
        Customers per label.
    """

    typical: pd.DataFrame
    overall: pd.Series
    z: pd.DataFrame
    statistic: pd.Series
    sizes: np.ndarray

    def marks(self) -> pd.DataFrame:
        """+1 where a value is well above all customers, -1 well below, 0 otherwise.

        Well above: z ≥ ``TRAIT_Z`` and the value shown exceeds the overall one (both conditions: a
        median can tie the overall median while the segment's distribution sits higher).
        """
        above = (self.z >= TRAIT_Z) & self.typical.gt(self.overall, axis=0)
        below = (self.z <= -TRAIT_Z) & self.typical.lt(self.overall, axis=0)
        return above.astype(int) - below.astype(int)


def segment_profile(
    features: pd.DataFrame,
    labels: np.ndarray,
    n_labels: int,
    z: pd.DataFrame,
    logged: pd.DataFrame | None = None,
) -> Profile:
    """Each feature's typical value per label and over all customers.

    Parameters
    ----------
    features : DataFrame
        The customers' model features in real units, one row per customer.
    labels : ndarray of int
        Each customer's label (K-means segments, then the set-aside groups).
    n_labels : int
        Number of labels.
    z : DataFrame
        Labels × features: each label's mean in the model's scaled space (``DataStore.z_scores``).
    logged : DataFrame, optional
        The profile logged with the model (``mean_<feature>``, ``median_<feature>``, ``size`` per
        label). Its values are used when its sizes are those of ``labels``, i.e. it describes these
        customers; otherwise (other data, an older version without it) they are computed.

    Returns
    -------
    Profile
    """
    names = list(features.columns)
    statistic = pd.Series([statistic_of(name) for name in names], index=names)
    sizes = np.bincount(labels, minlength=n_labels)
    columns = [f"{statistic[name]}_{name}" for name in names]
    data = features.to_numpy(dtype="float64")
    if _describes(logged, sizes, columns):
        table = logged[columns].to_numpy(dtype="float64").T
    else:
        means, medians = segment_means(data, labels, n_labels), segment_medians(data, labels, n_labels)
        table = np.where((statistic == MEAN).to_numpy()[:, None], means.T, medians.T)
    # Over every customer, set-aside groups included: the reference the segments' names are read against.
    overall = pd.Series(np.where(statistic == MEAN, data.mean(axis=0), np.median(data, axis=0)), index=names)
    labels_index = pd.RangeIndex(n_labels, name="segment")
    typical = pd.DataFrame(table, index=pd.Index(names, name="feature"), columns=labels_index)
    z_table = z[names].T.set_axis(labels_index, axis=1).rename_axis("feature")
    return Profile(typical=typical, overall=overall, z=z_table, statistic=statistic, sizes=sizes)


def _describes(logged: pd.DataFrame | None, sizes: np.ndarray, columns: list[str]) -> bool:
    """Whether the logged profile holds ``columns`` for exactly these groups of customers."""
    if logged is None or "size" not in logged or any(column not in logged for column in columns):
        return False
    return len(logged) == len(sizes) and np.array_equal(logged["size"].to_numpy(dtype="int64"), sizes)


# --- formats -----------------------------------------------------------------------------------------


def fmt_signed_money(value: float, lang: str, currency: str, *, cents: bool = False) -> str:
    """Money with a true minus before the symbol: ``−£1,044`` / ``−1 044 £``; cents when asked."""
    if not np.isfinite(value):
        return "–"
    if not cents:
        return fmt_money(value, lang, currency)
    sign = MINUS if value < 0 else ""
    number = fmt_float(abs(value), lang, 2)
    symbol = currency_symbol(currency)
    if not symbol:
        return sign + number
    return f"{sign}{number}\u202f{symbol}" if lang == "fr" else f"{sign}{symbol}{number}"


def fmt_value(feature: str, value: float, lang: str, currency: str) -> str:
    """A typical value in the feature's unit: ``17.9%``, ``161``, ``£346``, ``£31.50``, ``2.5``, ``4.2``."""
    if not np.isfinite(value):
        return "–"
    if feature in SHARE_FEATURES:
        return fmt_pct(value, lang)
    if feature in MONEY_FEATURES:
        # Whole money from 100 on, as the descriptions write it; cents below (an €8.50 parcel).
        return fmt_signed_money(value, lang, currency, cents=abs(value) < WHOLE_MONEY_FROM)
    if feature in ONE_DECIMAL:
        return fmt_int(value, lang) if float(value).is_integer() else fmt_float(value, lang, 1)
    if feature in COUNT_FEATURES:
        return fmt_int(value, lang)
    return fmt_float(value, lang, 2)


# --- the view ----------------------------------------------------------------------------------------


class SegmentProfiles(StoreViewer):
    """The profile table of the shown version: segments then set-aside groups, beside all customers.

    Rebuilt per model and language (``store.revision``); a selection does not change it (the heatmap
    shows the selection's profile). The numbers are computed once per scored customers and shared by
    every session showing them (medians of 1M customers cost a few tenths of a second).
    """

    def __panel__(self) -> pn.viewable.Viewable:
        table = pn.pane.HTML(
            self._html, stylesheets=[_CSS], sizing_mode="stretch_width", css_classes=["segment-profiles"], margin=0
        )
        # A card like the customer table's: the page's sections read as blocks.
        return pmui.Paper(table, sizing_mode="stretch_width", styles={"padding": "8px 12px"}, margin=(8, 10, 12, 10))

    def profile(self) -> Profile | None:
        """The numbers behind the table (None without a model)."""
        store = self.store
        if store.model is None or store.scored is None or store.customers is None:
            return None
        scored = store.scored
        cached = _PROFILES.get(id(scored))
        if cached is not None and cached[0]() is scored:
            return cached[1]
        model = store.model
        logged = None if store.data_path else model.profile  # logged on the training customers
        profile = segment_profile(
            store.customers[model.features], scored.labels, model.n_labels, store.z_scores(everyone=True), logged
        )
        while len(_PROFILES) >= PROFILE_CACHE_SIZE:
            _PROFILES.pop(next(iter(_PROFILES)))
        # A weak reference: the cache never keeps a model's customers alive after its Scored is dropped.
        _PROFILES[id(scored)] = (weakref.ref(scored), profile)
        return profile

    @param.depends("store.revision")
    def _html(self) -> str:
        profile = self.profile()
        if profile is None:
            return ""
        store = self.store
        return profile_html(profile, store.model, self.lang, units(store), other_data=bool(store.data_path))


def profile_html(
    profile: Profile, model: object, lang: str, unit: dict[str, object], *, other_data: bool = False
) -> str:
    """The table as HTML: a header per group (name, size), their one-sentence description, a row per feature.

    The segment's colour is its header's top border (the colour of its KPI card and of the plots).
    ``other_data``: the customers are not the training ones, and the sentences (written at training)
    are labelled as such.
    """
    names, descriptions = model.names(lang), model.descriptions(lang)
    k = model.k
    # A set-aside group nobody falls in (the rule was fitted on other data) has nothing to show.
    groups = [label for label in range(model.n_labels) if label < k or profile.sizes[label] > 0]
    crowded = len(groups) > SENTENCES_IN_TABLE_UP_TO
    if crowded:
        names = {label: hyphenated(name, lang) for label, name in names.items()}
    total = int(profile.sizes.sum())
    marks = profile.marks()
    currency = str(unit["currency"])

    def header(label: int) -> str:
        aside = label >= k
        tag = f'<span class="aside-tag">{t("profile_set_aside", lang)}</span>' if aside else ""
        share = fmt_pct(profile.sizes[label] / total if total else np.nan, lang)
        css = _group_class(label, k, groups)
        return (
            f'<th scope="col" class="{css}" style="border-top-color:{segment_colour(label)}">'
            f'{tag}<span class="name">{escape(names.get(label, str(label)))}</span>'
            f'<span class="size">{fmt_int(profile.sizes[label], lang)} · {share}</span></th>'
        )

    head = (
        f'<tr><th scope="col" class="feature"></th><th scope="col" class="overall">'
        f'<span class="name">{t("profile_all", lang)}</span>'
        f'<span class="size">{fmt_int(total, lang)}</span></th>' + "".join(header(label) for label in groups)
    )
    sentence_key = "profile_sentence_training" if other_data else "profile_sentence"
    if crowded:
        sentence, sentences = "", _sentence_list(groups, names, descriptions, t(sentence_key, lang))
    else:
        sentences = ""
        sentence = (
            f'<tr class="sentence"><th scope="row" class="feature">{t(sentence_key, lang)}</th>'
            '<td class="overall"></td>'
            + "".join(
                f'<td class="{_group_class(label, k, groups)}">{escape(descriptions.get(label, ""))}</td>'
                for label in groups
            )
            + "</tr>"
        )
    rows = []
    typical = profile.typical
    for feature in typical.index:
        label = escape(feature_label(feature, lang, **unit))
        statistic = t(f"profile_{profile.statistic[feature]}", lang)
        cells = [
            f'<th scope="row" class="feature">{label}<span class="stat">{statistic}</span></th>',
            f'<td class="overall">{fmt_value(feature, profile.overall[feature], lang, currency)}</td>',
        ]
        for group in groups:
            text = fmt_value(feature, typical.loc[feature, group], lang, currency)
            cells.append(_value_cell(text, int(marks.loc[feature, group]), _group_class(group, k, groups), lang))
        rows.append(f'<tr class="feature-{feature}">{"".join(cells)}</tr>')
    width = _label_columns_width(len(groups))
    colgroup = (
        f'<colgroup><col style="width:{width[0]}%"><col style="width:{width[1]}%">'
        + "<col>" * len(groups)
        + "</colgroup>"
    )
    notes = f'<p class="help">{t("profile_help", lang)}'
    if groups[-1] >= k:
        notes += f" {t('profile_set_aside_help', lang)}"
    notes += "</p>"
    return (
        f'<div class="profile" lang="{lang}"><h3>{t("profile_title", lang)}</h3>'
        f'<p class="subtitle">{t("profile_subtitle", lang)}</p>'
        f'<table class="profile-table{" crowded" if crowded else ""}">{colgroup}<thead>{head}</tr></thead>'
        f"<tbody>{sentence}{''.join(rows)}</tbody></table>{notes}{sentences}</div>"
    )


def hyphenated(text: str, lang: str) -> str:
    """``text`` with soft hyphens (U+00AD) where its long words may break: "in-ter-na-tio-naux".

    A soft hyphen is invisible unless the line breaks there, where it shows as "-". Words shorter
    than ``HYPHENATE_FROM`` letters are left whole.

    Parameters
    ----------
    text : str
        A segment name.
    lang : {"en", "fr"}
        Its language (Pyphen's British English or French patterns).

    Returns
    -------
    str
        ``text`` with soft hyphens inserted (removing them gives ``text`` back).
    """
    dictionary = _dictionary(_HYPHENATION.get(lang, "en_GB"))
    return " ".join(
        dictionary.inserted(word, hyphen="\u00ad") if len(word) >= HYPHENATE_FROM else word for word in text.split(" ")
    )


@functools.cache
def _dictionary(language: str) -> pyphen.Pyphen:
    return pyphen.Pyphen(lang=language)


def _sentence_list(groups: list[int], names: dict[int, str], descriptions: dict[int, str], title: str) -> str:
    """The groups' sentences as a list in two columns, each after its colour and name."""
    items = "".join(
        f'<div class="item"><dt><span class="swatch" style="background:{segment_colour(label)}"></span>'
        f"{escape(names.get(label, str(label)))}</dt><dd>{escape(descriptions.get(label, ''))}</dd></div>"
        for label in groups
    )
    return f'<h4 class="sentences-title">{title}</h4><dl class="sentences">{items}</dl>'


def _group_class(label: int, k: int, groups: list[int]) -> str:
    if label < k:
        return "group"
    first_aside = next(group for group in groups if group >= k)
    return "group aside first-aside" if label == first_aside else "group aside"


def _value_cell(text: str, mark: int, css: str, lang: str) -> str:
    """A value with its ▲/▼ mark: an arrow, bold type and a tint, and the words for screen readers."""
    if mark == 0:
        # An empty arrow slot: values of a column stay aligned on their last digit.
        return f'<td class="{css}">{text}<span class="arrow"></span></td>'
    words = t("profile_above" if mark > 0 else "profile_below", lang)
    arrow = "▲" if mark > 0 else "▼"
    return (
        f'<td class="{css} {"high" if mark > 0 else "low"}" title="{words}"><b>{text}</b>'
        f'<span class="arrow" aria-hidden="true">{arrow}</span><span class="sr">{words}</span></td>'
    )


def _label_columns_width(n_labels: int) -> tuple[int, int]:
    """Percent widths of the feature and overall columns: narrower as the groups get more."""
    return (15, 9) if n_labels <= 6 else (13, 8)


_CSS = """
.profile h3 { font-size: 20px; font-weight: 500; margin: 2px 0 0 0; letter-spacing: 0.01em; }
.profile .subtitle { font-size: 12.5px; color: #555; margin: 2px 0 8px 0; }
.profile-table { table-layout: fixed; width: 100%; border-collapse: collapse; font-size: 12.5px; }
/* A name too long for a narrow column is hyphenated where the browser knows the language (lang on
   the table), else broken. */
.profile-table th, .profile-table td { padding: 4px 6px; vertical-align: top; overflow-wrap: break-word;
  hyphens: auto; }
.profile-table thead th { text-align: left; font-weight: 600; border-top: 4px solid transparent;
  border-bottom: 1px solid #bbb; vertical-align: bottom; }
.profile-table thead th .name { display: block; line-height: 1.25; }
.profile-table thead th .size { display: block; font-weight: 400; color: #555; margin-top: 2px; }
.profile-table th.feature { text-align: left; font-weight: 500; color: #333; }
.profile-table th.feature .stat { display: block; font-size: 11px; font-weight: 400; color: #777; }
.profile-table tbody td { text-align: right; font-variant-numeric: tabular-nums; }
.profile-table tbody tr { border-bottom: 1px solid #eee; }
.profile-table tr.sentence td { text-align: left; white-space: normal; font-size: 11.5px; line-height: 1.3;
  color: #444; }
.profile-table .overall { background: #f3f4f6; font-weight: 500; }
.profile-table .aside { background: #fafafa; color: #444; }
.profile-table .first-aside { border-left: 2px dashed #aaa; }
.profile-table .aside-tag { display: inline-block; font-size: 10.5px; font-weight: 500; text-transform: uppercase;
  letter-spacing: 0.04em; color: #555; border: 1px solid #bbb; border-radius: 3px; padding: 0 4px;
  margin-bottom: 3px; }
.profile-table td.high { background: #fde8e4; }
.profile-table td.low { background: #e3edfb; }
.profile-table .arrow { display: inline-block; width: 1.1em; text-align: right; font-size: 10px; }
.profile-table td.high .arrow { color: #b3261e; }
.profile-table td.low .arrow { color: #0b57d0; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.profile .help { font-size: 11.5px; color: #555; line-height: 1.35; margin: 6px 0 0 0; }
/* Many groups: smaller names, broken at their soft hyphens rather than anywhere. */
.profile-table.crowded thead th .name { font-size: 11.5px; }
/* ... and values that keep their arrow on their line ("−64,68 £ ▼"), in a little less padding. */
.profile-table.crowded tbody td { padding: 4px 3px; font-size: 12px; white-space: nowrap; }
.profile .sentences-title { font-size: 13px; font-weight: 500; margin: 10px 0 4px 0; }
.profile .sentences { display: grid; grid-template-columns: 1fr 1fr; gap: 4px 20px; margin: 0; font-size: 12px;
  line-height: 1.35; }
.profile .sentences dt { display: inline; font-weight: 600; }
.profile .sentences dt::after { content: " — "; font-weight: 400; }
.profile .sentences dd { display: inline; margin: 0; color: #444; }
.profile .sentences .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 5px; }
"""
