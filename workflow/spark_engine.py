"""The Apache Spark engine: features in Spark SQL and the K-means sweep in Spark ML (issue 4, "Beyond one machine").

``segments train --engine spark`` and ``segments score --engine spark`` go through this module. It
produces the same objects as the pandas/scikit-learn path, so the rest of the product does not know
which engine ran:

* :func:`spark_features` computes DESIGN §3's features with the definitions of
  ``workflow.features.build_features``, from a Parquet file (or folder) that may not fit on one machine.
* :func:`fit_sweep_spark` fits ``pyspark.ml.clustering.KMeans`` (k-means|| starts) per k on the
  log1p/asinh-transformed, standardised features, and returns a ``workflow.clustering.Sweep`` whose
  trials hold ordinary scikit-learn pipelines (``make_pipeline``) with the transform, the scaler's
  constants and the centres copied from the Spark fit. ``workflow.tracking.log_sweep`` logs it
  unchanged, and promote, score and the dashboard load it like any other version.
* :func:`score_with_spark` applies a registered model in Spark (nearest centre in SQL) and writes
  the scored customers as a Parquet or CSV dataset.

What runs where: validation, features, scaling, every K-means fit, the Calinski-Harabasz and
Davies-Bouldin aggregates and the stability contingency tables run in Spark. The driver receives
what the sweep's contract holds anyway: the sorted customer ids (to draw ``fit_sweep``'s silhouette
sample and stability subsamples), one label per customer and k, the scaled points (the silhouette
sample is taken from them), and k×k tables. ``train_with_spark`` also collects the features, which
MLflow logging and the profiles need. So shipments may exceed one machine; customers must fit on
the driver (1M customers × 11 features ≈ 90 MB).

pyspark is an optional dependency (the ``[spark]`` extra): it is imported inside functions, so that
this module imports without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import silhouette_samples
from sklearn.pipeline import Pipeline

from workflow.clustering import (
    METRIC_NAMES,
    SILHOUETTE_SAMPLE_SIZE,
    STABILITY_RESAMPLES,
    Sweep,
    Trial,
    make_pipeline,
    silhouette_sample,
    stability_subsamples,
    transformed_feature_order,
)
from workflow.countries import country_codes
from workflow.data import (
    AMBIGUOUS_DATE,
    BOOLEAN_COLUMNS,
    DAY_MONTH_PATTERN,
    DEFAULT_MAX_BAD_SHARE,
    FALSE_TEXT,
    ISO_DATE_PATTERN,
    KNOWN_COLUMNS,
    ORDER_ID,
    ROWS_SHOWN,
    TRUE_TEXT,
    UNPARSEABLE_DATE,
    UTC_OFFSET_PATTERN,
    Problem,
    ReadOptions,
    ValidationReport,
    check_header,
)
from workflow.errors import DataError, SegmentsError, first_line
from workflow.features import (
    DEFAULT_EXPRESS_SERVICES,
    DEFAULT_HOME_COUNTRY,
    RELAY_SERVICE,
    select_features,
)
from workflow.set_aside import NET_REFUNDERS, SetAsideRule, fit_set_aside

if TYPE_CHECKING:
    from pyspark.ml.clustering import KMeansModel
    from pyspark.sql import Column, DataFrame, SparkSession

    from workflow.model import SegmentModel

ProgressCallback = Callable[[str], None]

#: Restarts per k, as ``fit_sweep``: with fewer, Spark's k-means|| starts end in worse local optima
#: often enough (measured on generated data: with 2 starts, 3–19 % more inertia at k=4..7 and another
#: recommended k) that the two engines would disagree.
SPARK_N_INIT = 10
#: Spark K-means fits run at once (see ``_fit_starts``).
CONCURRENT_FITS = 4
#: sklearn's default ``tol``: stop when the summed squared centre shift ≤ tol × mean feature variance.
SKLEARN_TOL = 1e-4
SKLEARN_MAX_ITER = 300
#: Local sessions: the driver holds the labels (one int per customer and k) and the silhouette sample.
DEFAULT_DRIVER_MEMORY = "4g"

_NS_PER_DAY = 86_400 * 10**9
_DATE_NS = "_date_ns"
_ROW = "_row"
_FILE = "_file"
_LABEL = "_label"
_GUEST = "_guest"
_VECTOR = "_vector"


# --------------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------------


def spark_session(
    master: str = "local[2]", app_name: str = "segments", *, driver_memory: str | None = None
) -> SparkSession:
    """A SparkSession configured for this workflow (or the running one, which ``getOrCreate`` returns).

    Parameters
    ----------
    master : str
        ``local[N]`` for one machine, or a cluster URL (``spark://host:7077``, ``yarn``, ``k8s://…``).
    app_name : str
        Name shown by the cluster manager.
    driver_memory : str, optional
        JVM heap of the driver (default ``$SEGMENTS_SPARK_DRIVER_MEMORY`` or 4g); only takes effect
        when this call starts the JVM. Spark's log level is ``$SEGMENTS_SPARK_LOG_LEVEL`` (default FATAL).

    Raises
    ------
    SegmentsError
        pyspark is not installed, or Spark cannot start.

    Notes
    -----
    Local sessions bind to 127.0.0.1 (nothing listens on the network) and disable the web UI.
    Shuffles use few partitions in local mode: Spark's default of 200 is for clusters, and each
    partition costs a task (~10 ms) for a few kilobytes here. The session time zone is UTC, so that
    timestamps mean the wall-clock time pandas reads from the same file.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SegmentsError("the Spark engine needs pyspark: pip install 'segments[spark]'") from None

    local = master.startswith("local")
    if local:
        # Without it Spark resolves the host name, warns, and may bind to an external interface.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    memory = driver_memory or os.environ.get("SEGMENTS_SPARK_DRIVER_MEMORY", DEFAULT_DRIVER_MEMORY)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.memory", memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if local:
        builder = (
            builder.config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", str(2 * _local_cores(master)))
            .config("spark.default.parallelism", str(_local_cores(master)))
        )
    try:
        spark = builder.getOrCreate()
    except Exception as error:  # the JVM did not start (no Java, wrong version) or the master is unreachable
        raise SegmentsError(
            f"cannot start Spark with master {master} (Spark 4 needs Java 17 on PATH or in JAVA_HOME): "
            f"{first_line(error)}"
        ) from None
    # Spark logs every failed task (a corrupt file, a cancelled fit) at ERROR, around the one-line
    # message the CLI prints; the exception carries the details. Operators can ask for the logs.
    spark.sparkContext.setLogLevel(os.environ.get("SEGMENTS_SPARK_LOG_LEVEL", "FATAL"))
    return spark


def _local_cores(master: str) -> int:
    inside = master.removeprefix("local").strip("[]").split(",")[0]
    if inside in {"", "*"}:
        return os.cpu_count() or 1
    return max(int(inside), 1) if inside.isdigit() else 1


# --------------------------------------------------------------------------------------------------
# Reading and validating shipments
# --------------------------------------------------------------------------------------------------


@dataclass
class SparkShipments:
    """Validated shipments as a lazy Spark DataFrame, with what validation learned in its one pass.

    ``frame`` has ``customer_id`` (string), ``_date_ns`` (nanoseconds since the epoch, wall clock),
    ``amount`` and the optional contract columns present, typed like ``workflow.data`` types them.
    """

    frame: DataFrame
    report: ValidationReport
    columns: list[str]
    last_date: pd.Timestamp
    digest: str

    @property
    def n_rows(self) -> int:
        """Valid shipment rows."""
        return self.report.rows_kept


def read_shipments_spark(
    spark: SparkSession,
    path: str | Path,
    *,
    columns: dict[str, str] | None = None,
    max_bad_share: float = DEFAULT_MAX_BAD_SHARE,
    today: pd.Timestamp | None = None,
) -> SparkShipments:
    """Read a Parquet shipments file (or folder of files) and validate it with DESIGN §2's rules.

    The rules, messages and row numbers are those of ``workflow.data.read_shipments``; faulty rows are
    dropped and counted, and above ``max_bad_share`` the read stops. One Spark pass counts every rule,
    the valid rows, their last date and their digest.

    Parameters
    ----------
    spark : SparkSession
    path : str or Path
        A ``.parquet`` file or a folder of Parquet files (local, ``hdfs://``, ``s3a://``…).
    columns : dict, optional
        The file's names to ours (``workflow.data.parse_column_mapping``).
    max_bad_share : float
        Stop with ``DataError`` above this share of faulty rows.
    today : Timestamp, optional
        Dates after today are faults; default the current date.

    Returns
    -------
    SparkShipments

    Raises
    ------
    DataError
        Unreadable or non-Parquet input, a missing required column, too many faulty rows, or no valid row.

    Notes
    -----
    Row numbers in the report count from 1 within each file (a single file numbers like the pandas
    path). The digest hashes the valid rows as a multiset: it does not depend on row order or on
    how the data is split into files, but it differs from the pandas engine's digest.
    """
    mapping = columns or {}
    raw, nanos = _read_parquet(spark, path)
    header = [name for name in raw.columns if name not in {_ROW, _FILE}]
    _refuse_order_lines(path, header, mapping)
    check_header(path, header, mapping)
    renamed = raw.select(
        *[raw[name].alias(mapping.get(name, name)) for name in header if mapping.get(name, name) in KNOWN_COLUMNS],
        _ROW,
        _FILE,
    )
    countries, unknown = _country_map(renamed)
    typed, faults = _typed(renamed, today or pd.Timestamp.today().normalize(), nanos=nanos, countries=countries)
    present = [name for name in KNOWN_COLUMNS if name in renamed.columns]
    kept = [name if name != "date" else _DATE_NS for name in present]
    shipments = _validate(path, typed, faults, kept, max_bad_share)
    shipments.report.unknown_countries = unknown
    # What a file of this shape needs, recorded with the model as the pandas engine records it.
    shipments.report.read_options = ReadOptions(tuple((ours, theirs) for theirs, ours in mapping.items())).to_dict()
    return shipments


def _refuse_order_lines(path: str | Path, header: list[str], mapping: dict[str, str]) -> None:
    """Grouping invoice lines into orders and products of columns are the pandas engine's (issue 10)."""
    refused = [
        f"{ours}={theirs}"
        for theirs, ours in mapping.items()
        if ours == ORDER_ID or (theirs not in header and "*" in theirs)
    ]
    if refused:
        raise DataError(
            f"{path}: --columns {', '.join(refused)}: the Spark engine reads one shipment per row"
            " (no order grouping, no product of columns); use the default engine"
        )


def _country_map(frame: DataFrame) -> tuple[dict[str, str], dict[str, int]]:
    """Distinct destination texts → alpha-2 code (``workflow.countries``), and the rows of those naming no country.

    One small job: a country column has a few dozen distinct values, mapped on the driver and
    applied as a literal map, so the engines agree on every name.
    """
    from pyspark.sql import functions as sf

    if "destination_country" not in frame.columns:
        return {}, {}
    text = sf.trim(sf.col("destination_country").cast("string")).alias("value")
    counts = {row["value"]: int(row["count"]) for row in frame.groupBy(text).count().collect()}
    codes = country_codes(value for value in counts if value is not None)
    unknown = {("" if value is None else value): n for value, n in counts.items() if codes.get(value) is None}
    ordered = dict(sorted(unknown.items(), key=lambda item: (-item[1], item[0])))
    return {value: code for value, code in codes.items() if code is not None}, ordered


_NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"


def _read_parquet(spark: SparkSession, path: str | Path) -> tuple[DataFrame, bool]:
    """The file with its row numbers, and whether its timestamps are nanoseconds read as longs.

    pandas and pyarrow write naive timestamps as TIMESTAMP(NANOS), a type Spark refuses unless told
    to read it as a long (nanoseconds since the epoch). Reading first without that setting tells a
    nanosecond ``date`` apart from a ``date`` column of plain integers (which must fail to parse).
    """
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import AnalysisException

    text = str(path)
    if Path(text).suffix.lower() in {".csv", ".txt"}:
        raise DataError(f"{path}: the Spark engine reads Parquet; convert the file or use the default engine")
    try:
        frame, nanos = _read_parquet_schema(spark, text)
    except AnalysisException as error:  # no such path, no files, unreadable schema
        raise DataError(f"{path}: cannot read as Parquet: {first_line(error)}") from None
    except Py4JJavaError as error:  # a corrupt or non-Parquet file: the root cause says which
        raise DataError(f"{path}: cannot read as Parquet: {_java_root_cause(error)}") from None
    # Hidden per-file metadata: row numbers for the report, as in the pandas path.
    rows = frame.select("*", frame["_metadata.row_index"].alias(_ROW), frame["_metadata.file_path"].alias(_FILE))
    return rows, nanos


def _read_parquet_schema(spark: SparkSession, text: str) -> tuple[DataFrame, bool]:
    from pyspark.errors import AnalysisException

    # The setting is read again when a plan runs: it only ever goes from off to on, so that frames
    # read earlier in the session from nanosecond files stay readable.
    previous = spark.conf.get(_NANOS_AS_LONG, "false")
    spark.conf.set(_NANOS_AS_LONG, "false")
    try:
        return spark.read.parquet(text), False
    except AnalysisException as error:
        if "TIMESTAMP(NANOS" not in str(error):
            raise
        previous = "true"
        spark.conf.set(_NANOS_AS_LONG, "true")
        return spark.read.parquet(text), True
    finally:
        spark.conf.set(_NANOS_AS_LONG, previous)


def _java_root_cause(error: Any) -> str:
    cause = error.java_exception
    while cause.getCause() is not None:
        cause = cause.getCause()
    return first_line(Exception(str(cause.getMessage())))


def _typed(
    frame: DataFrame, today: pd.Timestamp, *, nanos: bool, countries: dict[str, str] | None = None
) -> tuple[DataFrame, list[tuple[str, str]]]:
    """Contract types as ``workflow.data`` parses them, plus one boolean ``_fault_<i>`` column per rule.

    Returns the typed frame and the (column, rule) of each fault column. The rules mirror
    ``workflow.data`` (a test compares the two reports on a faulty file): a value that fails to
    parse is reported by the parser only, NaN in a numeric column is missing, text ``NaN`` is not a number.
    A row without a customer id is a guest sale (``_guest``): no fault of it counts. ``countries``
    maps destination texts to codes; other texts are unknown destinations, not faults.
    """
    from pyspark.sql import functions as sf

    schema = {field.name: field.dataType for field in frame.schema.fields}
    out: dict[str, Column] = {}
    rules: list[tuple[str, str, Column]] = []

    ids = sf.trim(sf.col("customer_id").cast("string"))
    out["customer_id"] = ids
    guest = ids.isNull() | (sf.length(ids) == 0)
    date_ns, unparseable, ambiguous = _date_ns(sf.col("date"), schema["date"], nanos=nanos)
    out[_DATE_NS] = date_ns
    rules += [
        ("date", AMBIGUOUS_DATE, ambiguous),
        ("date", UNPARSEABLE_DATE, unparseable),
    ]
    numbers, missing = {}, {}
    for column in ("amount", "weight_kg"):
        if column in schema:
            numbers[column], not_number, missing[column] = _number(sf.col(column), schema[column])
            out[column] = numbers[column]
            rules.append((column, "not a number", not_number))
    for column in ("service", "customer_type"):
        if column in schema:
            out[column] = sf.trim(sf.col(column).cast("string"))
    if "destination_country" in schema:
        text = sf.trim(sf.col("destination_country").cast("string"))
        pairs = [sf.lit(part) for value, code in sorted((countries or {}).items()) for part in (value, code)]
        out["destination_country"] = sf.create_map(*pairs)[text] if pairs else sf.lit(None).cast("string")
    for column in BOOLEAN_COLUMNS:
        if column in schema:
            out[column], not_boolean = _boolean(sf.col(column), schema[column])
            rules += [
                (column, "not a boolean (true/false, 1/0, yes/no)", not_boolean),
                (column, "missing value", sf.col(column).isNull()),
            ]

    # The schema's rules, on typed values; a parse failure is null here, so it is not counted twice.
    tomorrow_ns = (today.normalize() + pd.Timedelta(days=1)).value
    rules += [
        ("date", "missing value", sf.col("date").isNull()),
        ("date", f"date after today ({today.date()})", date_ns >= sf.lit(tomorrow_ns)),
    ]
    for column, number in numbers.items():
        rules += [
            (column, "missing value", missing[column]),
            (column, "not a finite number", number.isin(float("inf"), float("-inf"))),
        ]
        if column == "weight_kg":
            rules.append((column, "negative weight", number < 0))

    typed = frame.select(
        *[expr.alias(name) for name, expr in out.items()],
        # A null comparison is no fault: every flag is a plain true/false; a guest row has none.
        *[(sf.coalesce(fault, sf.lit(False)) & ~guest).alias(f"_fault_{i}") for i, (_, _, fault) in enumerate(rules)],
        guest.alias(_GUEST),
        _ROW,
        _FILE,
    )
    return typed, [(column, rule) for column, rule, _ in rules]


def _any(flags: Sequence[Column]) -> Column:
    from pyspark.sql import functions as sf

    result = sf.lit(False)
    for flag in flags:
        result = result | flag
    return result


def _number(value: Column, dtype: Any) -> tuple[Column, Column, Column]:
    """The value as a double, its "not a number" fault (text ``pd.to_numeric`` rejects) and its "missing value"."""
    from pyspark.sql import functions as sf
    from pyspark.sql import types as st

    if isinstance(dtype, st.StringType):
        parsed = sf.trim(value).try_cast("double")
        # A literal "NaN" is a number to Spark but a parse failure to pandas.
        number = sf.when(~sf.isnan(parsed), parsed)
        return number, number.isNull() & value.isNotNull(), value.isNull()
    if isinstance(dtype, st.NumericType | st.BooleanType):
        number = value.cast("double")
        # pandas reads NaN in a numeric column as missing; Spark keeps it as a value.
        return number, sf.lit(False), value.isNull() | sf.isnan(number)
    return sf.lit(None).cast("double"), value.isNotNull(), value.isNull()


def _boolean(value: Column, dtype: Any) -> tuple[Column, Column]:
    """True/false from booleans or from ``true/false``, ``1/0``, ``yes/no`` text; and the "not a boolean" fault."""
    from pyspark.sql import functions as sf
    from pyspark.sql import types as st

    if isinstance(dtype, st.BooleanType):
        return sf.coalesce(value, sf.lit(False)), sf.lit(False)
    text = sf.lower(sf.trim(value.cast("string")))
    truthy = text.isin(*TRUE_TEXT)
    falsy = text.isin(*FALSE_TEXT)
    return sf.coalesce(truthy, sf.lit(False)), value.isNotNull() & ~(truthy | falsy)


def _date_ns(value: Column, dtype: Any, *, nanos: bool) -> tuple[Column, Column, Column]:
    """Dates as nanoseconds since the epoch of their wall-clock time, with the parse faults of text dates."""
    from pyspark.sql import functions as sf
    from pyspark.sql import types as st

    never = sf.lit(False)
    if nanos and isinstance(dtype, st.LongType):  # TIMESTAMP(NANOS), read as a long
        return value, never, never
    if isinstance(dtype, st.DateType):
        return sf.unix_date(value).cast("long") * sf.lit(_NS_PER_DAY), never, never
    if isinstance(dtype, st.TimestampNTZType | st.TimestampType):
        # Under the session's UTC zone, a naive timestamp's epoch value is its wall-clock time.
        return sf.unix_micros(value.cast("timestamp")) * sf.lit(1000), never, never
    text = sf.trim(value.cast("string"))
    # Year first and a full date only; a UTC offset is dropped to keep the local wall time.
    wall = sf.regexp_replace(text, UTC_OFFSET_PATTERN, "")
    parsed = sf.when(text.rlike(ISO_DATE_PATTERN), sf.try_to_timestamp(wall))
    failed = parsed.isNull() & value.isNotNull()
    day, month = (sf.regexp_extract(text, DAY_MONTH_PATTERN, group).try_cast("int") for group in (1, 2))
    ambiguous = failed & text.rlike(DAY_MONTH_PATTERN) & (day <= 12) & (month <= 12)
    return sf.unix_micros(parsed) * sf.lit(1000), failed & ~sf.coalesce(ambiguous, never), sf.coalesce(ambiguous, never)


def _validate(
    path: str | Path, typed: DataFrame, rules: list[tuple[str, str]], kept: list[str], max_bad_share: float
) -> SparkShipments:
    """One pass: rule counts, valid rows, their last date and digest; then the report or the refusal."""
    from pyspark.sql import functions as sf

    fault_columns = [f"_fault_{i}" for i in range(len(rules))]
    guest = sf.col(_GUEST)
    # Guests are left out, not faults (their fault flags are all false).
    bad = _any([sf.col(name) for name in fault_columns])
    out = bad | guest
    valid = typed.where(~out)
    digest_columns = [sf.col(name) for name in kept]
    revenue = []
    if "amount" in kept:
        finite = sf.col("amount").isNotNull() & ~sf.col("amount").isin(float("inf"), float("-inf"))
        revenue = [
            sf.sum(sf.when(finite, sf.col("amount"))).alias("revenue"),
            sf.sum(sf.when(finite & guest, sf.col("amount"))).alias("guest_revenue"),
        ]
    totals = typed.agg(
        sf.count(sf.lit(1)).alias("rows"),
        *[sf.sum(sf.col(name).cast("long")).alias(name) for name in fault_columns],
        sf.sum(bad.cast("long")).alias("bad"),
        sf.sum(guest.cast("long")).alias("guests"),
        *revenue,
        sf.max(sf.when(~out, sf.col(_DATE_NS))).alias("last"),
        # Two independent row hashes, summed exactly: an order-free digest of the valid rows.
        sf.sum(sf.when(~out, sf.xxhash64(*digest_columns)).cast("decimal(38,0)")).alias("xx"),
        sf.sum(sf.when(~out, sf.hash(*digest_columns)).cast("decimal(38,0)")).alias("mm"),
    ).first()
    rows_read, rows_bad, guests = int(totals["rows"]), int(totals["bad"] or 0), int(totals["guests"] or 0)
    total_revenue = float(totals["revenue"] or 0.0) if revenue else 0.0
    guest_share = float(totals["guest_revenue"] or 0.0) / total_revenue if guests and total_revenue else None
    counts = {i: int(totals[name] or 0) for i, name in enumerate(fault_columns)}
    first_rows = _first_rows(typed, [i for i, count in counts.items() if count])
    problems = [Problem(column, rule, counts[i], first_rows[i]) for i, (column, rule) in enumerate(rules) if counts[i]]
    report = ValidationReport(
        file=str(path),
        rows_read=rows_read,
        rows_kept=rows_read - rows_bad - guests,
        max_bad_share=max_bad_share,
        problems=problems,
        guest_rows=guests,
        guest_revenue_share=guest_share,
    )
    if rows_read and guests == rows_read:
        raise DataError(f"{path}: no row has a customer id ({guests} guest rows left out)")
    if rows_read and rows_bad / (rows_read - guests) > max_bad_share:
        details = "; ".join(problem.describe() for problem in problems)
        share = rows_bad / (rows_read - guests)
        raise DataError(f"{path}: {share:.1%} of rows are invalid (limit {max_bad_share:.0%}): {details}")
    if report.rows_kept == 0:
        raise DataError(f"{path}: no valid shipment rows" + (f" ({report.summary()})" if problems else ""))
    contract = ["date" if name == _DATE_NS else name for name in kept]
    text = f"{','.join(contract)}|{report.rows_kept}|{totals['xx']}|{totals['mm']}"
    return SparkShipments(
        frame=valid.select(*kept),
        report=report,
        columns=contract,
        last_date=pd.Timestamp(int(totals["last"]), unit="ns"),
        digest=hashlib.sha256(text.encode()).hexdigest()[:16],
    )


def _first_rows(typed: DataFrame, broken: list[int]) -> dict[int, list[int]]:
    """The first offending row numbers (1-based, within their file) of each broken rule, in one job."""
    from pyspark.sql import Window
    from pyspark.sql import functions as sf

    if not broken:
        return {}
    rule = sf.explode(sf.array_compact(sf.array(*[sf.when(sf.col(f"_fault_{i}"), sf.lit(i)) for i in broken])))
    faulty = typed.where(_any([sf.col(f"_fault_{i}") for i in broken])).select(rule.alias("_rule"), _FILE, _ROW)
    order = Window.partitionBy("_rule").orderBy(_FILE, _ROW)
    first = faulty.withColumn("_n", sf.row_number().over(order)).where(sf.col("_n") <= ROWS_SHOWN)
    rows: dict[int, list[tuple[str, int]]] = {i: [] for i in broken}
    for row in first.collect():
        rows[row["_rule"]].append((row[_FILE], row[_ROW]))
    return {i: [int(number) + 1 for _, number in sorted(found)] for i, found in rows.items()}


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
    """One row per customer with DESIGN §3's features, computed in Spark SQL from a Parquet file.

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
    as_of_ts = shipments.last_date.normalize() + pd.Timedelta(days=1) if as_of is None else pd.Timestamp(as_of)
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


# --------------------------------------------------------------------------------------------------
# The model space: transform and scaler as Spark SQL expressions
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Space:
    """The ``transform → scale`` steps of a pipeline as constants, in the scaler's column order."""

    columns: tuple[str, ...]
    functions: tuple[str, ...]  # "log1p", "asinh" or "identity", per column
    mean: np.ndarray
    scale: np.ndarray


_UFUNC_NAMES = {np.log1p: "log1p", np.arcsinh: "asinh"}


def _space_from_pipeline(pipeline: Pipeline) -> _Space:
    """Read a fitted ``make_pipeline`` pipeline's transform and scaler; refuse anything else.

    Raises
    ------
    SegmentsError
        The pipeline has steps the Spark engine cannot translate to SQL.
    """
    transform = pipeline.named_steps.get("transform")
    scale = pipeline.named_steps.get("scale")
    if transform is None or scale is None or not hasattr(scale, "mean_"):
        raise SegmentsError("the model is not a fitted transform → scale → kmeans pipeline; score it without Spark")
    # Fitted, a passthrough remainder is stored as an identity FunctionTransformer: check the parameter.
    if transform.remainder != "passthrough":
        raise SegmentsError(f"the model's remainder is {transform.remainder!r}; the Spark engine needs passthrough")
    function_of: dict[str, str] = {}
    for step, transformer, columns in transform.transformers_:
        if step == "remainder" or not len(columns):
            continue
        name = _UFUNC_NAMES.get(getattr(transformer, "func", None))
        if name is None:
            raise SegmentsError(f"the model's transform step {step!r} has no Spark SQL equivalent")
        function_of.update(dict.fromkeys(columns, name))
    order = tuple(transformed_feature_order(pipeline))
    mean = scale.mean_ if scale.with_mean else np.zeros(len(order))
    factor = scale.scale_ if scale.with_std else np.ones(len(order))
    return _Space(
        order, tuple(function_of.get(name, "identity") for name in order), np.asarray(mean), np.asarray(factor)
    )


def _transformed(name: str, function: str) -> Column:
    from pyspark.sql import functions as sf

    x = sf.col(name).cast("double")
    if function == "log1p":
        return sf.log1p(x)
    if function == "asinh":
        # Spark's asinh is log(x + sqrt(x² + 1)), which cancels catastrophically for negative x (net
        # refunds); the odd form with log1p is accurate to an ulp of numpy's arcsinh everywhere.
        magnitude = sf.abs(x)
        return sf.signum(x) * sf.log1p(magnitude + magnitude * magnitude / (sf.sqrt(magnitude * magnitude + 1.0) + 1.0))
    return x


def _with_z(frame: DataFrame, space: _Space, keep: Sequence[str] = ()) -> DataFrame:
    """``customer_id``, the ``keep`` columns and the customers in the model's scaled space, ``_z0…``."""
    z = [
        ((_transformed(name, function) - float(mean)) / float(scale)).alias(f"_z{j}")
        for j, (name, function, mean, scale) in enumerate(
            zip(space.columns, space.functions, space.mean, space.scale, strict=True)
        )
    ]
    return frame.select("customer_id", *keep, *z)


def _scaled(frame: DataFrame, space: _Space) -> DataFrame:
    """``customer_id``, the scaled columns ``_z0…`` and their vector ``_vector`` (K-means' input)."""
    from pyspark.ml.feature import VectorAssembler

    assembler = VectorAssembler(inputCols=[f"_z{j}" for j in range(len(space.columns))], outputCol=_VECTOR)
    return assembler.transform(_with_z(frame, space))


def _fit_prep(features: list[str], frame: DataFrame) -> tuple[Pipeline, int]:
    """The fitted ``transform → scale`` steps of ``make_pipeline``, with the scaler's moments from Spark.

    The same pass checks ``fit_sweep``'s input rules: finite values, not every feature constant.
    (Too few distinct customers for k shows as Spark returning fewer than k centres.)

    The ColumnTransformer is stateless (numpy ufuncs): fitting it on two rows gives it its structure.
    The scaler gets the mean and the population variance computed in Spark, which is what
    ``StandardScaler.fit`` computes; Spark ML's own ``StandardScaler`` divides by the sample (n − 1)
    standard deviation, and the registered model would then differ from a scikit-learn fit.
    """
    from pyspark.sql import functions as sf

    prep = make_pipeline(features, 2)[:-1]
    prep.fit(pd.DataFrame(np.ones((2, len(features))), columns=features))
    layout = _space_from_pipeline(prep)  # column order and functions; its moments are the dummy fit's
    columns = [_transformed(name, fn) for name, fn in zip(layout.columns, layout.functions, strict=True)]
    moments = frame.agg(
        sf.count(sf.lit(1)).alias("n"),
        *[sf.sum(_non_finite(name)).alias(f"bad{i}") for i, name in enumerate(features)],
        *[sf.avg(column).alias(f"m{j}") for j, column in enumerate(columns)],
        *[sf.var_pop(column).alias(f"v{j}") for j, column in enumerate(columns)],
    ).first()
    bad = [name for i, name in enumerate(features) if moments[f"bad{i}"]]
    if bad:
        raise DataError(f"features {', '.join(bad)} have non-finite values")
    n = int(moments["n"])
    mean = np.array([moments[f"m{j}"] for j in range(len(columns))], dtype="float64")
    var = np.array([moments[f"v{j}"] for j in range(len(columns))], dtype="float64")
    if not (var > 0).any():
        raise DataError("every feature is constant across customers: nothing to segment")
    scaler = prep.named_steps["scale"]
    scaler.mean_, scaler.var_, scaler.scale_ = mean, var, _scale_from_var(var, mean, n)
    scaler.n_samples_seen_ = type(scaler.n_samples_seen_)(n)
    return prep, n


def _scale_from_var(var: np.ndarray, mean: np.ndarray, n: int) -> np.ndarray:
    """``StandardScaler``'s ``scale_``: the standard deviation, 1 for features that are constant.

    A feature counts as constant when its variance is below the rounding error of computing it
    (scikit-learn's test, after Chan, Golub and LeVeque 1983), not only when it is exactly zero.
    """
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    return np.where(constant, 1.0, np.sqrt(var))


# --------------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------------


def fit_sweep_spark(
    features: DataFrame,
    ks: Sequence[int],
    *,
    random_state: int = 0,
    n_init: int = SPARK_N_INIT,
    silhouette_sample_size: int = SILHOUETTE_SAMPLE_SIZE,
    stability_resamples: int = STABILITY_RESAMPLES,
    max_iter: int = SKLEARN_MAX_ITER,
    on_step: ProgressCallback | None = None,
) -> Sweep:
    """The K-means sweep of ``workflow.clustering.fit_sweep``, fitted with Spark ML.

    Parameters
    ----------
    features : pyspark.sql.DataFrame
        ``customer_id`` and numeric feature columns, one row per customer (from :func:`spark_features`).
    ks : sequence of int
        Values of k, each at least 2.
    random_state : int
        Seeds Spark's K-means, the silhouette sample (the same customers as ``fit_sweep`` picks) and
        the stability subsamples.
    n_init : int
        K-means restarts per fit (k-means|| starts with different seeds); the lowest cost wins.
    silhouette_sample_size : int
        The silhouette is computed on the driver on a seeded sample of this many customers.
    stability_resamples : int
        Subsample refits behind ``stability_ari``.
    max_iter : int
        Lloyd iterations per start at most.
    on_step : callable, optional
        Called with ``"k=<k>"`` before each k.

    Returns
    -------
    Sweep
        Trials hold scikit-learn pipelines (``make_pipeline``) carrying the Spark fit: ``predict`` on
        the collected features gives the Spark labels. Labels follow the customers sorted by
        ``customer_id`` (the order of :func:`collect_features`). Metrics have ``fit_sweep``'s names and
        definitions.

    Raises
    ------
    DataError
        Fewer distinct customers than the largest k, non-finite values, or constant features only.
    """
    from pyspark import StorageLevel

    ks = sorted(set(ks))
    names = [name for name in features.columns if name != "customer_id"]
    if min(ks) < 2:
        raise DataError("k must be at least 2 (one segment is not a segmentation)")
    prep, n = _fit_prep(names, features)
    space = _space_from_pipeline(prep)
    # Every fit, refit and metric pass reads the scaled vectors: keep them in memory once.
    scaled = _scaled(features, space).persist(StorageLevel.MEMORY_AND_DISK)
    subsamples: list[DataFrame] = []
    try:
        # The silhouette sample and the stability subsamples are fit_sweep's: the same customers, drawn
        # from the same seeded stream over the sorted ids, so the two engines' metrics compare.
        ids = _sorted_ids(scaled)
        rng = np.random.default_rng(random_state)
        sample_index = silhouette_sample(n, silhouette_sample_size, rng)
        subsamples += [
            _rows_of(scaled, ids[index]).persist(StorageLevel.MEMORY_AND_DISK)
            for index in stability_subsamples(n, stability_resamples, rng)
        ]
        fits: dict[int, tuple[KMeansModel, dict[str, float]]] = {}
        for k in ks:
            if on_step is not None:
                on_step(f"k={k}")
            # The starts on all customers and on every subsample are independent: fit them together.
            starts = [
                (data, seed)
                for offset, data in enumerate([scaled, *subsamples])
                for seed in _seeds(random_state, k, offset, n_init)
            ]
            models = _fit_starts(starts, k, max_iter)
            model = _best(models[:n_init], k)
            refits = [_best(models[i : i + n_init], k) for i in range(n_init, len(models), n_init)]
            stats = _cluster_metrics(scaled, model, k, n, len(names))
            stats["stability_ari"] = _stability(scaled, model, refits, k)
            fits[k] = (model, stats)
        labels, points = _collect_labels(scaled, {k: fit[0] for k, fit in fits.items()}, len(names))
        sample = points[sample_index]
        del points
    finally:
        for frame in [scaled, *subsamples]:
            frame.unpersist()

    trials = []
    for k in ks:
        model, stats = fits[k]
        values = silhouette_samples(sample, labels[k][sample_index])
        metrics = {"silhouette": float(values.mean()), **stats}
        pipeline = _sklearn_pipeline(prep, k, model, labels[k], metrics["inertia"], random_state, n_init)
        trials.append(
            Trial(
                k=k,
                pipeline=pipeline,
                labels=labels[k],
                metrics={name: metrics[name] for name in METRIC_NAMES},
                silhouette_values=values,
            )
        )
    return Sweep(
        features=names,
        trials=trials,
        silhouette_sample_size=len(sample_index),
        n_customers=n,
        random_state=random_state,
        n_init=n_init,
        silhouette_labels_index=sample_index,
    )


def _non_finite(name: str) -> Column:
    from pyspark.sql import functions as sf

    value = sf.col(name)
    return sf.when(value.isNull() | sf.isnan(value) | value.isin(np.inf, -np.inf), 1).otherwise(0)


def _seeds(random_state: int, k: int, resample: int, count: int, *, purpose: int = 0) -> list[int]:
    """Independent, reproducible Spark seeds per (k, resample, purpose): no two fits or samples share one.

    ``resample`` 0 is the fit on all customers; ``purpose`` 0 seeds K-means starts, 1 the subsample.
    """
    entropy = [random_state, k, resample, purpose]
    return [int(seed) for seed in np.random.SeedSequence(entropy).generate_state(count, dtype=np.uint32)]


def _spark_tol(k: int) -> float:
    """Spark stops when every centre moved less than ``tol``; sklearn when the summed squared shift is
    below ``SKLEARN_TOL`` × the mean variance (1 after scaling). ``sqrt(SKLEARN_TOL / k)`` per centre
    implies sklearn's rule, so a Spark fit is at least as converged as a scikit-learn one.
    """
    return float(np.sqrt(SKLEARN_TOL / k))


def _fit_starts(starts: Sequence[tuple[DataFrame, int]], k: int, max_iter: int) -> list[KMeansModel]:
    """One Spark K-means fit (k-means|| start) per (data, seed), ``CONCURRENT_FITS`` at a time.

    On customer-sized data a fit is a chain of small Spark jobs whose latency, not their work,
    dominates; running a few fits at once keeps the executors busy. Each fit depends only on its
    data and seed, so the results do not depend on the scheduling.
    """
    from pyspark.ml.clustering import KMeans

    def fit(start: tuple[DataFrame, int]) -> KMeansModel:
        data, seed = start
        estimator = KMeans(
            k=k,
            seed=seed,
            maxIter=max_iter,
            tol=_spark_tol(k),
            initMode="k-means||",
            featuresCol=_VECTOR,
            predictionCol=_LABEL,
        )
        return estimator.fit(data)

    pool = ThreadPoolExecutor(max_workers=min(len(starts), CONCURRENT_FITS))
    try:
        models = list(pool.map(fit, starts))
    except BaseException:
        # Ctrl-C or a failed fit: cancel the other fits' Spark jobs rather than wait for them to finish.
        pool.shutdown(wait=False, cancel_futures=True)
        starts[0][0].sparkSession.sparkContext.cancelAllJobs()
        raise
    pool.shutdown()
    return models


def _best(models: Sequence[KMeansModel], k: int) -> KMeansModel:
    """The lowest-cost fit (the first seed's on a tie), as ``n_init`` restarts choose in sklearn."""
    # k-means|| returns fewer centres when its candidates hold fewer than k distinct points.
    complete = [model for model in models if len(model.clusterCenters()) == k]
    if not complete:
        raise DataError(f"Spark's K-means found fewer than {k} distinct centres: use a smaller --k or more data")
    return min(complete, key=lambda model: model.summary.trainingCost)


def _per_label(value_of: Callable[[int], float], k: int) -> Column:
    """A constant looked up by the row's label: ``value_of(label)`` for labels 0…k−1."""
    from pyspark.sql import functions as sf

    return sf.element_at(sf.array(*[sf.lit(float(value_of(c))) for c in range(k)]), sf.col(_LABEL) + 1)


def _squared_distance(points: np.ndarray, m: int) -> Column:
    """Squared distance from the row's scaled vector ``_z0…`` to ``points[label]``."""
    from pyspark.sql import functions as sf

    terms = [sf.pow(sf.col(f"_z{j}") - _per_label(lambda c, j=j: points[c, j], len(points)), 2) for j in range(m)]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _cluster_metrics(scaled: DataFrame, model: KMeansModel, k: int, n: int, m: int) -> dict[str, float]:
    """Calinski-Harabasz, Davies-Bouldin, inertia and segment sizes from two Spark aggregations.

    The first pass gives sizes and cluster means; the second the distances to those means (the
    definitions of scikit-learn's scores use the labels' means, not the fitted centres) and to the
    centres (inertia).
    """
    from pyspark.sql import functions as sf

    labelled = model.transform(scaled)
    first = labelled.groupBy(_LABEL).agg(
        sf.count(sf.lit(1)).alias("n"), *[sf.sum(f"_z{j}").alias(f"s{j}") for j in range(m)]
    )
    counts, sums = np.zeros(k), np.zeros((k, m))
    for row in first.collect():
        counts[row[_LABEL]] = row["n"]
        sums[row[_LABEL]] = [row[f"s{j}"] for j in range(m)]
    present = counts > 0
    means = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=present[:, None])
    centres = np.asarray(model.clusterCenters(), dtype="float64")
    to_mean = _squared_distance(means, m)
    second = labelled.groupBy(_LABEL).agg(
        sf.sum(sf.sqrt(to_mean)).alias("dist"),
        sf.sum(to_mean).alias("sq"),
        sf.sum(_squared_distance(centres, m)).alias("cost"),
    )
    dist, squared, cost = np.zeros(k), np.zeros(k), 0.0
    for row in second.collect():
        dist[row[_LABEL]], squared[row[_LABEL]] = row["dist"], row["sq"]
        cost += row["cost"]
    n_found = int(present.sum())
    if n_found > 1:
        calinski = _calinski_harabasz(counts[present], means[present], float(squared.sum()), sums.sum(axis=0) / n)
        davies = _davies_bouldin(dist[present] / counts[present], means[present])
    else:
        calinski, davies = float("nan"), float("nan")
    return {
        "calinski_harabasz": calinski,
        "davies_bouldin": davies,
        "inertia": float(cost),
        "min_cluster_share": float(counts.min() / n),
        "n_clusters": float(n_found),
    }


def _calinski_harabasz(counts: np.ndarray, means: np.ndarray, within: float, centre: np.ndarray) -> float:
    """scikit-learn's ``calinski_harabasz_score`` from cluster sizes, means and the within sum of squares."""
    n, n_labels = counts.sum(), len(counts)
    between = float((counts * ((means - centre) ** 2).sum(axis=1)).sum())
    return 1.0 if within == 0 else float(between * (n - n_labels) / (within * (n_labels - 1)))


def _davies_bouldin(intra: np.ndarray, means: np.ndarray) -> float:
    """scikit-learn's ``davies_bouldin_score`` from each cluster's mean distance to its mean."""
    separation = np.sqrt(((means[:, None, :] - means[None, :, :]) ** 2).sum(axis=2))
    if np.allclose(intra, 0) or np.allclose(separation, 0):
        return 0.0
    separation[separation == 0] = np.inf
    return float(np.max((intra[:, None] + intra[None, :]) / separation, axis=1).mean())


def _sorted_ids(scaled: DataFrame) -> np.ndarray:
    """Every customer id, sorted: the order of the labels and of :func:`collect_features`."""
    ids = _to_pandas(scaled.select("customer_id"))["customer_id"].astype("str")
    return np.sort(ids.to_numpy())


def _rows_of(scaled: DataFrame, customer_ids: np.ndarray) -> DataFrame:
    """The rows of the given customers (a broadcast join: the ids are a sample, small next to the data)."""
    import pyarrow as pa
    from pyspark.sql import functions as sf

    wanted = scaled.sparkSession.createDataFrame(pa.table({"customer_id": pa.array(customer_ids, pa.string())}))
    return scaled.join(sf.broadcast(wanted), "customer_id")


def _stability(scaled: DataFrame, model: KMeansModel, refits: Sequence[KMeansModel], k: int) -> float:
    """``fit_sweep``'s stability: mean ARI between the labels and the subsample refits', on all customers.

    The ARI comes from the k×k contingency table, which Spark counts: no label array travels for it.
    """
    from pyspark.sql import functions as sf

    if not refits:
        return float("nan")
    full = model.transform(scaled).withColumnRenamed(_LABEL, "_full")
    scores = []
    for refit in refits:
        pairs = refit.transform(full).groupBy("_full", _LABEL).agg(sf.count(sf.lit(1)).alias("n")).collect()
        table = np.zeros((k, k), dtype="int64")
        for row in pairs:
            table[row["_full"], row[_LABEL]] = row["n"]
        scores.append(_ari_from_contingency(table))
    return float(np.mean(scores))


def _ari_from_contingency(table: np.ndarray) -> float:
    """The adjusted Rand index from a contingency table, with scikit-learn's pair-confusion formula.

    Python integers throughout: the pair counts (≈ n²) overflow int64 above three billion customers.
    """
    cells = [int(value) for value in table.ravel()]
    n = sum(cells)
    sum_squares = sum(value * value for value in cells)
    rows = [int(value) for value in table.sum(axis=1)]
    cols = [int(value) for value in table.sum(axis=0)]
    # Pairs together in both labelings (tp), in the first only (fp), in the second only (fn), in neither (tn).
    tp = sum_squares - n
    fp = sum(int(table[i, j]) * cols[j] for i in range(table.shape[0]) for j in range(table.shape[1])) - sum_squares
    fn = sum(int(table[i, j]) * rows[i] for i in range(table.shape[0]) for j in range(table.shape[1])) - sum_squares
    tn = n * n - fp - fn - sum_squares
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def _collect_labels(
    scaled: DataFrame, models: dict[int, KMeansModel], m: int
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Each k's labels and the scaled points, customers sorted by id, in one pass."""
    frame = scaled
    for k, model in models.items():
        frame = model.transform(frame).withColumnRenamed(_LABEL, f"_k{k}")
    z = [f"_z{j}" for j in range(m)]
    table = _to_pandas(frame.select("customer_id", *z, *[f"_k{k}" for k in models]))
    table["customer_id"] = table["customer_id"].astype("str")
    table = table.set_index("customer_id").sort_index(kind="stable")
    labels = {k: table[f"_k{k}"].to_numpy(dtype="int32") for k in models}
    return labels, table[z].to_numpy(dtype="float64")


def _sklearn_pipeline(
    prep: Pipeline,
    k: int,
    model: KMeansModel,
    labels: np.ndarray,
    inertia: float,
    random_state: int,
    n_init: int,
) -> Pipeline:
    """``make_pipeline``'s pipeline carrying the Spark fit: shared transform and scaler, Spark's centres."""
    features = list(prep.feature_names_in_)
    kmeans = make_pipeline(features, k, random_state=random_state, n_init=n_init).named_steps["kmeans"]
    centres = np.asarray(model.clusterCenters(), dtype="float64")
    # Fitting on the centres themselves sets every attribute ``predict`` relies on in this sklearn
    # version (thread count, feature count, …); the Spark fit's results then replace the fitted ones.
    kmeans.fit(centres)
    kmeans.cluster_centers_ = centres
    kmeans.labels_ = labels
    kmeans.inertia_ = float(inertia)
    kmeans.n_iter_ = int(model.summary.numIter)
    return Pipeline(
        [
            ("transform", prep.named_steps["transform"]),
            ("scale", prep.named_steps["scale"]),
            ("kmeans", kmeans),
        ]
    )


# --------------------------------------------------------------------------------------------------
# Entry points for the CLI
# --------------------------------------------------------------------------------------------------


class SparkTraining(NamedTuple):
    """What :func:`train_with_spark` returns: the sweep and what ``tracking.SweepContext`` needs."""

    sweep: Sweep
    #: One row per customer, sorted by ``customer_id`` (the labels' order), like ``build_features``.
    features: pd.DataFrame
    #: The as-of date, ``YYYY-MM-DD``.
    as_of: str
    #: Valid shipment rows.
    n_rows: int
    #: Digest of the valid rows (Spark's own, order-free; not the pandas engine's).
    digest: str
    report: ValidationReport


@contextlib.contextmanager
def _session(master: str) -> Iterator[SparkSession]:
    """The active session if there is one (left running), else a new one stopped on exit."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    spark = spark_session(master)
    try:
        yield spark
    finally:
        spark.stop()


def train_with_spark(
    parquet_path: str | Path,
    ks: Sequence[int],
    *,
    columns: dict[str, str] | None = None,
    as_of: pd.Timestamp | str | None = None,
    features: Sequence[str] | None = None,
    home_country: str = DEFAULT_HOME_COUNTRY,
    random_state: int = 0,
    n_init: int = SPARK_N_INIT,
    max_bad_share: float = DEFAULT_MAX_BAD_SHARE,
    silhouette_sample_size: int = SILHOUETTE_SAMPLE_SIZE,
    stability_resamples: int = STABILITY_RESAMPLES,
    on_step: ProgressCallback | None = None,
    master: str = "local[2]",
) -> SparkTraining:
    """Validate, build features and sweep k in Spark: ``segments train --engine spark`` up to logging.

    Parameters
    ----------
    parquet_path : str or Path
        Parquet shipments (file or folder), on storage the driver and executors share.
    ks : sequence of int
        Values of k.
    columns, as_of, features, home_country, max_bad_share
        As for ``segments train`` (see :func:`read_shipments_spark` and :func:`spark_features`).
    random_state, n_init, silhouette_sample_size, stability_resamples, on_step
        As for :func:`fit_sweep_spark`.
    master : str
        Spark master; an already active SparkSession is used instead (and left running).

    Returns
    -------
    SparkTraining
        ``(sweep, features, as_of, n_rows, digest, report)``: give them to ``tracking.SweepContext``
        and ``tracking.log_sweep`` as for the pandas engine.
    """
    with _session(master) as spark:
        shipments = read_shipments_spark(spark, parquet_path, columns=columns, max_bad_share=max_bad_share)
        frame, as_of_ts = features_from_shipments(shipments, as_of=as_of, features=features, home_country=home_country)
        # The features are an aggregation over every shipment: compute them once for all passes below.
        frame = frame.persist()
        try:
            table = collect_features(frame)
            # The rule comes from the collected features (one row per customer, as the pandas engine
            # computes it); Spark then fits on the customers it keeps.
            rule = fit_set_aside(table)
            condition = set_aside_condition(rule)
            kept = frame if condition is None else frame.filter(~condition)
            sweep = fit_sweep_spark(
                kept,
                ks,
                random_state=random_state,
                n_init=n_init,
                silhouette_sample_size=silhouette_sample_size,
                stability_resamples=stability_resamples,
                on_step=on_step,
            )
        finally:
            frame.unpersist()
    return SparkTraining(
        _with_set_aside(sweep, rule, table),
        table,
        str(as_of_ts.date()),
        shipments.n_rows,
        shipments.digest,
        shipments.report,
    )


def set_aside_condition(rule: SetAsideRule) -> Column | None:
    """A Spark condition that holds for the customers ``rule`` sets aside (None: nobody)."""
    from pyspark.sql import functions as sf

    terms = []
    if rule.refund_max is not None:
        terms.append(sf.col("monetary") <= float(rule.refund_max))
    terms += [sf.col(name) > float(fence) for name, fence in rule.fences.items()]
    return _any(terms) if terms else None


def _set_aside_label(rule: SetAsideRule, k: int, nearest: Column) -> Column:
    """``nearest`` for kept customers, ``k + group`` for the set-aside (refunders first, as in pandas)."""
    from pyspark.sql import functions as sf

    label = nearest
    # Built from the last group to the first, so the first matching group wins.
    for code in range(len(rule.groups), 0, -1):
        group = rule.groups[code - 1]
        if group == NET_REFUNDERS:
            hit = sf.col("monetary") <= float(rule.refund_max)
        else:
            hit = _any([sf.col(name) > float(fence) for name, fence in rule.fences.items()])
        label = sf.when(hit, sf.lit(k + code - 1).cast("long")).otherwise(label)
    return label


def _with_set_aside(sweep: Sweep, rule: SetAsideRule, table: pd.DataFrame) -> Sweep:
    """The Spark sweep (fitted on the kept customers) with labels for every customer of ``table``."""
    codes = rule.group_codes(table)
    kept = np.flatnonzero(codes == 0)
    trials = [replace(trial, labels=rule.labels(trial.labels, codes, trial.k)) for trial in sweep.trials]
    return replace(
        sweep,
        trials=trials,
        n_customers=len(table),
        silhouette_labels_index=kept[sweep.silhouette_labels_index],
        set_aside=rule,
        set_aside_codes=codes,
    )


def score_with_spark(
    parquet_path: str | Path,
    out_path: str | Path,
    model: SegmentModel,
    *,
    master: str = "local[2]",
    as_of: pd.Timestamp | str | None = None,
    columns: dict[str, str] | None = None,
    lang: str = "en",
) -> pd.Series:
    """Score customers in Spark with a registered model: ``segments score --engine spark``.

    The model's transform, scaler constants and centres become SQL expressions; each customer gets
    the nearest centre (the lowest segment number on a tie, like ``KMeans.predict``).

    Parameters
    ----------
    parquet_path : str or Path
        Parquet shipments (file or folder).
    out_path : str or Path
        Output dataset: a folder of Parquet part files (``.parquet``) or of CSV part files with a
        header (``.csv``), replaced if it exists. Rows are sorted by ``customer_id`` across the parts.
    model : SegmentModel
        From ``tracking.load_segment_model``.
    master : str
        Spark master; an already active SparkSession is used instead (and left running).
    as_of, columns
        As for :func:`spark_features`; the home country is the model's.
    lang : str
        Language of ``segment_name``.

    Returns
    -------
    pandas.Series
        Customers per segment name, largest first (what the CLI prints).

    Raises
    ------
    DataError
        Bad input, or the data cannot provide a feature the model needs.
    SegmentsError
        The model's pipeline has steps with no Spark SQL equivalent.
    """

    out = Path(out_path)
    if out.suffix.lower() not in {".csv", ".parquet"}:
        raise DataError(f"{out}: unsupported output type '{out.suffix}'; use .csv or .parquet")
    space = _space_from_pipeline(model.pipeline)
    centres = model.pipeline.named_steps["kmeans"].cluster_centers_
    names = model.names(lang)
    with _session(master) as spark:
        features = spark_features(
            spark, parquet_path, as_of=as_of, features=model.features, home_country=model.home_country, columns=columns
        )
        nearest = _nearest_centre(len(space.columns), centres)
        segments = _with_z(features, space, keep=model.features).select(
            "customer_id", _set_aside_label(model.set_aside, model.k, nearest).alias("segment"), *model.features
        )
        scored = segments.select("customer_id", "segment", _segment_name(names).alias("segment_name"), *model.features)
        # Sorted like the pandas output; the part files hold consecutive ranges of customer_id.
        writer = scored.orderBy("customer_id").write.mode("overwrite")
        if out.suffix.lower() == ".csv":
            writer.option("header", "true").csv(str(out))
            written = spark.read.option("header", "true").csv(str(out))
        else:
            writer.parquet(str(out))
            written = spark.read.parquet(str(out))
        # Counted from the written files: counting ``scored`` would compute the features again.
        summary = _to_pandas(written.groupBy("segment_name").count())
    ordered = summary.sort_values(["count", "segment_name"], ascending=[False, True], kind="stable")
    return pd.Series(ordered["count"].to_numpy(), index=ordered["segment_name"].to_numpy(), name="count")


def _segment_name(names: dict[int, str]) -> Column:
    """The name of the row's ``segment`` (null when the model has no name for it, as pandas' ``map``)."""
    from pyspark.sql import functions as sf

    if not names:
        return sf.lit(None).cast("string")
    pairs = [value for segment, name in sorted(names.items()) for value in (sf.lit(segment).cast("long"), sf.lit(name))]
    return sf.create_map(*pairs)[sf.col("segment")]


def _nearest_centre(m: int, centres: np.ndarray) -> Column:
    """The index of the nearest centre to ``_z0…`` (first one on a tie), as a long."""
    from pyspark.sql import functions as sf

    distances = []
    for centre in centres:
        terms = [sf.pow(sf.col(f"_z{j}") - float(centre[j]), 2) for j in range(m)]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        distances.append(total)
    array = sf.array(*distances)
    return (sf.array_position(array, sf.array_min(array)) - 1).cast("long")
