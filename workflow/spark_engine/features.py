"""Customer features in Spark SQL, with the definitions of ``workflow.features.build_features``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from workflow.errors import DataError
from workflow.features import (
    DEFAULT_EXPRESS_SERVICES,
    DEFAULT_HOME_COUNTRY,
    RELAY_SERVICE,
    default_as_of,
    select_features,
)
from workflow.spark_engine.data import _DATE_NS, _NS_PER_DAY, SparkShipments, read_shipments_spark

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


# --------------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------------


def spark_features(
    spark: SparkSession,
    parquet_path: str | Path,
    *,
    as_of: pd.Timestamp | str | None = None,
    features: Sequence[str] | None = None,
    home_country: str = DEFAULT_HOME_COUNTRY,
    columns: dict[str, str] | None = None,
    express_services: Iterable[str] = DEFAULT_EXPRESS_SERVICES,
) -> DataFrame:
    """One row per customer with the contract's features, computed in Spark SQL from a Parquet file.

    The definitions are those of ``workflow.features.build_features`` (and so are the values, to
    rounding); the rows are validated like ``workflow.data.read_shipments`` does.

    Parameters
    ----------
    spark : SparkSession
    parquet_path : str or Path
        A Parquet file or folder of Parquet files.
    as_of : timestamp or str, optional
        Reference date; shipments on or after it are ignored. Default: the day after the last shipment.
    features : sequence of str, optional
        Features to compute; default every feature whose source columns exist.
    home_country : str
        Destinations other than this ISO code count as international.
    columns : dict, optional
        The file's column names to ours (``workflow.data.parse_column_mapping``).
    express_services : iterable of str
        Services that count as express.

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_id`` (string) and the features (double) in canonical order; rows unordered.

    Raises
    ------
    DataError
        Unreadable file, missing required column, too many faulty rows, unknown or impossible feature,
        or no shipment before ``as_of``.
    """
    shipments = read_shipments_spark(spark, parquet_path, columns=columns)
    frame, _ = features_from_shipments(
        shipments, as_of=as_of, features=features, home_country=home_country, express_services=express_services
    )
    return frame


def features_from_shipments(
    shipments: SparkShipments,
    *,
    as_of: pd.Timestamp | str | None = None,
    features: Sequence[str] | None = None,
    home_country: str = DEFAULT_HOME_COUNTRY,
    express_services: Iterable[str] = DEFAULT_EXPRESS_SERVICES,
) -> tuple[DataFrame, pd.Timestamp]:
    """The features of validated Spark shipments, and the as-of date used (see :func:`spark_features`)."""
    names = select_features(features, shipments.columns)
    as_of_ts = default_as_of(shipments.last_date) if as_of is None else pd.Timestamp(as_of)
    window = shipments.frame.where(shipments.frame[_DATE_NS] < as_of_ts.value)
    frame = _aggregate(window, names, as_of_ts, home_country, tuple(express_services))
    if as_of is not None and frame.isEmpty():
        raise DataError(f"no shipment before as-of date {as_of_ts.date()}")
    return frame, as_of_ts


def _aggregate(
    shipments: DataFrame, names: list[str], as_of: pd.Timestamp, home_country: str, express: tuple[str, ...]
) -> DataFrame:
    """Core of :func:`features_from_shipments`: one ``groupBy`` over validated rows."""
    from pyspark.sql import functions as sf

    def share(mask: Column) -> Column:
        # A null (e.g. a missing service) is not a match, as with pandas' ``isin`` and ``==``.
        return sf.sum(sf.when(mask, 1.0).otherwise(0.0))

    aggregates = {
        "_count": sf.count(sf.lit(1)).cast("double"),
        "_first": sf.min(_DATE_NS),
        "_last": sf.max(_DATE_NS),
    }
    if "amount" in shipments.columns:
        aggregates["_amount"] = sf.sum("amount")
    if "avg_weight_kg" in names:
        aggregates["_weight"] = sf.sum("weight_kg")
    if "service" in shipments.columns:
        aggregates["_express"] = share(sf.col("service").isin(*express))
        aggregates["_relay"] = share(sf.col("service") == RELAY_SERVICE)
    if "international_share" in names:
        aggregates["_abroad"] = share(sf.col("destination_country") != home_country)
    if "late_rate" in names:
        aggregates["_late"] = share(sf.col("delivered_late"))
    if "return_rate" in names:
        aggregates["_returned"] = share(sf.col("returned"))
    totals = shipments.groupBy("customer_id").agg(*[expr.alias(name) for name, expr in aggregates.items()])

    count = sf.col("_count")
    # Same arithmetic as pandas: an int64 nanosecond difference divided by one day, in float64.
    days = sf.lit(_NS_PER_DAY).cast("double")
    definitions = {
        "recency_days": (sf.lit(as_of.value) - sf.col("_last")).cast("double") / days,
        "tenure_days": (sf.lit(as_of.value) - sf.col("_first")).cast("double") / days,
        "frequency": count,
        "monetary": sf.col("_amount") if "_amount" in aggregates else None,
        "avg_amount": sf.col("_amount") / count if "_amount" in aggregates else None,
        "avg_weight_kg": sf.col("_weight") / count if "_weight" in aggregates else None,
        "express_share": sf.col("_express") / count if "_express" in aggregates else None,
        "relay_share": sf.col("_relay") / count if "_relay" in aggregates else None,
        "international_share": sf.col("_abroad") / count if "_abroad" in aggregates else None,
        "late_rate": sf.col("_late") / count if "_late" in aggregates else None,
        "return_rate": sf.col("_returned") / count if "_returned" in aggregates else None,
    }
    return totals.select("customer_id", *[definitions[name].cast("double").alias(name) for name in names])


def _to_pandas(frame: DataFrame) -> pd.DataFrame:
    """Collect through Arrow: ``toPandas`` in pyspark 4.0 calls pandas 3 APIs that are deprecated."""
    return frame.toArrow().to_pandas()


def collect_features(frame: DataFrame) -> pd.DataFrame:
    """A Spark features frame on the driver, shaped like ``build_features``' output.

    Indexed by ``customer_id`` (sorted), float64 columns in the frame's order.
    """
    table = _to_pandas(frame)
    table["customer_id"] = table["customer_id"].astype("str")
    table = table.set_index("customer_id").sort_index(kind="stable")
    return table.astype("float64")
