"""Customer features from shipments: one row per customer_id, pure and vectorised.

The definitions: docs/architecture.md#customer-features.

Every function here takes and returns DataFrames; nothing reads files or talks to MLflow.
Aggregations go through integer customer codes and ``np.bincount``: one pass per column,
which is several times faster than a string-keyed ``groupby`` on tens of millions of rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from workflow.errors import DataError

DEFAULT_EXPRESS_SERVICES: tuple[str, ...] = ("Chrono 10", "Chrono 13", "Chrono Express")
RELAY_SERVICE = "Chrono Relais"
DEFAULT_HOME_COUNTRY = "FR"

#: Every feature, in the canonical order, with the source columns it needs.
FEATURE_SOURCES: dict[str, tuple[str, ...]] = {
    "recency_days": ("date",),
    "frequency": (),
    "monetary": ("amount",),
    "avg_amount": ("amount",),
    "tenure_days": ("date",),
    "avg_weight_kg": ("weight_kg",),
    "express_share": ("service",),
    "relay_share": ("service",),
    "international_share": ("destination_country",),
    "late_rate": ("delivered_late",),
    "return_rate": ("returned",),
}
ALL_FEATURES: tuple[str, ...] = tuple(FEATURE_SOURCES)

#: Counts, durations and weights: non-negative with heavy right tails, so the model applies log1p.
COUNT_FEATURES: frozenset[str] = frozenset({"recency_days", "frequency", "tenure_days", "avg_weight_kg"})
#: Money: heavy tails on both sides (net refunds are negative), so the model applies asinh, the signed log.
MONEY_FEATURES: frozenset[str] = frozenset({"monetary", "avg_amount"})
SKEWED_FEATURES: frozenset[str] = COUNT_FEATURES | MONEY_FEATURES
#: Features that only exist when the data has shipment columns (service, weight): names then speak of
#: shippers and shipments rather than customers and orders.
SHIPMENT_FEATURES: frozenset[str] = frozenset({"avg_weight_kg", "express_share", "relay_share"})
#: Features that are shares in [0, 1]: kept linear.
SHARE_FEATURES: frozenset[str] = frozenset(ALL_FEATURES) - SKEWED_FEATURES

_DAY = np.timedelta64(1, "D")
#: How many customers an error message names.
_CUSTOMERS_SHOWN = 5


def available_features(columns: Iterable[str]) -> list[str]:
    """Features whose source columns are all present, in canonical order."""
    present = set(columns)
    return [name for name, sources in FEATURE_SOURCES.items() if set(sources) <= present]


def select_features(requested: Sequence[str] | None, columns: Iterable[str]) -> list[str]:
    """Validate a user's ``--features`` list against the data's columns.

    Parameters
    ----------
    requested : sequence of str or None
        Feature names asked for; ``None`` means every available feature.
    columns : iterable of str
        Columns of the shipments table.

    Returns
    -------
    list of str
        The features in canonical order (the order of ``ALL_FEATURES``), whatever the order asked.

    Raises
    ------
    DataError
        No feature, an unknown feature name, a feature listed twice, or a feature whose source
        column is missing.
    """
    available = available_features(columns)
    if requested is None:
        return available
    requested = list(requested)
    if not requested:
        raise DataError(f"--features lists no feature; known features: {', '.join(ALL_FEATURES)}")
    unknown = [name for name in requested if name not in FEATURE_SOURCES]
    if unknown:
        raise DataError(f"unknown feature(s) {', '.join(unknown)}; known features: {', '.join(ALL_FEATURES)}")
    twice = sorted({name for name in requested if requested.count(name) > 1})
    if twice:
        raise DataError(f"--features lists {', '.join(twice)} twice")
    missing = [name for name in requested if name not in available]
    if missing:
        need = sorted({col for name in missing for col in FEATURE_SOURCES[name]} - set(columns))
        raise DataError(f"feature(s) {', '.join(missing)} need column(s) {', '.join(need)}, absent from the data")
    return [name for name in ALL_FEATURES if name in requested]


def default_as_of(dates: pd.Series | pd.Timestamp) -> pd.Timestamp:
    """The day after the last shipment date: the default reference date for recency and tenure.

    ``dates`` is the shipments' date column, or their last date when it is known already (the Spark
    engine computes it while validating).
    """
    last = dates.max() if isinstance(dates, pd.Series) else dates
    return pd.Timestamp(last).normalize() + pd.Timedelta(days=1)


def build_features(
    shipments: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str | None = None,
    features: Sequence[str] | None = None,
    home_country: str = DEFAULT_HOME_COUNTRY,
    express_services: Iterable[str] = DEFAULT_EXPRESS_SERVICES,
) -> pd.DataFrame:
    """One row per customer with the features of docs/architecture.md#customer-features.

    Parameters
    ----------
    shipments : DataFrame
        Validated shipments (see ``workflow.data``): ``customer_id``, ``date``, ``amount`` and any
        optional columns.
    as_of : timestamp, optional
        Reference date. Shipments on or after it are ignored (the features are what was known at
        ``as_of``). Defaults to the day after the last shipment.
    features : sequence of str, optional
        Features to compute; default every feature whose source columns exist.
    home_country : str
        ISO code of the carrier's home country; other destinations count as international.
    express_services : iterable of str
        Service names that count as express.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (sorted), float64 columns in canonical feature order.

    Raises
    ------
    DataError
        No shipments, none before ``as_of``, a feature that cannot be computed (see
        ``select_features``), or sums too large for float64 (an amount like 1e308).
    """
    names = select_features(features, shipments.columns)
    if shipments.empty:
        raise DataError("no shipments to build features from")
    as_of_ts = default_as_of(shipments["date"]) if as_of is None else _naive(pd.Timestamp(as_of))
    window = shipments[shipments["date"] < as_of_ts] if as_of is not None else shipments
    if window.empty:
        first = pd.Timestamp(shipments["date"].min()).date()
        raise DataError(f"no shipment before the as-of date {as_of_ts.date()} (the first is on {first})")
    table = _aggregate(window, names, as_of_ts, home_country.strip().upper(), tuple(express_services))
    _check_finite(table)
    # Recency and tenure count days back from this date: kept with them, so that whoever holds the
    # features can date the customers' activity (the dashboard's periods) without the shipments.
    table.attrs["as_of"] = as_of_ts.isoformat()
    return table


def _naive(moment: pd.Timestamp) -> pd.Timestamp:
    """Shipment dates are naive local times (see ``workflow.data``): drop an offset, keep the wall time."""
    return moment.tz_localize(None) if moment.tzinfo is not None else moment


def _check_finite(table: pd.DataFrame) -> None:
    """Sums of finite amounts can still overflow float64; say which feature and customers."""
    bad = ~np.isfinite(table.to_numpy())
    if bad.any():
        columns = ", ".join(table.columns[bad.any(axis=0)])
        customers = table.index[bad.any(axis=1)]
        shown = ", ".join(map(str, customers[:_CUSTOMERS_SHOWN])) + (", …" if len(customers) > _CUSTOMERS_SHOWN else "")
        raise DataError(
            f"feature(s) {columns} not finite for {len(customers)} customer(s) ({shown}): values too large to add up"
        )


def _aggregate(
    shipments: pd.DataFrame,
    names: list[str],
    as_of: pd.Timestamp,
    home_country: str,
    express_services: tuple[str, ...],
) -> pd.DataFrame:
    """Core of ``build_features``: assumes validated input and a known feature list."""
    codes, customers = pd.factorize(shipments["customer_id"], sort=True)
    n = len(customers)
    count = np.bincount(codes, minlength=n).astype("float64")

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=values, minlength=n)

    def share(mask: np.ndarray) -> np.ndarray:
        # Count the rows where the mask holds instead of summing it as float weights: a fifth of
        # the shipments are late, relay or express, so this reads a fraction of the codes (2-3x faster).
        return np.bincount(codes[mask], minlength=n) / count

    columns: dict[str, np.ndarray] = {}
    if "recency_days" in names or "tenure_days" in names:
        # Dates as float days since as_of (negative); min and max per customer in one groupby.
        days = (shipments["date"].to_numpy(dtype="datetime64[ns]") - as_of.to_datetime64()) / _DAY
        # ufunc.at: a tenth of a groupby's time on 10M rows (every customer has at least one row).
        last, first = np.full(n, -np.inf), np.full(n, np.inf)
        np.maximum.at(last, codes, days)
        np.minimum.at(first, codes, days)
        columns["recency_days"] = -last
        columns["tenure_days"] = -first
    columns["frequency"] = count
    if "amount" in shipments:
        monetary = total(shipments["amount"].to_numpy(dtype="float64"))
        columns["monetary"] = monetary
        columns["avg_amount"] = monetary / count
    if "avg_weight_kg" in names:
        columns["avg_weight_kg"] = total(shipments["weight_kg"].to_numpy(dtype="float64")) / count
    if "service" in shipments:
        service = shipments["service"]
        columns["express_share"] = share(service.isin(express_services).to_numpy())
        columns["relay_share"] = share((service == RELAY_SERVICE).to_numpy())
    if "international_share" in names:
        # An unknown destination (a value that names no country, see workflow.countries) is not abroad.
        country = shipments["destination_country"]
        columns["international_share"] = share((country.notna() & (country != home_country)).to_numpy())
    if "late_rate" in names:
        columns["late_rate"] = share(shipments["delivered_late"].to_numpy(dtype="bool"))
    if "return_rate" in names:
        columns["return_rate"] = share(shipments["returned"].to_numpy(dtype="bool"))

    # Ids read dictionary-encoded (Parquet) give categorical uniques: the index holds plain text either way.
    index = pd.Index(np.asarray(customers, dtype=object), dtype="str", name="customer_id")
    return pd.DataFrame({name: columns[name] for name in names}, index=index)
