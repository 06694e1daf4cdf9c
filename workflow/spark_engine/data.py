"""Reading and validating Parquet shipments in Spark, with the rules and messages of ``workflow.data``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from workflow.countries import country_codes
from workflow.data import (
    AMBIGUOUS_DATE,
    BOOLEAN_COLUMNS,
    DAY_MONTH_PATTERN,
    DEFAULT_MAX_BAD_SHARE,
    FALSE_TEXT,
    ISO_DATE_PATTERN,
    KNOWN_COLUMNS,
    MISSING_VALUE,
    NEGATIVE_WEIGHT,
    NOT_A_BOOLEAN,
    NOT_A_NUMBER,
    NOT_FINITE,
    ORDER_ID,
    ROWS_SHOWN,
    TRUE_TEXT,
    UNPARSEABLE_DATE,
    UTC_OFFSET_PATTERN,
    Problem,
    ReadOptions,
    ValidationReport,
    check_counts,
    check_header,
    future_date_rule,
)
from workflow.errors import DataError, first_line

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


_NS_PER_DAY = 86_400 * 10**9
#: Columns of the typed frame besides the contract's: the date in nanoseconds, the row number and file
#: (for the report's row numbers), and the guest flag.
_DATE_NS = "_date_ns"
_ROW = "_row"
_FILE = "_file"
_GUEST = "_guest"


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
    """Read a Parquet shipments file (or folder of files) and validate it with the data contract's rules.

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
    """Grouping invoice lines into orders and products of columns are the pandas engine's."""
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
            rules.append((column, NOT_A_NUMBER, not_number))
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
                (column, NOT_A_BOOLEAN, not_boolean),
                (column, MISSING_VALUE, sf.col(column).isNull()),
            ]

    # The schema's rules, on typed values; a parse failure is null here, so it is not counted twice.
    tomorrow_ns = (today.normalize() + pd.Timedelta(days=1)).value
    rules += [
        ("date", MISSING_VALUE, sf.col("date").isNull()),
        ("date", future_date_rule(today), date_ns >= sf.lit(tomorrow_ns)),
    ]
    for column, number in numbers.items():
        rules += [
            (column, MISSING_VALUE, missing[column]),
            (column, NOT_FINITE, number.isin(float("inf"), float("-inf"))),
        ]
        if column == "weight_kg":
            rules.append((column, NEGATIVE_WEIGHT, number < 0))

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
    check_counts(path, report)  # the pandas engine's refusals, word for word
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
