"""Synthetic shipments of a French express parcel carrier (Chronopost-like), with known archetypes.

Customers come from six archetypes whose behaviour differs on purpose, so that a segmentation can
be scored against the truth (the ``customers`` frame: ground truth for tests, never a feature).
Medians over a 12-month window:

======================  =====  =======  =========================================================
archetype               share  type     behaviour
======================  =====  =======  =========================================================
``b2b_heavy``            5 %   B2B      ~110 parcels (up to 350), ~15 kg, 80 % Chrono 10/13,
                                        negotiated prices (−25 to −45 %), quiet in August
``ecommerce_sme``       14 %   B2B      ~40 parcels, ~1.3 kg, Chrono 13/18 and a third Relais,
                                        ×2.8 per day in November–December, 5 % returns
``marketplace_relay``   16 %   70 % B2C ~15 parcels, ~0.65 kg, 87 % Chrono Relais, 22 % returns,
                                        joined in the 2nd to 5th month of the window
``exporter``             7 %   B2B      ~25 parcels, ~3.5 kg, 85 % abroad (Classic in Europe,
                                        Express worldwide), 9 % late
``occasional_private``  38 %   B2C      2–6 parcels spread over the year, list prices, Chrono 13
``dormant``             20 %   80 % B2B 10–60 parcels, none in the last 4–10 months; 17 % late
                                        (bad service is why they left)
======================  =====  =======  =========================================================

About 20 parcels per customer per 12 months on average (500k customers ≈ 10M rows), scaled by
``months``. Prices are a base per service plus a price per kg, times a zone factor abroad and the
customer's negotiated factor (Chrono 10 > 13 > 18 > Relais at equal weight). Late deliveries
depend on the service (relay points and customs are slow), the Christmas peak and, for dormant
accounts, a past of bad service; a late time-guaranteed parcel is sometimes refunded (a negative
amount, ~0.2 % of rows). Overall ~6 % of parcels are late, ~5 % returned, ~12 % go abroad.

Tuned so that K-means on ``build_features`` (log of the skewed features, standard scaling)
recovers the archetypes (adjusted Rand index ≥ 0.96 at k=6, silhouette highest at k=6): each
archetype differs from every other on several features, and the within-archetype noise that
would let K-means split an archetype instead is kept small. Hence occasional senders ship at
least twice (a single parcel makes tenure and recency pure chance) and rarely use the relay or
international services whose late and return events would make 1-in-3 rates stand out.

Everything is vectorised over customers and parcels: loops run over archetypes and columns only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from workflow.errors import DataError, SegmentsError

ARCHETYPES: tuple[str, ...] = (
    "b2b_heavy",
    "ecommerce_sme",
    "marketplace_relay",
    "exporter",
    "occasional_private",
    "dormant",
)
#: Share of customers per archetype (documented in the module docstring).
ARCHETYPE_MIX: dict[str, float] = {
    "b2b_heavy": 0.05,
    "ecommerce_sme": 0.14,
    "marketplace_relay": 0.16,
    "exporter": 0.07,
    "occasional_private": 0.38,
    "dormant": 0.20,
}
SERVICES: tuple[str, ...] = (
    "Chrono 10",
    "Chrono 13",
    "Chrono 18",
    "Chrono Relais",
    "Chrono Classic",
    "Chrono Express",
)
CUSTOMER_TYPES: tuple[str, ...] = ("B2B", "B2C")

# Service codes are positions in SERVICES; the last two are the international ones.
_CLASSIC, _EXPRESS = 4, 5
#: List price in EUR of a parcel at home: base + per_kg * weight; abroad times the zone factor.
_BASE_PRICE = np.array([32.0, 24.0, 19.0, 7.5, 28.0, 48.0])
_PRICE_PER_KG = np.array([1.2, 1.0, 0.8, 0.45, 1.8, 3.2])
#: Late-delivery probability per service: a full or closed relay point and customs abroad delay parcels.
_LATE_PROBABILITY = np.array([0.02, 0.01, 0.01, 0.06, 0.12, 0.07])
#: The Black Friday to Christmas peak congests the network.
_PEAK_LATE_FACTOR = 1.5
#: Share of late parcels on time-guaranteed services (Chrono 10/13/Express) that are refunded.
_REFUND_PROBABILITY = 0.15
_GUARANTEED = np.array([True, True, False, False, False, True])
_MAX_WEIGHT_KG = 30.0  # the carrier's parcel limit
_MIN_WEIGHT_KG = 0.05
_NS_PER_DAY = 86_400 * 10**9
#: Log-normal spread across customers of an archetype: typical parcel weight, return rate.
_WEIGHT_SPREAD = 0.2
_RETURN_SPREAD = 0.15

# Destinations abroad, by service: Classic is road freight within Europe, Express is air, worldwide.
_CLASSIC_DESTINATIONS = {
    "BE": 0.19, "DE": 0.19, "ES": 0.13, "IT": 0.12, "NL": 0.08, "GB": 0.06, "CH": 0.05,
    "PT": 0.05, "AT": 0.03, "PL": 0.03, "LU": 0.03, "IE": 0.02, "SE": 0.02,
}  # fmt: skip
_EXPRESS_DESTINATIONS = {
    "US": 0.22, "GB": 0.10, "CH": 0.08, "DE": 0.07, "CN": 0.07, "IT": 0.05, "JP": 0.05,
    "CA": 0.05, "BE": 0.04, "ES": 0.04, "AE": 0.04, "NL": 0.03, "SG": 0.03, "HK": 0.03,
    "AU": 0.03, "MA": 0.03, "BR": 0.02, "KR": 0.02,
}  # fmt: skip
#: Price factor by zone: neighbours, rest of Europe, North America / Maghreb / Gulf, rest of world.
_ZONE_FACTOR = {
    **dict.fromkeys(("BE", "DE", "LU", "NL", "FR"), 1.0),
    **dict.fromkeys(("ES", "IT", "PT", "AT", "PL", "IE", "SE", "GB", "CH"), 1.35),
    **dict.fromkeys(("US", "CA", "MA", "AE"), 2.1),
    **dict.fromkeys(("CN", "JP", "SG", "HK", "AU", "BR", "KR"), 2.7),
}

#: Shipping intensity by weekday (Monday first): businesses barely ship at weekends, people on Saturdays.
_WEEKDAYS = {
    "business": np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.08, 0.02]),
    "consumer": np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.9, 0.05]),
}
#: Shipping intensity by month (January first). August is the French summer break for businesses.
_SEASONS = {
    "business": np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.9, 0.6, 1.0, 1.0, 1.05, 0.9]),
    "ecommerce": np.array([1.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 1.0, 1.0, 2.6, 2.8]),
    "marketplace": np.array([1.3, 1.0, 1.0, 1.0, 1.0, 0.9, 0.9, 0.9, 1.2, 1.0, 1.4, 1.5]),
    "private": np.array([1.0, 0.9, 0.9, 1.0, 1.0, 1.0, 1.2, 1.0, 0.9, 1.0, 1.1, 2.0]),
}


@dataclass(frozen=True)
class _Archetype:
    """Behaviour of one archetype; ``*_sigma`` are log-normal spreads."""

    b2b_share: float  # probability that the account is a business
    volume: float  # median parcels per 12 months of activity (of window, for ``churned`` accounts)
    volume_sigma: float  # spread of the volume across customers
    weight_kg: float  # median parcel weight of a typical customer
    weight_sigma: float  # spread of one customer's parcel weights
    service_mix: tuple[float, ...]  # expected shares of SERVICES
    mix_concentration: float  # Dirichlet concentration: larger = customers closer to the mix
    return_rate: float  # typical share of parcels returned to sender
    price_factor: tuple[float, float]  # range of the negotiated factor on list prices
    season: str  # key of _SEASONS
    weekdays: str  # key of _WEEKDAYS
    activity: str  # "steady", "sporadic" or "churned"
    late_factor: float = 1.0  # multiplies the service's late probability
    start: tuple[float, float] = (0.0, 0.0)  # range of the first active day, as a share of the window


# Tuned so that K-means recovers the archetypes (module docstring). Where a value looks arbitrary, it
# is: occasional senders rarely use relay or international services, whose late and return events
# would give 1-in-3 rates that K-means isolates as a segment of their own; marketplace sellers joined
# during the window (a tenure of their own); dormant accounts suffered late deliveries (why they left,
# and what sets them apart from SMEs besides recency).
_PROFILES: dict[str, _Archetype] = {
    "b2b_heavy": _Archetype(
        b2b_share=1.0, volume=110, volume_sigma=0.3, weight_kg=14.0, weight_sigma=0.5,
        service_mix=(0.35, 0.45, 0.16, 0.0, 0.02, 0.02), mix_concentration=60, return_rate=0.01,
        price_factor=(0.55, 0.75), season="business", weekdays="business", activity="steady",
    ),
    "ecommerce_sme": _Archetype(
        b2b_share=1.0, volume=40, volume_sigma=0.3, weight_kg=1.1, weight_sigma=0.6,
        service_mix=(0.02, 0.45, 0.18, 0.33, 0.02, 0.0), mix_concentration=40, return_rate=0.05,
        price_factor=(0.8, 0.95), season="ecommerce", weekdays="business", activity="steady",
    ),
    "marketplace_relay": _Archetype(
        b2b_share=0.3, volume=20, volume_sigma=0.3, weight_kg=0.6, weight_sigma=0.45,
        service_mix=(0.0, 0.05, 0.05, 0.87, 0.03, 0.0), mix_concentration=40, return_rate=0.22,
        price_factor=(0.85, 1.0), season="marketplace", weekdays="consumer", activity="steady",
        start=(0.1, 0.4),
    ),
    "exporter": _Archetype(
        b2b_share=1.0, volume=25, volume_sigma=0.3, weight_kg=3.0, weight_sigma=0.6,
        service_mix=(0.02, 0.08, 0.05, 0.0, 0.58, 0.27), mix_concentration=40, return_rate=0.02,
        price_factor=(0.65, 0.85), season="business", weekdays="business", activity="steady",
    ),
    "occasional_private": _Archetype(
        b2b_share=0.0, volume=3.5, volume_sigma=0.0, weight_kg=2.2, weight_sigma=0.5,
        service_mix=(0.005, 0.92, 0.005, 0.04, 0.02, 0.01), mix_concentration=50, return_rate=0.003,
        price_factor=(1.0, 1.0), season="private", weekdays="consumer", activity="sporadic",
    ),
    "dormant": _Archetype(
        b2b_share=0.8, volume=15, volume_sigma=0.3, weight_kg=5.0, weight_sigma=0.6,
        service_mix=(0.03, 0.20, 0.60, 0.05, 0.10, 0.02), mix_concentration=30, return_rate=0.03,
        price_factor=(0.75, 0.95), season="business", weekdays="business", activity="churned",
        late_factor=6.0,
    ),
}  # fmt: skip
#: Churned accounts stopped this far (share of the window) before its end: 4 to 10 months of 12,
#: after 10 to 60 parcels (per 12 months of window).
_CHURN_GAP = (0.33, 0.83)
_CHURNED_COUNT = (10, 60)
#: Occasional senders: at least _SPORADIC_MIN parcels in the window, at most _SPORADIC_MAX per 12 months.
_SPORADIC_MIN, _SPORADIC_MAX = 2, 6


@dataclass(frozen=True)
class _Calendar:
    """The generation window: one entry per day."""

    start: np.datetime64
    weekday: np.ndarray  # 0 = Monday
    month: np.ndarray  # 1..12
    peak: np.ndarray  # in the Black Friday to Christmas peak

    @property
    def n_days(self) -> int:
        return len(self.weekday)

    @property
    def years(self) -> float:
        return self.n_days / 365.25


def generate_shipments(
    n_customers: int,
    months: int = 12,
    seed: int = 0,
    *,
    end_date: str = "2026-10-31",
    home_country: str = "FR",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate shipments of ``n_customers`` customers over the ``months`` months ending at ``end_date``.

    Parameters
    ----------
    n_customers : int
        Number of customers (accounts); each ships at least once.
    months : int
        Length of the window in months; volumes scale with it.
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives identical frames.
    end_date : str
        Last day of the window (ISO date).
    home_country : str
        ISO alpha-2 code of the carrier's country: the destination of domestic parcels.

    Returns
    -------
    shipments : DataFrame
        One row per parcel (docs/architecture.md#data-contract), sorted by date then customer_id: ``customer_id`` (str),
        ``date`` (datetime64[ns], midnight), ``amount`` (EUR, 2 decimals, negative for refunds),
        ``weight_kg``, ``service``, ``destination_country`` (categorical), ``delivered_late``,
        ``returned`` (bool), ``customer_type`` (categorical ``B2B``/``B2C``).
    customers : DataFrame
        The ground truth, one row per customer sorted by id: ``customer_id`` (str), ``archetype``
        and ``customer_type`` (categorical).

    Raises
    ------
    SegmentsError
        Non-positive ``n_customers`` or ``months``, unparseable ``end_date`` or a bad country code.

    Examples
    --------
    >>> shipments, customers = generate_shipments(100, months=12, seed=0)
    >>> sorted(customers["archetype"].unique()) == sorted(ARCHETYPES)
    True
    """
    if n_customers < 1:
        raise SegmentsError(f"the number of customers must be positive, got {n_customers}")
    if len(home_country) != 2 or not home_country.isalpha() or not home_country.isupper():
        raise SegmentsError(f"home country must be an ISO alpha-2 code like FR, got {home_country!r}")
    calendar = _make_calendar(end_date, months)
    rng = np.random.default_rng(seed)
    archetype = rng.permutation(np.repeat(np.arange(len(ARCHETYPES)), _archetype_counts(n_customers)))
    accounts = _draw_accounts(archetype, calendar, rng)
    countries, classic_p, express_p, zone = _destinations(home_country)
    rows = _draw_rows(accounts, calendar, rng, classic_p, express_p, zone)
    ids = _customer_ids(n_customers)
    customers = pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "archetype": pd.Categorical.from_codes(archetype, categories=list(ARCHETYPES)),
            "customer_type": _customer_type(accounts.b2b),
        }
    )
    return _shipments_frame(rows, accounts.b2b, ids, calendar, countries), customers


def truth_path_for(out: Path) -> Path:
    """Where the ground truth of a generated file goes: ``shipments.parquet`` → ``shipments.truth.parquet``."""
    out = Path(out)
    return out.with_name(out.stem + ".truth" + out.suffix)


def write_dataset(shipments: pd.DataFrame, customers: pd.DataFrame, out: Path) -> Path:
    """Write the shipments to ``out`` and the ground truth next to it.

    Parameters
    ----------
    shipments, customers : DataFrame
        The frames returned by :func:`generate_shipments`.
    out : Path
        Target file; ``.csv`` (dates as ``YYYY-MM-DD``) or ``.parquet``. Parent folders are created.

    Returns
    -------
    Path
        The ground-truth file, :func:`truth_path_for` of ``out``.

    Raises
    ------
    DataError
        ``out`` has another extension.
    """
    out = Path(out)
    writer = _WRITERS.get(out.suffix.lower())
    if writer is None:
        raise DataError(f"{out}: unsupported extension {out.suffix!r}; use .csv or .parquet")
    truth = truth_path_for(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer(shipments, out)
    writer(customers, truth)
    return truth


# --- calendar and customers ------------------------------------------------------------------


def _make_calendar(end_date: str, months: int) -> _Calendar:
    """The days of the ``months`` months ending at ``end_date`` (inclusive)."""
    if months < 1:
        raise SegmentsError(f"the number of months must be positive, got {months}")
    try:
        end = pd.Timestamp(end_date).normalize()
    except (TypeError, ValueError) as error:
        raise SegmentsError(f"end date {end_date!r} is not a date: {error}") from None
    if pd.isna(end):
        raise SegmentsError(f"end date {end_date!r} is not a date")
    start = end - pd.DateOffset(months=months) + pd.Timedelta(days=1)
    days = pd.date_range(start, end, freq="D")
    # Black Friday falls in late November: the peak runs from mid-November to the end of December.
    peak = ((days.month == 11) & (days.day >= 15)) | (days.month == 12)
    return _Calendar(
        start=start.to_datetime64().astype("datetime64[D]"),
        weekday=days.day_of_week.to_numpy(),
        month=days.month.to_numpy(),
        peak=np.asarray(peak),
    )


def _archetype_counts(n_customers: int) -> np.ndarray:
    """Customers per archetype, as close to ARCHETYPE_MIX as whole numbers allow (largest remainder)."""
    quota = np.array([ARCHETYPE_MIX[name] for name in ARCHETYPES]) * n_customers
    counts = np.floor(quota).astype(np.int64)
    extra = n_customers - counts.sum()
    counts[np.argsort(counts - quota, kind="stable")[:extra]] += 1
    return counts


def _customer_ids(n_customers: int) -> np.ndarray:
    """``C0000042``-style ids, zero-padded so that string order is numeric order."""
    width = max(7, len(str(n_customers - 1)))
    return np.char.add("C", np.char.zfill(np.arange(n_customers).astype(str), width)).astype(object)


def _customer_type(b2b: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes((~b2b).astype(np.int8), categories=list(CUSTOMER_TYPES))


def _destinations(home_country: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Country list (home first), destination probabilities of Classic and Express, zone factors.

    A foreign carrier's home country is domestic, so it is swapped for France in the foreign tables.
    """
    classic = {("FR" if c == home_country else c): p for c, p in _CLASSIC_DESTINATIONS.items()}
    express = {("FR" if c == home_country else c): p for c, p in _EXPRESS_DESTINATIONS.items()}
    countries = [home_country, *dict.fromkeys([*classic, *express])]

    def probabilities(table: dict[str, float]) -> np.ndarray:
        p = np.array([table.get(country, 0.0) for country in countries])
        return p / p.sum()

    zone = np.array([1.0] + [_ZONE_FACTOR[country] for country in countries[1:]])
    return countries, probabilities(classic), probabilities(express), zone


# --- accounts and parcels --------------------------------------------------------------------


@dataclass(frozen=True)
class _Accounts:
    """Per-customer parameters, drawn once per archetype; every array has one entry per customer."""

    archetype: np.ndarray  # position in ARCHETYPES
    b2b: np.ndarray  # business account
    first: np.ndarray  # first and last day (window positions, inclusive) the account may ship on
    last: np.ndarray
    count: np.ndarray  # parcels in the window
    mix: np.ndarray  # cumulative service mix, (n_customers, len(SERVICES) - 1)
    weight: np.ndarray  # typical parcel weight
    weight_sigma: np.ndarray  # spread of the account's parcel weights
    price_factor: np.ndarray  # negotiated factor on list prices
    late_factor: np.ndarray
    return_rate: np.ndarray
    sporadic: np.ndarray  # spreads its few parcels over the window


def _draw_accounts(archetype: np.ndarray, calendar: _Calendar, rng: np.random.Generator) -> _Accounts:
    """Draw each customer's parameters around its archetype's (one vectorised pass per archetype)."""
    n = len(archetype)
    values: dict[str, np.ndarray] = {
        "b2b": np.zeros(n, dtype=bool),
        "first": np.zeros(n, dtype=np.int64),
        "last": np.zeros(n, dtype=np.int64),
        "count": np.zeros(n, dtype=np.int64),
        "mix": np.zeros((n, len(SERVICES) - 1)),
        "weight": np.zeros(n),
        "weight_sigma": np.zeros(n),
        "price_factor": np.zeros(n),
        "late_factor": np.zeros(n),
        "return_rate": np.zeros(n),
        "sporadic": np.zeros(n, dtype=bool),
    }
    for code, name in enumerate(ARCHETYPES):
        members = np.flatnonzero(archetype == code)
        profile, size = _PROFILES[name], len(members)
        first, last = _active_spans(profile, size, calendar, rng)
        drawn = {
            "b2b": rng.random(size) < profile.b2b_share,
            "first": first,
            "last": last,
            "count": _shipment_counts(profile, first, last, calendar, rng),
            "mix": _service_mixes(profile, size, rng),
            "weight": profile.weight_kg * rng.lognormal(0.0, _WEIGHT_SPREAD, size),
            "weight_sigma": profile.weight_sigma,
            "price_factor": rng.uniform(*profile.price_factor, size),
            "late_factor": profile.late_factor,
            "return_rate": np.minimum(profile.return_rate * rng.lognormal(0.0, _RETURN_SPREAD, size), 0.5),
            "sporadic": profile.activity == "sporadic",
        }
        for key, value in drawn.items():
            values[key][members] = value
    return _Accounts(archetype=archetype, **values)


def _active_spans(
    profile: _Archetype, n: int, calendar: _Calendar, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """First and last day (inclusive, window positions) each customer may ship on."""
    n_days = calendar.n_days
    first = np.floor(rng.uniform(*profile.start, n) * n_days).astype(np.int64)
    last = np.full(n, n_days - 1, dtype=np.int64)
    if profile.activity == "churned":
        gap = np.floor(rng.uniform(*_CHURN_GAP, n) * n_days).astype(np.int64)
        last = np.maximum(last - gap, first)
    return first, last


def _shipment_counts(
    profile: _Archetype,
    first: np.ndarray,
    last: np.ndarray,
    calendar: _Calendar,
    rng: np.random.Generator,
) -> np.ndarray:
    """Parcels per customer in the window (at least one)."""
    n = len(first)
    if profile.activity == "sporadic":
        # A minimum plus a binomial number more: capped, and never a single parcel a year, whose
        # tenure and recency would be pure chance.
        trials = round((_SPORADIC_MAX - _SPORADIC_MIN) * calendar.years)
        extra = (profile.volume - _SPORADIC_MIN) * calendar.years
        return _SPORADIC_MIN + rng.binomial(trials, min(1.0, extra / max(trials, 1)), n)
    volume = profile.volume * rng.lognormal(0.0, profile.volume_sigma, n)
    if profile.activity == "churned":
        # A churned account's count is its whole history in the window, however long it lasted.
        low, high = (max(1, round(bound * calendar.years)) for bound in _CHURNED_COUNT)
        return np.clip(np.round(volume * calendar.years), low, high).astype(np.int64)
    active_years = (last - first + 1) / 365.25
    return np.maximum(rng.poisson(volume * active_years), 1)


def _service_mixes(profile: _Archetype, n: int, rng: np.random.Generator) -> np.ndarray:
    """Each customer's cumulative service mix, Dirichlet around the archetype's (last column dropped)."""
    # The floor keeps services absent from the archetype's mix possible (rare) and the gamma shapes > 0.
    alpha = profile.mix_concentration * np.asarray(profile.service_mix) + 0.02
    mix = rng.gamma(alpha, size=(n, len(SERVICES)))
    return (np.cumsum(mix, axis=1) / mix.sum(axis=1, keepdims=True))[:, :-1]


def _draw_rows(
    accounts: _Accounts,
    calendar: _Calendar,
    rng: np.random.Generator,
    classic_p: np.ndarray,
    express_p: np.ndarray,
    zone: np.ndarray,
) -> dict[str, np.ndarray]:
    """One entry per parcel, sorted by day then customer."""
    customer = np.repeat(np.arange(len(accounts.count), dtype=np.int32), accounts.count)
    day = _draw_days(accounts, customer, calendar, rng)
    # Rows are grouped by customer and ids are numbered in string order, so a stable sort on the
    # day alone gives date-then-id order (numpy radix-sorts 16-bit keys in linear time). Sorting
    # before drawing the other columns saves gathering each of them afterwards.
    order = np.argsort(day, kind="stable")
    customer, day = customer[order], day[order]
    service = _draw_services(accounts.mix, customer, rng)
    country = _draw_countries(service, rng, classic_p, express_p)
    weight = accounts.weight[customer] * np.exp(accounts.weight_sigma[customer] * rng.standard_normal(len(day)))
    weight = np.round(np.clip(weight, _MIN_WEIGHT_KG, _MAX_WEIGHT_KG), 2)
    amount = _price(service, weight, zone[country], accounts.price_factor[customer], rng)
    late_probability = _LATE_PROBABILITY[service] * accounts.late_factor[customer]
    late = rng.random(len(day)) < late_probability * np.where(calendar.peak[day], _PEAK_LATE_FACTOR, 1.0)
    # A refund is the money-back guarantee of time-definite services: only late ones qualify.
    refunded = late & _GUARANTEED[service] & (rng.random(len(day)) < _REFUND_PROBABILITY)
    amount[refunded] *= -1
    returned = rng.random(len(day)) < accounts.return_rate[customer]
    return {
        "customer": customer,
        "day": day,
        "service": service,
        "country": country,
        "weight": weight,
        "amount": amount,
        "late": late,
        "returned": returned,
    }


def _draw_days(accounts: _Accounts, customer: np.ndarray, calendar: _Calendar, rng: np.random.Generator) -> np.ndarray:
    """Day of each parcel within its account's span, weighted by weekday and month (inverse CDF).

    The day weights of the six archetypes are laid end to end in one cumulative array, so one
    ``searchsorted`` serves every customer: archetype ``a``'s day ``d`` is entry ``a * n_days + d``.
    """
    n_days = calendar.n_days
    weights = [
        _WEEKDAYS[profile.weekdays][calendar.weekday] * _SEASONS[profile.season][calendar.month - 1]
        for profile in (_PROFILES[name] for name in ARCHETYPES)
    ]
    cumulative = np.concatenate([[0.0], np.cumsum(np.concatenate(weights))])
    offset = accounts.archetype.astype(np.int64) * n_days
    low = cumulative[offset + accounts.first][customer]
    high = cumulative[offset + accounts.last + 1][customer]
    fraction = rng.random(len(customer))
    # Occasional senders spread their few parcels over the year: the i-th of n falls in the i-th
    # n-tile of the span (jittered), not all in the same fortnight.
    count = accounts.count[customer]
    rank = np.arange(len(customer)) - np.repeat(np.cumsum(accounts.count) - accounts.count, accounts.count)
    fraction = np.where(accounts.sporadic[customer], (rank + fraction) / count, fraction)
    day = np.searchsorted(cumulative, low + fraction * (high - low), side="right") - 1 - offset[customer]
    day_type = np.int16 if n_days < np.iinfo(np.int16).max else np.int32
    return np.clip(day, accounts.first[customer], accounts.last[customer]).astype(day_type)


def _draw_services(mix: np.ndarray, customer: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Service codes, drawn from each customer's own mix (inverse CDF, one column at a time)."""
    draw = rng.random(len(customer))
    service = np.zeros(len(customer), dtype=np.int8)
    for column in range(mix.shape[1]):
        service += draw >= mix[:, column][customer]
    return service


def _draw_countries(
    service: np.ndarray, rng: np.random.Generator, classic_p: np.ndarray, express_p: np.ndarray
) -> np.ndarray:
    """Destination codes (0 = home): international services go abroad, the others stay at home."""
    country = np.zeros(len(service), dtype=np.int8)
    for code, p in ((_CLASSIC, classic_p), (_EXPRESS, express_p)):
        rows = np.flatnonzero(service == code)
        country[rows] = rng.choice(len(p), size=len(rows), p=p)
    return country


def _price(
    service: np.ndarray,
    weight: np.ndarray,
    zone: np.ndarray,
    factor: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Amount in EUR: tariff by service and weight, zone factor, negotiated factor, small surcharges."""
    tariff = (_BASE_PRICE[service] + _PRICE_PER_KG[service] * weight) * zone
    # Fuel surcharge and options (insurance, Saturday delivery) move each invoice a little.
    return np.round(tariff * factor * np.exp(0.04 * rng.standard_normal(len(service))), 2)


# --- output ----------------------------------------------------------------------------------


def _shipments_frame(
    rows: dict[str, np.ndarray],
    b2b: np.ndarray,
    ids: np.ndarray,
    calendar: _Calendar,
    countries: list[str],
) -> pd.DataFrame:
    """Assemble the rows (already in date-then-id order) into the frame of the data contract."""
    customer = rows["customer"]
    day_ns = rows["day"].astype(np.int64) * _NS_PER_DAY
    # Arrow gathers 10M strings in ~0.1 s; building them through Python objects takes seconds.
    customer_id = pa.array(ids, type=pa.large_string()).take(pa.array(customer))
    return pd.DataFrame(
        {
            "customer_id": pd.array(customer_id, dtype="str"),
            "date": (calendar.start.astype("datetime64[ns]").astype(np.int64) + day_ns).view("datetime64[ns]"),
            "amount": rows["amount"],
            "weight_kg": rows["weight"],
            "service": pd.Categorical.from_codes(rows["service"], categories=list(SERVICES)),
            "destination_country": pd.Categorical.from_codes(rows["country"], categories=countries),
            "delivered_late": rows["late"],
            "returned": rows["returned"],
            "customer_type": _customer_type(b2b)[customer],
        },
        copy=False,  # the arrays are fresh: no need for pandas to copy 10M-row columns
    )


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV through Arrow (several times faster than ``to_csv``), dates as ``YYYY-MM-DD``."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if "date" in table.column_names:
        table = table.set_column(table.column_names.index("date"), "date", table["date"].cast(pa.date32()))
    # Plain strings: decode dictionary (categorical) columns, which the CSV writer does not take.
    for index, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(index, field.name, table[field.name].cast(field.type.value_type))
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="needed"))


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


_WRITERS = {".csv": _write_csv, ".parquet": _write_parquet}
