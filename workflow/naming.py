"""Segment names in a marketer's vocabulary and one-sentence descriptions, in English and French.

Pure computation on the profile table (one row per group of customers): no file, no MLflow, no
widget. :func:`describe_segments` is the entry point.

What sets a segment apart is read on its **z-scores**: the segment's centre in the model's scaled
space (``log1p`` of counts, durations and weights, ``asinh`` of money, then standard scaling). It is
the yardstick K-means used and it is robust to the heavy tails of real customer data, where means in
real units are dragged by a handful of very large accounts. Real units (medians, mean shares) are
used for the facts a person reads and for the few rules that only make sense in real units (a
customer who ordered once; a share that is a majority of shipments).

Rules (thresholds are module constants; "z" is the segment's z-score of the feature):

* **Recency stage** (needs ``recency_days``). The segment longest absent is *lapsed*, whatever its z,
  and so is the longest absent by median and by mean when those yardsticks disagree: whichever a
  reader checks, the segment he finds there reads as lapsed. Otherwise z ≥ ``LAPSED_Z`` (1.0) is
  *lapsed* too (a segment one standard deviation of log-days behind the rest has been gone several
  times longer than the average customer), ``LAPSING_Z`` (0.4) ≤ z < 1.0 is *lapsing*, z ≤
  ``ACTIVE_Z`` (−0.3) or the most recent segment is *active*; in between nothing is said.
* **New** replaces *active* when the segment is recent (z of recency ≤ 0), clearly younger than the
  others (z of ``tenure_days`` ≤ ``NEW_TENURE_Z``, −0.8) and its typical first order falls within the
  last ``NEW_TENURE_SHARE`` (a quarter) of the data window: tenure is censored by the window, so
  "young" must be read against the window, not in absolute days.
* **Loyalty** (``frequency``): *one-time* when the median customer ordered once (a fact in real
  units, so it always stands out), *frequent* for z ≥ ``FREQUENT_Z`` (0.8), *occasional* for z ≤
  ``OCCASIONAL_Z`` (−0.5), *repeat* otherwise (true, but rarely the most telling trait).
* **Value** (``monetary``, else ``avg_amount``): *high-value* for z ≥ ``TRAIT_Z`` (0.8), *low-value*
  for z ≤ −0.8. The segment with the highest total revenue (``revenue``; else mean revenue × size) is
  always *high-value*: it is the one a business cannot afford to lose.
* **Shipping** (only where the features exist): *heavy-parcel* for z of ``avg_weight_kg`` ≥ 0.8;
  *express*, *relay-point*, *international* for z of the share ≥ 0.8 **and** a mean share ≥
  ``SHARE_MIN`` (a third): a jump from 2 % to 10 % has a large z, but those customers do not ship
  "by express".
* **A name** is the stage, the forced value word, and the strongest trait above (two when the
  stage says nothing; ranked by |z|; when none passes, the loyalty level; *typical* only when no
  word applies at all), then the noun: *shippers*/*expéditeurs* when the data has shipment columns,
  else *customers*/*clients*. English adjectives come first ("Lapsed one-time customers"); French
  ones follow the noun, prepositional phrases last, *nouveaux* before it ("Clients inactifs à achat
  unique", "Nouveaux clients fidèles"). Every French adjective is masculine plural.
* **Uniqueness** (in both languages): rows that read the same each get their strongest spare trait
  that another row of the clash lacks (a trait they all share would lengthen every name and tell
  none apart), until the names differ. Late deliveries and returns ("with many delays", "with many
  returns": a rate ≥ 1.5 × the overall mean and z ≥ 0.8) serve here only, since the issue names
  customers by what they do. When traits run out, comparatives on the feature that differs most
  within the clash ("more recent" / "less recent", "higher-spending"), preferring a feature the
  name does not already state; ordinal words ("second group") only for rows that no figure tells
  apart. Names never carry digits.
* **Set-aside groups** (``kind == "set_aside"``, not K-means segments, no z-scores) are named by
  their ``rule``: *net refunders* (refunds exceed purchases) and *exceptional accounts* (outliers);
  the superlatives above only look at K-means segments.
* **Descriptions** give two or three facts in real units: the features behind the name's words
  first (*active*, the usual state, competes like any other), then the features with the largest
  |z| (a third only when |z| ≥ ``FACT_Z``). Counts, days, money and weights are segment medians
  (means are skewed); shares are means, compared with the overall mean. Net refunders get their
  mean net revenue (negative) and activity; outliers the two features on which their median is
  the most times the overall median. Numbers are formatted by Babel for each language (French
  decimal comma, narrow no-break space between thousands, "310 £"; English "£310").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from babel import Locale
from babel.numbers import format_currency, format_decimal, format_percent, is_currency

from workflow.features import ALL_FEATURES, SHARE_FEATURES

LANGUAGES: tuple[str, ...] = ("en", "fr")
KINDS: frozenset[str] = frozenset({"segment", "set_aside"})
OUTPUT_COLUMNS: tuple[str, ...] = ("name", "name_fr", "description", "description_fr")

#: |z| from which a trait sets a segment apart: 0.8 standard deviations of the transformed feature is
#: a large effect (Cohen's d), and below it K-means segments on real data differ mostly by noise.
TRAIT_Z = 0.8
LAPSED_Z = 1.0
LAPSING_Z = 0.4
ACTIVE_Z = -0.3
NEW_TENURE_Z = -0.8
NEW_TENURE_SHARE = 0.25
FREQUENT_Z = 0.8
OCCASIONAL_Z = -0.5
SHARE_MIN = 1 / 3
#: A third fact in a description only when it sets the segment apart at least this much.
FACT_Z = 0.5
MAX_FACTS = 3
MIN_FACTS = 2
#: Money at or above this is shown without cents: "£310", but "€31.50".
WHOLE_MONEY_FROM = 100.0
#: U+2212 for negative amounts: Babel and Python write a hyphen, shorter than a plus and read as a
#: dash. The dashboard writes it too.
MINUS = "\u2212"
_DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class Word:
    """One word group of a name, in English and French.

    Attributes
    ----------
    en, fr : str
        The words, lower case (the name's first word is capitalised when rendered).
    feature : str
        The feature whose fact explains the word in the description.
    en_slot : str
        Where English puts it: ``"first"`` (comparatives: "More recent lapsed customers"), an
        ``"adjective"`` before the noun in vocabulary order, or ``"after"`` the noun ("with many returns").
    fr_slot : str
        Where French puts it: ``"before"`` the noun (*nouveaux*), an ``"adjective"`` right after it,
        or a ``"complement"`` (a prepositional phrase, after the adjectives).
    fr_shippers : str
        The French words when the noun is *expéditeurs*, if they differ.
    """

    en: str
    fr: str
    feature: str
    en_slot: str = "adjective"
    fr_slot: str = "adjective"
    fr_shippers: str = ""

    def french(self, shipment_data: bool) -> str:
        """The French words for this kind of data."""
        return self.fr_shippers if shipment_data and self.fr_shippers else self.fr


#: English "with ..." phrases after the noun, French prepositional phrases.
_PHRASE = {"en_slot": "after", "fr_slot": "complement"}
#: Every word a segment name may use, in English word order (stage, loyalty, value, shipping, service).
#: The value words' feature is ``monetary``; without it, ``avg_amount`` explains them.
WORDS: dict[str, Word] = {
    "new": Word("new", "nouveaux", "tenure_days", fr_slot="before"),
    "active": Word("active", "actifs", "recency_days"),
    "lapsing": Word("lapsing", "à risque", "recency_days", fr_slot="complement"),
    "lapsed": Word("lapsed", "inactifs", "recency_days"),
    "one_time": Word("one-time", "à achat unique", "frequency", fr_slot="complement", fr_shippers="à envoi unique"),
    "occasional": Word("occasional", "occasionnels", "frequency"),
    "repeat": Word("repeat", "réguliers", "frequency"),
    "frequent": Word("frequent", "fidèles", "frequency"),
    "high_value": Word("high-value", "à forte valeur", "monetary", fr_slot="complement"),
    "low_value": Word("low-value", "à faible valeur", "monetary", fr_slot="complement"),
    "heavy": Word("heavy-parcel", "de colis lourds", "avg_weight_kg", fr_slot="complement"),
    "express": Word("express", "en express", "express_share", fr_slot="complement"),
    "relay": Word("relay-point", "en point relais", "relay_share", fr_slot="complement"),
    "international": Word("international", "internationaux", "international_share"),
    # Only when no other word applies (no recency, frequency or value feature stands out).
    "typical": Word("typical", "types", ""),
    "late": Word("with many delays", "aux retards fréquents", "late_rate", **_PHRASE),
    "returns": Word("with many returns", "aux retours fréquents", "return_rate", **_PHRASE),
}
#: Words by role, for readers and tests.
STAGE_WORDS: tuple[str, ...] = ("new", "active", "lapsing", "lapsed")
LOYALTY_WORDS: tuple[str, ...] = ("one_time", "occasional", "repeat", "frequent")
LAPSED_WORDS: frozenset[str] = frozenset({"lapsed"})
VALUE_WORDS: frozenset[str] = frozenset({"high_value"})
#: Shipping traits: (word, feature, whether the feature is a share that must also be a SHARE_MIN majority).
SHIPPING_TRAITS: tuple[tuple[str, str, bool], ...] = (
    ("heavy", "avg_weight_kg", False),
    ("express", "express_share", True),
    ("relay", "relay_share", True),
    ("international", "international_share", True),
)
#: Service traits only break ties between segments that would read the same (the issue's vocabulary
#: names customers by what they do, not by what happens to their parcels), and only when the rate is
#: at least SERVICE_RATIO times the overall mean: a z of 0.8 on a 6 % rate can be 8 %, not "many".
SERVICE_TRAITS: tuple[tuple[str, str], ...] = (("late", "late_rate"), ("returns", "return_rate"))
SERVICE_RATIO = 1.5


def _comparatives(
    feature: str, higher: tuple[str, str], lower: tuple[str, str], *, en_slot: str = "first", fr_slot: str = "adjective"
) -> dict[tuple[str, int], Word]:
    """The (English, French) words for the group's highest and lowest value of ``feature``."""
    return {
        (feature, 1): Word(*higher, feature, en_slot=en_slot, fr_slot=fr_slot),
        (feature, -1): Word(*lower, feature, en_slot=en_slot, fr_slot=fr_slot),
    }


#: Last-resort comparatives: (feature, direction) → words; direction +1 for the group's highest value.
COMPARATIVES: dict[tuple[str, int], Word] = {
    **_comparatives("recency_days", ("less recent", "moins récents"), ("more recent", "plus récents")),
    **_comparatives("frequency", ("more frequent", "plus assidus"), ("less frequent", "moins assidus")),
    **_comparatives("monetary", ("higher-spending", "plus dépensiers"), ("lower-spending", "moins dépensiers")),
    **_comparatives("tenure_days", ("longer-standing", "plus anciens"), ("newer", "moins anciens")),
    # "Ticket": the average sale, a retailer's and a carrier's word alike; French says "panier moyen".
    **_comparatives(
        "avg_amount",
        ("higher-ticket", "au panier moyen plus élevé"),
        ("lower-ticket", "au panier moyen plus bas"),
        fr_slot="complement",
    ),
    **_comparatives(
        "avg_weight_kg",
        ("heavier-parcel", "aux colis plus lourds"),
        ("lighter-parcel", "aux colis plus légers"),
        fr_slot="complement",
    ),
    **_comparatives(
        "express_share",
        ("more express", "plus souvent en express"),
        ("less express", "moins souvent en express"),
        fr_slot="complement",
    ),
    **_comparatives(
        "relay_share",
        ("more relay-point", "plus souvent en point relais"),
        ("less relay-point", "moins souvent en point relais"),
        fr_slot="complement",
    ),
    **_comparatives(
        "international_share",
        ("more international", "plus internationaux"),
        ("less international", "moins internationaux"),
    ),
    **_comparatives(
        "late_rate",
        ("with more delays", "aux retards plus fréquents"),
        ("with fewer delays", "aux retards moins fréquents"),
        **_PHRASE,
    ),
    **_comparatives(
        "return_rate",
        ("with more returns", "aux retours plus fréquents"),
        ("with fewer returns", "aux retours moins fréquents"),
        **_PHRASE,
    ),
}
#: For identical profiles only: "(second group)", "(deuxième groupe)".
ORDINALS: tuple[tuple[str, str], ...] = (
    ("second", "deuxième"), ("third", "troisième"), ("fourth", "quatrième"), ("fifth", "cinquième"),
    ("sixth", "sixième"), ("seventh", "septième"), ("eighth", "huitième"), ("ninth", "neuvième"),
    ("tenth", "dixième"), ("eleventh", "onzième"), ("twelfth", "douzième"), ("thirteenth", "treizième"),
    ("fourteenth", "quatorzième"), ("fifteenth", "quinzième"), ("sixteenth", "seizième"),
    ("seventeenth", "dix-septième"), ("eighteenth", "dix-huitième"), ("nineteenth", "dix-neuvième"),
    ("twentieth", "vingtième"),
)  # fmt: skip
#: Noun of the names: (English, French) by ``shipment_data``.
NOUNS: dict[bool, tuple[str, str]] = {False: ("customers", "clients"), True: ("shippers", "expéditeurs")}
#: Names of set-aside groups by rule: "comptes" in French fits customers and shippers alike.
SET_ASIDE_NAMES: dict[str, tuple[str, str]] = {
    "net_refunders": ("Net refunders", "Comptes en solde négatif"),
    "outliers": ("Exceptional accounts", "Comptes hors norme"),
}
OTHER_SET_ASIDE_NAME: tuple[str, str] = ("Set-aside accounts", "Comptes mis à part")
#: Features whose ratio to the overall median says how far beyond the rest an outlier group is.
OUTLIER_FEATURES: tuple[str, ...] = ("frequency", "monetary", "avg_amount", "avg_weight_kg")
#: An exceptional account's second fact must be at least this many times the typical customer's.
FAR_BEYOND = 2.0
#: Features sentences may report, in the order facts are written (frequency first, as in "12 orders
#: in the year, last 9 days ago"): the recency fact then reads "last 9 days ago".
FACT_ORDER: tuple[str, ...] = (
    "frequency", "recency_days", "tenure_days", "monetary", "avg_amount", "avg_weight_kg",
    "express_share", "relay_share", "international_share", "late_rate", "return_rate",
)  # fmt: skip

# Sentence templates. Keys that depend on the kind of data are indexed by ``shipment_data``.
# French punctuation: a no-break space before ":" and a narrow one before ";" (Imprimerie nationale).
_TEXT: dict[str, dict[str, object]] = {
    "en": {
        "events": {False: ("order", "orders"), True: ("shipment", "shipments")},
        "holder": {False: "customer", True: "shipper"},
        "holders": {False: "customers", True: "shippers"},
        "days": ("day", "days"),
        "frequency": "{count} {events} {period}",
        "recency_days": {False: "last order {days} ago", True: "last shipment {days} ago"},
        "recency_after_frequency": "last {days} ago",
        "recency_after_one": "{days} ago",
        "tenure_days": {False: "first order {days} ago", True: "first shipment {days} ago"},
        "monetary": "{money} revenue per {holder}",
        "avg_amount": {False: "{money} per order", True: "{money} per shipment"},
        "avg_weight_kg": "{weight}\u00a0kg per parcel",
        "express_share": "{share} by express",
        "relay_share": "{share} to relay points",
        "international_share": "{share} abroad",
        "late_rate": "{share} late deliveries",
        "return_rate": "{share} returns",
        "against_mean": "{fact} against {other} overall",
        "against_typical": "{fact} against {other} for a typical {holder}",
        "against": "{fact} against {other}",
        "net_refunders": "net revenue {money} on average: refunds exceed purchases",
        "then": "; ",
        "outliers": "far beyond the rest: {facts}",
        "set_aside": "set aside before clustering: {facts}",
        "empty": "no {holders} in this group",
        "year": "in the year",
        "in_months": "in {n} months",
        "over_months": "over {n} months",
        "in_days": "in {days}",
    },
    "fr": {
        "events": {False: ("commande", "commandes"), True: ("envoi", "envois")},
        "holder": {False: "client", True: "expéditeur"},
        "holders": {False: "clients", True: "expéditeurs"},
        "days": ("jour", "jours"),
        "frequency": "{count} {events} {period}",
        "recency_days": {False: "dernière commande il y a {days}", True: "dernier envoi il y a {days}"},
        "recency_after_frequency": {False: "la dernière il y a {days}", True: "le dernier il y a {days}"},
        "recency_after_one": "il y a {days}",
        "tenure_days": {False: "première commande il y a {days}", True: "premier envoi il y a {days}"},
        "monetary": "{money} de chiffre d'affaires par {holder}",
        "avg_amount": {False: "{money} par commande", True: "{money} par envoi"},
        "avg_weight_kg": "{weight}\u00a0kg par colis",
        "express_share": "{share} en express",
        "relay_share": "{share} en point relais",
        "international_share": "{share} à l'étranger",
        "late_rate": "{share} de livraisons en retard",
        "return_rate": "{share} de retours",
        "against_mean": "{fact} contre {other} en moyenne",
        "against_typical": "{fact} contre {other} pour un {holder} type",
        "against": "{fact} contre {other}",
        "net_refunders": "chiffre d'affaires net de {money} en moyenne\u00a0: les remboursements dépassent les achats",
        "then": "\u202f; ",
        "outliers": "bien au-delà des autres\u00a0: {facts}",
        "set_aside": "mis à part avant la segmentation\u00a0: {facts}",
        "empty": "aucun {holder} dans ce groupe",
        "year": "sur l'année",
        "in_months": "en {n} mois",
        "over_months": "sur {n} mois",
        "in_days": "en {days}",
    },
}
#: French prepositional phrases read best from the concrete to the evaluative: "de colis lourds et à
#: forte valeur", "à achat unique et à risque" (by the feature each phrase stands for).
_FRENCH_COMPLEMENT_ORDER: dict[str, int] = {"late_rate": 1, "return_rate": 1, "recency_days": 2, "monetary": 3}
#: CLDR's French symbol for the pound is "£GB" (to tell it from other pounds); French business
#: writing uses "£", and a data set has one currency, so there is nothing to tell apart.
_FRENCH_SYMBOLS: dict[str, tuple[str, str]] = {"GBP": ("£GB", "£")}


def describe_segments(
    profile: pd.DataFrame,
    overall: pd.Series,
    *,
    shipment_data: bool,
    currency: str | None,
    period_days: float,
) -> pd.DataFrame:
    """Name and describe every group of a model's profile, in English and French.

    Parameters
    ----------
    profile : DataFrame
        One row per group (index ``segment``): ``kind`` (``"segment"`` or ``"set_aside"``; all
        segments when absent), ``rule`` (``"net_refunders"``, ``"outliers"`` for set-aside rows),
        ``size``, optionally ``revenue``, and per feature ``mean_<feature>``, ``median_<feature>``
        (real units) and ``z_<feature>`` (centre in the model's scaled space; NaN for set-aside rows).
    overall : Series
        ``mean_<feature>`` and ``median_<feature>`` over all customers, for "against X overall".
    shipment_data : bool
        Whether the data has shipment columns (service or weight): the noun is then *shippers* /
        *expéditeurs* and sentences count shipments; otherwise *customers* / *clients* and orders.
    currency : str or None
        ISO 4217 code of the amounts (``"GBP"``); None prints amounts as plain numbers.
    period_days : float
        Length of the data window in days, for "12 orders in the year" / "over 18 months".

    Returns
    -------
    DataFrame
        Same index as ``profile``; columns ``name``, ``name_fr``, ``description``,
        ``description_fr``. Names are unique within the model (in each language) and carry no digits.

    Raises
    ------
    ValueError
        A duplicated index, an unknown ``kind``, an unknown currency code or a non-positive period.
    """
    if profile.index.has_duplicates:
        raise ValueError("profile: the segment index has duplicates")
    kinds = profile["kind"] if "kind" in profile else pd.Series("segment", index=profile.index)
    unknown = sorted(set(kinds.astype(str)) - KINDS)
    if unknown:
        raise ValueError(f"profile: unknown kind(s) {', '.join(unknown)}; expected segment or set_aside")
    if currency is not None and not is_currency(currency):
        raise ValueError(f"unknown currency code {currency!r}; expected an ISO 4217 code such as GBP or EUR")
    if not (math.isfinite(period_days) and period_days > 0):
        raise ValueError(f"period_days must be a positive number of days, not {period_days!r}")
    rules = profile["rule"].fillna("").astype(str) if "rule" in profile else pd.Series("", index=profile.index)
    context = _Context(
        features=_profile_features(profile),
        shipment_data=bool(shipment_data),
        currency=currency,
        period_days=float(period_days),
        overall=overall,
    )
    rows = [row for _, row in profile.iterrows()]
    is_segment = [kind == "segment" for kind in kinds.astype(str)]
    names = _name_rows(rows, is_segment, list(rules), context)
    descriptions = {
        lang: [
            _describe(row, segment, rule, named, lang, context)
            for row, segment, rule, (_, _, named) in zip(rows, is_segment, rules, names, strict=True)
        ]
        for lang in LANGUAGES
    }
    return pd.DataFrame(
        {
            "name": [en for en, _, _ in names],
            "name_fr": [fr for _, fr, _ in names],
            "description": descriptions["en"],
            "description_fr": descriptions["fr"],
        },
        index=profile.index,
    )


@dataclass(frozen=True)
class _Context:
    """What every row's name and description depend on besides the row itself."""

    features: tuple[str, ...]
    shipment_data: bool
    currency: str | None
    period_days: float
    overall: pd.Series


def _profile_features(profile: pd.DataFrame) -> tuple[str, ...]:
    """Known features that the profile reports (any of mean_, median_, z_), in canonical order."""
    prefixes = ("mean_", "median_", "z_")
    return tuple(name for name in ALL_FEATURES if any(f"{prefix}{name}" in profile for prefix in prefixes))


def _number(row: pd.Series, column: str) -> float:
    """A finite float from the row, or NaN when the column is missing or not a number."""
    value = row.get(column, np.nan)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return np.nan
    return value if math.isfinite(value) else np.nan


def _z(row: pd.Series, feature: str) -> float:
    return _number(row, f"z_{feature}")


def _typical(row: pd.Series, feature: str) -> float:
    """The value a sentence reports: the mean for shares (a median share is often 0 or 1), else the median."""
    first, second = ("mean_", "median_") if feature in SHARE_FEATURES else ("median_", "mean_")
    value = _number(row, f"{first}{feature}")
    return value if math.isfinite(value) else _number(row, f"{second}{feature}")


# --------------------------------------------------------------------------------------------------
# Names


@dataclass
class _Plan:
    """The words of one row's name: those it shows and the traits it may still add, strongest first."""

    words: list[str]
    spare: list[str]
    comparatives: list[Word]
    fixed: tuple[str, str] | None = None  # set-aside rows: (English, French) by rule
    ordinal: int = 0  # 1 → "second group", ...


def _name_rows(
    rows: list[pd.Series], is_segment: list[bool], rules: list[str], context: _Context
) -> list[tuple[str, str, list[str]]]:
    """(English name, French name, features the name states) per row; names unique in each language."""
    segments = [i for i, segment in enumerate(is_segment) if segment]
    longest_absent = _argmax_rows(rows, segments, ("z_recency_days", "median_recency_days", "mean_recency_days"))
    most_recent = _argmax_rows(rows, segments, ("z_recency_days",), sign=-1)
    top_revenue = _argmax_rows(rows, segments, ("revenue",)) or _top_revenue_from_means(rows, segments)
    plans = []
    for i, row in enumerate(rows):
        if not is_segment[i]:
            plans.append(_Plan([], [], [], fixed=SET_ASIDE_NAMES.get(rules[i], OTHER_SET_ASIDE_NAME)))
            continue
        stage = _stage(row, context, lapsed=i in longest_absent, most_recent=i in most_recent)
        plans.append(_plan_segment(row, context, stage=stage, top_revenue=i in top_revenue))
    _make_unique(rows, plans, context)
    value = _value_feature(context)
    named = []
    for plan in plans:
        # The features that explain the name, for the description: "monetary" stands for the value
        # feature. "Active" is the usual state of most segments: its fact competes on |z| like any other.
        words = [key for key in plan.words if key != "active"]
        features = [WORDS[key].feature for key in words if WORDS[key].feature] + [c.feature for c in plan.comparatives]
        named.append([value if feature == "monetary" else feature for feature in features])
    rendered = [_render(plan, context.shipment_data) for plan in plans]
    return [(en, fr, features) for (en, fr), features in zip(rendered, named, strict=True)]


def _argmax_rows(rows: list[pd.Series], among: list[int], columns: Sequence[str], sign: int = 1) -> set[int]:
    """Rows holding the largest value (``sign=-1``: smallest) of each column, among ``among``."""
    chosen = set()
    for column in columns:
        values = {i: sign * _number(rows[i], column) for i in among}
        values = {i: v for i, v in values.items() if math.isfinite(v)}
        if values:
            best = max(values.values())
            # Ties: the first row, so that the result does not depend on float noise elsewhere.
            chosen.add(min(i for i, v in values.items() if v == best))
    return chosen


def _top_revenue_from_means(rows: list[pd.Series], among: list[int]) -> set[int]:
    revenue = {i: _number(rows[i], "mean_monetary") * _number(rows[i], "size") for i in among}
    revenue = {i: v for i, v in revenue.items() if math.isfinite(v)}
    if not revenue:
        return set()
    best = max(revenue.values())
    return {min(i for i, v in revenue.items() if v == best)}


def _stage(row: pd.Series, context: _Context, *, lapsed: bool, most_recent: bool) -> str | None:
    """Recency stage of a segment (see the module docstring), or None when nothing stands out."""
    z = _z(row, "recency_days")
    young = (
        _z(row, "tenure_days") <= NEW_TENURE_Z
        and _typical(row, "tenure_days") <= NEW_TENURE_SHARE * context.period_days
    )
    # First rule that holds; NaN fails every comparison, so a segment without z says nothing.
    stages = (
        ("lapsed", lapsed or z >= LAPSED_Z),
        ("lapsing", z >= LAPSING_Z),
        ("new", z <= 0 and young),
        ("active", z <= ACTIVE_Z or (most_recent and math.isfinite(z))),
    )
    return next((stage for stage, holds in stages if holds), None)


def _traits(row: pd.Series, context: _Context, *, top_revenue: bool) -> list[tuple[float, str]]:
    """(strength, word) of every trait the rules grant the segment, strongest first."""
    traits = []
    if "frequency" in context.features:
        z = _z(row, "frequency")
        if _typical(row, "frequency") <= 1:
            # Half the segment ordered once: a fact in real units, worth a name whatever its z.
            traits.append((max(abs(z) if math.isfinite(z) else 0.0, TRAIT_Z), "one_time"))
        elif z >= FREQUENT_Z:
            traits.append((z, "frequent"))
        elif z <= OCCASIONAL_Z:
            traits.append((-z, "occasional"))
        elif math.isfinite(z):
            traits.append((abs(z), "repeat"))
    value_z = _z(row, _value_feature(context))
    if top_revenue:
        traits.append((math.inf, "high_value"))
    elif value_z >= TRAIT_Z:
        traits.append((value_z, "high_value"))
    elif value_z <= -TRAIT_Z:
        traits.append((-value_z, "low_value"))
    for word, feature, is_share in SHIPPING_TRAITS:
        z = _z(row, feature)
        if z >= TRAIT_Z and (not is_share or _typical(row, feature) >= SHARE_MIN):
            traits.append((z, word))
    # Stable sort: equal strengths keep the vocabulary's order, so names are deterministic.
    return sorted(traits, key=lambda pair: -pair[0])


def _service_traits(row: pd.Series, context: _Context) -> list[tuple[float, str]]:
    """(strength, word) of the late-delivery and return traits, which only break ties."""
    traits = []
    for word, feature in SERVICE_TRAITS:
        z, rate, overall = _z(row, feature), _typical(row, feature), _number(context.overall, f"mean_{feature}")
        if z >= TRAIT_Z and not rate < SERVICE_RATIO * overall:
            traits.append((z, word))
    return traits


def _value_feature(context: _Context) -> str:
    return "monetary" if "monetary" in context.features else "avg_amount"


def _plan_segment(row: pd.Series, context: _Context, *, stage: str | None, top_revenue: bool) -> _Plan:
    traits = _traits(row, context, top_revenue=top_revenue)
    words = [stage] if stage else []
    strong = [word for strength, word in traits if strength >= TRAIT_Z]
    # Two words describe a segment: the stage and its strongest trait, or its two strongest traits when
    # its recency is unremarkable; the forced value word comes on top. When no trait stands out, the
    # loyalty level (always defined), so that a name says something beyond the stage.
    forced = ["high_value"] if top_revenue else []
    others = [word for word in strong if word not in forced][: 1 if stage else 2]
    if not others:
        others = [word for _, word in traits if word not in forced][:1]
    words += forced + others
    if not words:
        words = ["typical"]
    spare = [word for _, word in sorted(traits + _service_traits(row, context), key=lambda pair: -pair[0])]
    spare = [word for word in spare if word not in words]
    return _Plan(words, spare, [])


def _render(plan: _Plan, shipment_data: bool) -> tuple[str, str]:
    """(English, French) name of a plan."""
    if plan.fixed is not None:
        english, french = plan.fixed
    else:
        noun_en, noun_fr = NOUNS[shipment_data]
        # Vocabulary order; "typical" only stands in for a name with no other word.
        keys = [key for key in plan.words if key != "typical"]
        keys = keys or ([] if plan.comparatives else plan.words)
        words = [WORDS[key] for key in WORDS if key in keys]
        english = _english(noun_en, [*words, *plan.comparatives])
        french = _french(noun_fr, [*words, *plan.comparatives], shipment_data)
    if plan.ordinal:
        en_ordinal, fr_ordinal = ORDINALS[(plan.ordinal - 1) % len(ORDINALS)]
        english, french = f"{english} ({en_ordinal} group)", f"{french} ({fr_ordinal} groupe)"
    return _capitalise(english), _capitalise(french)


def _english(noun: str, words: list[Word]) -> str:
    """English order: comparatives, adjectives, noun, "with ..." phrases ("A and B")."""
    first = [w.en for w in words if w.en_slot == "first"]
    adjectives = [w.en for w in words if w.en_slot == "adjective"]
    after = [w.en for w in words if w.en_slot == "after"]
    # "with many returns and more delays": one "with" for the whole list.
    after = [after[0], *(phrase.removeprefix("with ") for phrase in after[1:])] if after else []
    return " ".join([*first, *adjectives, noun, *([" and ".join(after)] if after else [])])


def _french(noun: str, words: list[Word], shipment_data: bool) -> str:
    """French order: *nouveaux* + noun + adjectives + complements ("A, B et C")."""
    before = [w.french(shipment_data) for w in words if w.fr_slot == "before"]
    adjectives = [w.french(shipment_data) for w in words if w.fr_slot == "adjective"]
    complements = sorted(
        (w for w in words if w.fr_slot == "complement"), key=lambda w: _FRENCH_COMPLEMENT_ORDER.get(w.feature, 0)
    )
    complements = [w.french(shipment_data) for w in complements]
    if len(complements) > 1:
        complements = [", ".join(complements[:-1]) + " et " + complements[-1]]
    return " ".join([*before, noun, *adjectives, *complements])


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _make_unique(rows: list[pd.Series], plans: list[_Plan], context: _Context) -> None:
    """Grow the plans of rows that read alike until every name differs (see the module docstring)."""
    # Each round gives every row of a clash its strongest spare trait that some other row of the clash
    # lacks (a trait they all share would lengthen every name and tell none apart); a row has at most
    # len(WORDS) traits, so the rounds end.
    for _ in range(len(WORDS)):
        grown = False
        for group in _clashes(plans, context.shipment_data):
            for i in group:
                others = [set(plans[j].words + plans[j].spare) for j in group if j != i]
                word = next((w for w in plans[i].spare if any(w not in other for other in others)), None)
                if word is not None:
                    plans[i].spare.remove(word)
                    plans[i].words.append(word)
                    grown = True
        if not grown:
            break
    # Comparatives; a clash could survive one pass only if an English clash and a French one
    # overlapped without being equal, so repeat (the features already compared are not reused).
    for _ in range(len(plans)):
        clashes = _clashes(plans, context.shipment_data)
        if not clashes:
            return
        for group in clashes:
            used = {word.feature for i in group for word in plans[i].comparatives}
            _separate(rows, plans, group, context, used=used)


def _clashes(plans: list[_Plan], shipment_data: bool) -> list[list[int]]:
    """Groups of rows whose English or French names are equal."""
    rendered = [_render(plan, shipment_data) for plan in plans]
    groups: dict[str, list[int]] = {}
    for i, (english, french) in enumerate(rendered):
        groups.setdefault("en:" + english, []).append(i)
        groups.setdefault("fr:" + french, []).append(i)
    clashes, seen = [], set()
    for members in groups.values():
        key = tuple(members)
        if len(members) > 1 and key not in seen:
            seen.add(key)
            clashes.append(members)
    return clashes


def _separate(rows: list[pd.Series], plans: list[_Plan], group: list[int], context: _Context, used: set[str]) -> None:
    """Tell apart rows with the same name by comparatives on the feature that differs most among them.

    With two rows, one gets "more X" and the other "less X"; with more, the extremes get them and the
    middle rows are separated again on another feature. Identical rows get ordinal words.
    """
    if len(group) < 2:
        return
    # A comparative on a trait the name already states reads as a contradiction ("less relay-point
    # relay-point shippers"): another feature is preferred unless it differs less than half as much.
    named = {WORDS[key].feature for i in group for key in plans[i].words if key not in STAGE_WORDS}
    spreads = {}
    for feature in (f for f, direction in COMPARATIVES if direction == 1 and f in context.features and f not in used):
        values = [_comparable(rows[i], feature) for i in group]
        if all(math.isfinite(v) for v in values) and max(values) > min(values):
            spreads[feature] = (max(values) - min(values), values)
    if not spreads:
        for rank, i in enumerate(group[1:], start=1):
            plans[i].ordinal = rank
        return
    best = {
        is_named: max(((spread, f) for f, (spread, _) in spreads.items() if (f in named) == is_named), default=None)
        for is_named in (False, True)
    }
    if best[False] is not None and (best[True] is None or best[False][0] >= best[True][0] / 2):
        feature = best[False][1]
    else:
        feature = best[True][1]
    values = spreads[feature][1]
    order = sorted(range(len(group)), key=lambda j: (values[j], j))
    low, high = group[order[0]], group[order[-1]]
    plans[low].comparatives.append(COMPARATIVES[feature, -1])
    plans[high].comparatives.append(COMPARATIVES[feature, 1])
    middle = [group[j] for j in order[1:-1]]
    _separate(rows, plans, middle, context, used | {feature})


def _comparable(row: pd.Series, feature: str) -> float:
    """Segment centres compare on z; set-aside rows (no z) on their typical values."""
    z = _z(row, feature)
    return z if math.isfinite(z) else _typical(row, feature)


# --------------------------------------------------------------------------------------------------
# Descriptions


def _describe(row: pd.Series, segment: bool, rule: str, named: list[str], lang: str, context: _Context) -> str:
    """One sentence of two or three facts in real units."""
    text = _TEXT[lang]
    if _number(row, "size") == 0:
        return _sentence(
            text["empty"].format(holders=_pick(text["holders"], context), holder=_pick(text["holder"], context))
        )
    if segment:
        facts = _segment_facts(row, named, context)
        if facts:
            return _sentence(_facts(row, facts, lang, context))
        # No figure to report (a profile without feature columns): say how many there are.
        holders = _pick(text["holders"], context)
        return _sentence(f"{format_decimal(_number(row, 'size'), format='#,##0', locale=lang)} {holders}")
    return _sentence(_set_aside_sentence(row, rule, lang, context))


def _segment_facts(row: pd.Series, named: list[str], context: _Context) -> list[str]:
    """Features to report: those behind the name's words, then the most distinctive others."""
    reportable = [f for f in context.features if f in FACT_ORDER and math.isfinite(_typical(row, f))]
    if {"recency_days", "tenure_days"} <= set(reportable) and _same_day(row):
        # One-time customers: first order = last order, one fact says both.
        reportable.remove("tenure_days")
        named = ["recency_days" if f == "tenure_days" else f for f in named]
    named = [f for f in dict.fromkeys(named) if f in reportable]
    # The name's features strongest first, so that the cap keeps the ones that best explain it.
    named.sort(key=lambda f: -_abs_z(row, f))
    others = sorted((f for f in reportable if f not in named), key=lambda f: -_abs_z(row, f))
    chosen = named[:MAX_FACTS]
    for feature in others:
        if len(chosen) >= MAX_FACTS or (len(chosen) >= MIN_FACTS and _abs_z(row, feature) < FACT_Z):
            break
        chosen.append(feature)
    return [f for f in FACT_ORDER if f in chosen]


def _same_day(row: pd.Series) -> bool:
    recency, tenure = _typical(row, "recency_days"), _typical(row, "tenure_days")
    return _round_half_up(recency, 0) == _round_half_up(tenure, 0)


def _abs_z(row: pd.Series, feature: str) -> float:
    z = _z(row, feature)
    return abs(z) if math.isfinite(z) else 0.0


def _facts(row: pd.Series, features: list[str], lang: str, context: _Context) -> str:
    """The facts of ``features`` (in that order) joined with commas."""
    parts = []
    for position, feature in enumerate(features):
        # "12 orders in the year, last 9 days ago"; after one order, "1 order in the year, 250 days ago".
        after = None
        if feature == "recency_days" and position > 0 and features[position - 1] == "frequency":
            after = "recency_after_one" if _typical(row, "frequency") <= 1 else "recency_after_frequency"
        fact = _fact(feature, _typical(row, feature), lang, context, template_key=after)
        overall = _number(context.overall, f"mean_{feature}")
        if feature in SHARE_FEATURES and math.isfinite(overall):
            fact = _TEXT[lang]["against_mean"].format(fact=fact, other=_percent(overall, lang))
        parts.append(fact)
    return ", ".join(parts)


def _fact(feature: str, value: float, lang: str, context: _Context, *, template_key: str | None = None) -> str:
    """One fact in real units, e.g. "12 orders in the year" or "£310 per order"."""
    text = _TEXT[lang]
    template = _pick(text[template_key or feature], context)
    if feature in SHARE_FEATURES:
        return template.format(share=_percent(value, lang))
    if feature in {"recency_days", "tenure_days"}:
        return template.format(days=_days(value, lang))
    if feature in {"monetary", "avg_amount"}:
        return template.format(money=_money(value, lang, context.currency), holder=_pick(text["holder"], context))
    if feature == "avg_weight_kg":
        return template.format(weight=format_decimal(value, format="#,##0.0", locale=lang))
    singular, plural = _pick(text["events"], context)
    events = singular if _singular(_shown_count(value), lang) else plural
    return template.format(count=_count(value, lang), events=events, period=_period(context, lang))


def _set_aside_sentence(row: pd.Series, rule: str, lang: str, context: _Context) -> str:
    text = _TEXT[lang]
    activity = [f for f in ("frequency", "recency_days") if f in context.features and math.isfinite(_typical(row, f))]
    if rule == "net_refunders" and math.isfinite(_number(row, "mean_monetary")):
        money = _money(_number(row, "mean_monetary"), lang, context.currency)
        refunds = text["net_refunders"].format(money=money)
        return refunds + text["then"] + _facts(row, activity, lang, context) if activity else refunds
    if rule == "outliers":
        facts = _outlier_facts(row, lang, context)
        if facts:
            return text["outliers"].format(facts=facts)
    known = [f for f in context.features if f in FACT_ORDER and math.isfinite(_typical(row, f))]
    facts = _facts(row, activity or known[:MIN_FACTS], lang, context)
    return text["set_aside"].format(facts=facts)


def _outlier_facts(row: pd.Series, lang: str, context: _Context) -> str:
    """The two features on which the group is furthest beyond the typical customer (ratio of medians).

    The second only when it is at least ``FAR_BEYOND`` times the typical value: "far beyond the rest"
    does not describe €290 against €189.
    """
    ratios = []
    for feature in OUTLIER_FEATURES:
        if feature not in context.features:
            continue
        value, typical = _typical(row, feature), _number(context.overall, f"median_{feature}")
        if math.isfinite(value) and math.isfinite(typical) and typical > 0 and value > typical:
            ratios.append((value / typical, feature, value, typical))
    ratios.sort(key=lambda item: -item[0])
    far = ratios[:1] + [item for item in ratios[1:MIN_FACTS] if item[0] >= FAR_BEYOND]
    chosen = sorted(far, key=lambda item: FACT_ORDER.index(item[1]))
    text = _TEXT[lang]
    parts = []
    for position, (_, feature, value, typical) in enumerate(chosen):
        fact = _fact(feature, value, lang, context)
        other = _bare(feature, typical, lang, context)
        template = text["against_typical"] if position == 0 else text["against"]
        parts.append(template.format(fact=fact, other=other, holder=_pick(text["holder"], context)))
    return ", ".join(parts)


def _bare(feature: str, value: float, lang: str, context: _Context) -> str:
    """A value without its words, for "against 3" / "against £670"."""
    if feature in {"monetary", "avg_amount"}:
        return _money(value, lang, context.currency)
    if feature == "avg_weight_kg":
        return format_decimal(value, format="#,##0.0", locale=lang) + "\u00a0kg"
    return _count(value, lang)


def _pick(entry: object, context: _Context) -> object:
    """A template entry, chosen by the kind of data when it depends on it."""
    return entry[context.shipment_data] if isinstance(entry, dict) else entry


def _sentence(text: str) -> str:
    return _capitalise(text) + "."


# --------------------------------------------------------------------------------------------------
# Numbers, through Babel so that each language gets its own separators and symbols


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


def _singular(value: float, lang: str) -> bool:
    # CLDR plural rules: French treats 0 and 1.5 as singular ("1,5 commande"), English only 1.
    return _locale(lang).plural_form(abs(value)) == "one"


def _count(value: float, lang: str) -> str:
    """A typical count: whole above 10, one decimal below when the median falls between two counts."""
    return format_decimal(_shown_count(value), format="#,##0.#", locale=lang)


def _shown_count(value: float) -> float:
    """The count as shown, so that its plural agrees with what is read ("1 order", not "1 orders" for 1.04)."""
    return _round_half_up(value, 0 if value >= 10 else 1)


def _days(value: float, lang: str) -> str:
    # Dates carry times of day, so a median recency can be a fraction: "1 day" is the honest floor.
    days = max(1, int(_round_half_up(value, 0)))
    singular, plural = _TEXT[lang]["days"]
    return f"{format_decimal(days, format='#,##0', locale=lang)} {singular if _singular(days, lang) else plural}"


def _percent(share: float, lang: str) -> str:
    # The locale's pattern with at most one decimal: "17.9%", "100%" in English, "17,9 %" in French.
    pattern = _locale(lang).percent_formats[None].pattern.replace("#,##0", "#,##0.#", 1)
    return format_percent(share, format=pattern, locale=lang)


def _money(value: float, lang: str, currency: str | None) -> str:
    """An amount in the language's format: "£310", "€31.50", "310 £", "48 200 £"; plain without currency."""
    # Cents matter on small amounts only ("€31.50 per shipment"), and not when there are none ("£90").
    whole = abs(value) >= WHOLE_MONEY_FROM or _round_half_up(value, 2).is_integer()
    if currency is None:
        return true_minus(format_decimal(value, format="#,##0" if whole else "#,##0.00", locale=lang))
    if whole:
        pattern = _locale(lang).currency_formats["standard"].pattern
        text = format_currency(
            _round_half_up(value, 0), currency, format=_without_cents(pattern), currency_digits=False, locale=lang
        )
    else:
        text = format_currency(value, currency, locale=lang)
    if lang == "fr" and currency in _FRENCH_SYMBOLS:
        text = text.replace(*_FRENCH_SYMBOLS[currency])
    return true_minus(text)


def true_minus(text: str) -> str:
    """``text`` with a leading hyphen-minus made a true minus: "-£901" → "−£901" (else unchanged)."""
    return MINUS + text[1:] if text.startswith("-") else text


def _without_cents(pattern: str) -> str:
    return pattern.replace("0.00", "0")


def _period(context: _Context, lang: str) -> str:
    """ "in the year", "in 6 months", "over 18 months", "in 20 days" for the data window."""
    text = _TEXT[lang]
    days = context.period_days
    months = int(_round_half_up(days / _DAYS_PER_MONTH, 0))
    # Under two months a count of months is too coarse ("in a month" for 45 days): say the days.
    if days < 60:
        return text["in_days"].format(days=_days(days, lang))
    if months == 12:
        return text["year"]
    key = "in_months" if months < 12 else "over_months"
    return text[key].format(n=format_decimal(months, locale=lang))


def _round_half_up(value: float, digits: int) -> float:
    # Python's round() rounds half to even (2.5 → 2): readers expect 3.
    scale = 10**digits
    return math.floor(abs(value) * scale + 0.5) / scale * (1 if value >= 0 else -1)


__all__ = [
    "COMPARATIVES",
    "LANGUAGES",
    "NOUNS",
    "ORDINALS",
    "SET_ASIDE_NAMES",
    "WORDS",
    "Word",
    "describe_segments",
]
