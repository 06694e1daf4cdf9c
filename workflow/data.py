"""Reading and validating shipment files (docs/architecture.md#data-contract).

``read_shipments`` is the one entry point: it opens the file (``workflow.reading``: CSV plain or
gzip in any of the usual dialects, Parquet, Excel), maps the columns, parses types strictly (dates by
``workflow.dates``, countries by ``workflow.countries``), validates rows with a pandera schema, drops
faulty rows and returns them counted in a ``ValidationReport``. Rows without a customer id are guest
sales: left out and counted on their own, not as faults. Invoice lines become orders when an order
id is mapped. Structural faults and too many faulty rows raise ``DataError`` with one line that
names the file, the column and the first rows at fault.

What was needed to read the file (the column mapping, the detected dialect and date format) comes
back as ``ReadOptions``: recorded with the model, it lets ``score`` and the dashboard read a file of
the same shape with no options.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from workflow import reading
from workflow.countries import map_countries
from workflow.dates import (
    AMBIGUOUS_DATE,
    DAY_MONTH_PATTERN,
    ISO_DATE_PATTERN,
    UNPARSEABLE_DATE,
    UTC_OFFSET_PATTERN,
    parse_dates,
)
from workflow.errors import DataError

__all__ = [
    "AMBIGUOUS_DATE",
    "DAY_MONTH_PATTERN",
    "ISO_DATE_PATTERN",
    "MISSING_VALUE",
    "NEGATIVE_WEIGHT",
    "NOT_A_BOOLEAN",
    "NOT_A_NUMBER",
    "NOT_FINITE",
    "UNPARSEABLE_DATE",
    "UTC_OFFSET_PATTERN",
    "Problem",
    "ReadOptions",
    "ValidationReport",
    "check_counts",
    "check_header",
    "data_digest",
    "future_date_rule",
    "group_orders",
    "parse_column_mapping",
    "read_shipments",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("customer_id", "date", "amount")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "weight_kg",
    "service",
    "destination_country",
    "delivered_late",
    "returned",
    "customer_type",
)
KNOWN_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
#: Read but not part of the contract: lines of one order are grouped into one shipment before features.
ORDER_ID = "order_id"
MAPPABLE_COLUMNS: tuple[str, ...] = (*KNOWN_COLUMNS, ORDER_ID)
BOOLEAN_COLUMNS: tuple[str, ...] = ("delivered_late", "returned")
#: Columns that may be mapped to the product of two file columns (``amount=Quantity*Price``).
NUMBER_COLUMNS: tuple[str, ...] = ("amount", "weight_kg")
#: Columns read as text whatever they look like (ids like 007 keep their zeros).
ID_COLUMNS: tuple[str, ...] = ("customer_id", ORDER_ID)
#: Above this share of faulty rows the command stops instead of dropping them.
DEFAULT_MAX_BAD_SHARE = 0.05
#: How many offending row numbers a report shows per rule.
ROWS_SHOWN = 5
#: Text columns with few distinct values, kept categorical from reading on.
CATEGORICAL_COLUMNS = ("service", "destination_country", "customer_type")
#: How many values a note names (unknown countries).
VALUES_SHOWN = 6

#: Text rules shared with the Spark engine (its patterns are Java regular expressions: the same syntax here).
#: Boolean spellings, compared after stripping and lower-casing.
TRUE_TEXT = ("true", "t", "yes", "y", "1", "1.0")
FALSE_TEXT = ("false", "f", "no", "n", "0", "0.0")
DECIMAL_MARKS = (".", ",")
_PRODUCT = "*"

#: Names of the row rules as reports show them; the Spark engine reports the same rules with the same
#: names (a test compares the two engines' reports on one faulty file).
MISSING_VALUE = "missing value"
NOT_A_NUMBER = "not a number"
NOT_FINITE = "not a finite number"
NEGATIVE_WEIGHT = "negative weight"
NOT_A_BOOLEAN = "not a boolean (true/false, 1/0, yes/no)"


def future_date_rule(today: pd.Timestamp) -> str:
    """The rule that refuses dates after ``today`` (a date in the future is a typo or a wrong format)."""
    return f"date after today ({today.date()})"


@dataclass
class Problem:
    """One broken rule: which column, what rule, how many rows, and the first of them (1-based)."""

    column: str
    rule: str
    count: int
    rows: list[int]

    def describe(self) -> str:
        """``amount: not a finite number in 3 rows (rows 4, 9, 12)``."""
        shown = ", ".join(map(str, self.rows))
        more = ", …" if self.count > len(self.rows) else ""
        plural = "row" if self.count == 1 else "rows"
        return f"{self.column}: {self.rule} in {self.count} {plural} ({plural} {shown}{more})"


@dataclass
class ValidationReport:
    """What reading and validation found; printed by the CLI and logged to MLflow as ``validation.json``.

    Row numbers count data rows from 1, header excluded: row 1 is the CSV's second line (blank lines
    are skipped, and a quoted value over two lines makes one row of two lines) or the sheet's second row.
    Guest rows (no customer id) are neither kept nor dropped: they are left out and counted apart.
    """

    file: str
    rows_read: int
    rows_kept: int
    max_bad_share: float
    problems: list[Problem] = field(default_factory=list)
    #: Rows without a customer id (guest or cash sales), and their share of the file's revenue.
    guest_rows: int = 0
    guest_revenue_share: float | None = None
    #: With an order id: the kept lines and the orders they make (one shipment each).
    orders: int | None = None
    #: Country values that name no country → rows; those rows count, with an unknown destination.
    unknown_countries: dict[str, int] = field(default_factory=dict)
    #: How the file was read (``';'-separated, decimal comma, cp1252, dates dd/mm/yyyy HH:MM``).
    read_as: str = ""
    #: ``ReadOptions.to_dict()`` of what was needed to read the file.
    read_options: dict = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        """Rows removed because at least one rule failed on them."""
        return self.rows_read - self.guest_rows - self.rows_kept

    @property
    def guest_row_share(self) -> float:
        """Share of the file's rows that have no customer id."""
        return self.guest_rows / self.rows_read if self.rows_read else 0.0

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {**asdict(self), "rows_dropped": self.rows_dropped, "guest_row_share": self.guest_row_share}

    def summary(self) -> str:
        """One line: counts and every broken rule."""
        text = f"{self.file}: {self.rows_read} rows read, {self.rows_kept} kept, {self.rows_dropped} dropped"
        if self.problems:
            text += " — " + "; ".join(problem.describe() for problem in self.problems)
        return text

    def notes(self) -> list[str]:
        """One line each: how the file was read, guest rows, lines grouped into orders, unknown countries."""
        lines = []
        if self.read_as:
            lines.append(f"read as {self.read_as}")
        if self.guest_rows:
            revenue = (
                f", {_percent(self.guest_revenue_share)} of revenue" if self.guest_revenue_share is not None else ""
            )
            lines.append(
                f"{self.guest_rows:,} rows ({_percent(self.guest_row_share)}) without a customer id"
                f" (guest sales{revenue}): left out"
            )
        if self.orders is not None:
            lines.append(f"{self.rows_kept:,} lines → {self.orders:,} orders (grouped by customer and order id)")
        if self.unknown_countries:
            rows = sum(self.unknown_countries.values())
            shown = ", ".join(f"{value or '(empty)'} {count:,}" for value, count in self.unknown_countries.items())
            if len(self.unknown_countries) > VALUES_SHOWN:
                shown = ", ".join(shown.split(", ")[:VALUES_SHOWN]) + ", …"
            lines.append(
                f"destination_country: {rows:,} rows ({_percent(rows / self.rows_read)}) name no country ({shown}):"
                " destination unknown, not counted as international"
            )
        return lines


def _percent(share: float) -> str:
    return f"{share * 100:.1f} %"


# --- options --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file: the column mapping and the dialect; ``None`` means detect.

    Attributes
    ----------
    columns : tuple of (ours, theirs) pairs
        ``--columns``: ``theirs`` is a file column, or ``A*B`` for a product of two (``amount`` only).
    sep : str, optional
        CSV separator (detected from the header when not given).
    decimal : str, optional
        Decimal mark of numbers written as text: ``.`` or ``,`` (a comma is accepted by default in
        a ``;``-separated file).
    encoding : str, optional
        Text encoding of a CSV file (default UTF-8 with or without a byte-order mark).
    sheet : str, optional
        Sheet of an ``.xlsx`` workbook (default the first).
    date_format : str, optional
        strftime format of text dates (default ISO 8601 or a day/month order detected per column).
    """

    columns: tuple[tuple[str, str], ...] = ()
    sep: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    date_format: str | None = None

    @classmethod
    def from_cli(
        cls,
        columns: str | None = None,
        *,
        sep: str | None = None,
        decimal: str | None = None,
        encoding: str | None = None,
        sheet: str | None = None,
        date_format: str | None = None,
    ) -> ReadOptions:
        """Options from the command line's text; ``DataError`` on a malformed value."""
        pairs = tuple((ours, theirs) for theirs, ours in parse_column_mapping(columns).items())
        return cls(pairs, sep, decimal, encoding, sheet, date_format or None).checked()

    def checked(self) -> ReadOptions:
        """``self`` when every value is usable; else ``DataError`` naming the option."""
        if self.decimal is not None and self.decimal not in DECIMAL_MARKS:
            raise DataError(f"--decimal {self.decimal}: expected . or ,")
        if self.sep is not None and len(self.sep) != 1:
            raise DataError(f"--sep {self.sep!r}: expected one character")
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise DataError(f"--encoding {self.encoding}: unknown text encoding") from None
        if self.date_format is not None and "%" not in self.date_format:
            raise DataError(f"--date-format {self.date_format}: expected a strftime format like %d/%m/%Y %H:%M")
        return self

    @property
    def mapping(self) -> dict[str, str]:
        """File column (or ``A*B``) → contract name: the direction ``DataFrame.rename`` wants."""
        return {theirs: ours for ours, theirs in self.columns}

    def over(self, recorded: ReadOptions) -> ReadOptions:
        """These options, each unset one taken from ``recorded``."""
        values = {item.name: getattr(self, item.name) or getattr(recorded, item.name) for item in fields(self)}
        return ReadOptions(**values)

    def to_dict(self) -> dict:
        """The options set, JSON-ready; ``columns`` as ``{ours: theirs}``."""
        data: dict = {"columns": dict(self.columns)} if self.columns else {}
        data.update({item.name: getattr(self, item.name) for item in fields(self)[1:] if getattr(self, item.name)})
        return data

    def to_json(self) -> str:
        """``to_dict`` as compact JSON (a version tag, a run param)."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict | None) -> ReadOptions:
        """Options from ``to_dict``'s form (unknown keys ignored: a newer writer may add some)."""
        data = data or {}
        names = {item.name for item in fields(cls)} - {"columns"}
        pairs = tuple((str(ours), str(theirs)) for ours, theirs in (data.get("columns") or {}).items())
        return cls(pairs, **{key: value for key, value in data.items() if key in names and value})

    @classmethod
    def from_json(cls, text: str | None) -> ReadOptions:
        """Options from ``to_json``'s text (empty text: no options)."""
        return cls.from_dict(json.loads(text) if text else {})

    def describe(self) -> str:
        """``--columns '…' --sep ';'``: the options as a command line would give them."""
        parts = []
        if self.columns:
            parts.append("--columns '" + ",".join(f"{ours}={theirs}" for ours, theirs in self.columns) + "'")
        for item in fields(self)[1:]:
            if value := getattr(self, item.name):
                parts.append(f"--{item.name.replace('_', '-')} {value!r}")
        return " ".join(parts)


def parse_column_mapping(text: str | None) -> dict[str, str]:
    """Parse ``--columns customer_id=Customer,date=OrderDate`` into ``{"Customer": "customer_id", …}``.

    Returns the mapping from the file's names to ours (the direction ``DataFrame.rename`` wants).
    ``order_id=Invoice`` groups invoice lines into orders; ``amount=Quantity*Price`` multiplies two
    columns. Names may hold spaces, accents and ``°`` (``customer_id=N° client``).
    """
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for item in text.split(","):
        ours, sep, theirs = (part.strip() for part in item.partition("="))
        if not sep or not ours or not theirs:
            raise DataError(f"--columns: '{item}' is not of the form our_name=file_column")
        if ours not in MAPPABLE_COLUMNS:
            raise DataError(f"--columns: '{ours}' is not a known column; known: {', '.join(MAPPABLE_COLUMNS)}")
        if _PRODUCT in theirs:
            factors = [factor.strip() for factor in theirs.split(_PRODUCT)]
            if ours not in NUMBER_COLUMNS or len(factors) != 2 or not all(factors):
                raise DataError(
                    f"--columns: '{item.strip()}': only amount or weight_kg may be the product of two columns,"
                    " e.g. amount=Quantity*Price"
                )
            theirs = _PRODUCT.join(factors)
        if theirs in mapping:
            raise DataError(f"--columns: file column '{theirs}' is mapped twice")
        if ours in mapping.values():
            raise DataError(f"--columns: '{ours}' is mapped twice")
        mapping[theirs] = ours
    return mapping


def _products(header: list[str], mapping: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Contract name → the two file columns it multiplies (a mapped name that is a column is never a product)."""
    return {
        ours: tuple(theirs.split(_PRODUCT))
        for theirs, ours in mapping.items()
        if theirs not in header and _PRODUCT in theirs
    }


#: A header's names listed in an error message stop after this many characters.
NAMES_SHOWN_CHARS = 160


def shown_names(header: list[str]) -> str:
    """The header's names for a one-line message: all of them, or the first ones and how many there are."""
    text = ", ".join(header)
    if len(text) <= NAMES_SHOWN_CHARS:
        return text
    return f"{text[: NAMES_SHOWN_CHARS - 1]}… ({len(header)} columns)"


def check_header(path: str | Path, header: list[str], mapping: dict[str, str]) -> list[str]:
    """The header's names after ``--columns``; ``DataError`` for duplicate, unknown, clashing or missing names.

    Shared by the pandas reader and the Spark engine, so both refuse the same files with the same words.
    A product (``amount=Quantity*Price``) adds its contract name at the end.
    """
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise DataError(f"{path}: duplicate column name(s) {', '.join(duplicated)}")
    products = _products(header, mapping)
    present = set(header)
    absent = [
        theirs
        for theirs, ours in mapping.items()
        if theirs not in present and not (ours in products and set(products[ours]) <= present)
    ]
    if absent:
        pairs = ", ".join(f"{mapping[name]}={name}" for name in absent)
        raise DataError(f"{path}: --columns {pairs}: no such column; the file has {shown_names(header)}")
    renamed = [mapping.get(name, name) for name in header] + list(products)
    clashes = sorted({name for name in renamed if renamed.count(name) > 1})
    if clashes:
        raise DataError(
            f"{path}: --columns maps a column onto {', '.join(clashes)}, which the file already has;"
            " map only columns whose names differ from the contract's"
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in renamed]
    if missing:
        raise DataError(
            f"{path}: missing required column(s) {', '.join(missing)}; the file has {shown_names(header)}"
            " (map other names with --columns, e.g. --columns customer_id=Customer)"
        )
    return renamed


# --- reading ---------------------------------------------------------------------------------------


def read_shipments(
    path: str | Path,
    *,
    options: ReadOptions | None = None,
    recorded: ReadOptions | None = None,
    columns: dict[str, str] | None = None,
    encoding: str | None = None,
    max_bad_share: float = DEFAULT_MAX_BAD_SHARE,
    max_file_mb: float | None = None,
    today: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Read, type and validate a shipments file.

    Parameters
    ----------
    path : path
        ``.csv`` (``,`` ``;`` tab or ``|`` separated, with a header line), ``.csv.gz``, ``.parquet``
        or ``.xlsx`` file.
    options : ReadOptions, optional
        Options given for this file (``--columns``, ``--sheet``, ``--decimal``, ``--encoding``,
        ``--date-format``): they are applied as given.
    recorded : ReadOptions, optional
        Options recorded with a model (what its training file needed). They fill in what the file
        cannot tell by itself: the mapping when the file has its columns, a non-UTF-8 encoding when
        the file is not UTF-8, the sheet when the workbook has it, the decimal mark, and the date
        format of a column whose day/month order cannot be read from its values.
    columns : dict, optional
        File column name → contract name (see ``parse_column_mapping``); merged into ``options``.
    encoding : str, optional
        Text encoding of a CSV file; merged into ``options``.
    max_bad_share : float
        Above this share of faulty rows (guest rows aside), raise instead of dropping them.
    max_file_mb : float, optional
        Refuse files larger than this many megabytes (10⁶ bytes) before reading them.
    today : timestamp, optional
        Dates after this day are faults (default: today).

    Returns
    -------
    (DataFrame, ValidationReport)
        Valid rows only (one per order when an order id is mapped), with the contract's column
        names and types, index reset.

    Raises
    ------
    DataError
        Unreadable file, missing required column, undecidable date order, too many faulty rows,
        nothing left. The message is one line that starts with the file's path.
    """
    path = Path(path)
    given = options or ReadOptions()
    if columns:
        given = replace(given, columns=given.columns + tuple((ours, theirs) for theirs, ours in columns.items()))
    if encoding:
        given = replace(given, encoding=encoding)
    raw, used = _read_raw(path, given.checked(), recorded or ReadOptions(), max_file_mb)
    try:
        typed, parse_faults, parsed = _parse_types(raw, used, recorded or ReadOptions())
    except DataError as error:
        raise DataError(f"{path}: {error}") from None
    guests = _guests(typed["customer_id"])
    faults = _validate(typed, parse_faults, today or pd.Timestamp.today().normalize())
    bad_rows = np.zeros(len(typed), dtype=bool)
    problems = []
    guest_index = np.flatnonzero(guests)
    for (column, rule), found in faults.items():
        # A guest row is left out whatever else is wrong with it: its faults are not the customers'.
        index = np.setdiff1d(found, guest_index, assume_unique=True) if len(guest_index) else found
        if not len(index):
            continue
        bad_rows[index] = True
        rows = sorted(int(i) + 1 for i in index)
        problems.append(Problem(column=column, rule=rule, count=len(rows), rows=rows[:ROWS_SHOWN]))
    kept = ~bad_rows & ~guests
    report = ValidationReport(
        file=str(path),
        rows_read=len(typed),
        rows_kept=int(kept.sum()),
        max_bad_share=max_bad_share,
        problems=problems,
        guest_rows=int(guests.sum()),
        guest_revenue_share=_revenue_share(typed["amount"], guests) if guests.any() else None,
        unknown_countries=parsed["unknown_countries"],
        read_as=_read_as(used, parsed),
        read_options=_needed(used, parsed).to_dict(),
    )
    check_counts(path, report)
    # Only a file with faults or guests pays for a copy of its rows (0.2 s at 10M rows).
    valid = typed.loc[kept].reset_index(drop=True) if not kept.all() else typed.reset_index(drop=True)
    if ORDER_ID in valid:
        valid = group_orders(valid)
        report.orders = len(valid)
    return valid, report


@dataclass(frozen=True)
class _Used:
    """How the file was actually opened: the options in force, the date column's name, the CSV dialect or sheet read."""

    options: ReadOptions
    date_column: str
    dialect: reading.CsvDialect | None = None
    sheet: str | None = None


def _read_raw(
    path: Path, options: ReadOptions, recorded: ReadOptions, max_file_mb: float | None
) -> tuple[pd.DataFrame, _Used]:
    """Open the file and apply the column mapping; structural checks only (nothing is typed yet).

    Returns the mapped columns (a product's two factors as ``amount*0`` and ``amount*1``) and how
    the file was opened.
    """
    kind = reading.file_kind(path, max_file_mb)
    dialect = sheet = None
    frame = None
    if kind in {"csv", "csv.gz"}:
        header, dialect = reading.csv_header(
            path, kind, sep=options.sep, encoding=options.encoding, fallback_encoding=recorded.encoding
        )
    elif kind == "xlsx":
        header, frame, sheet = reading.read_xlsx(
            path,
            sheet=options.sheet,
            preferred_sheet=recorded.sheet,
            text_columns=[
                *(theirs for theirs, ours in (options.mapping or recorded.mapping).items() if ours in ID_COLUMNS),
                *ID_COLUMNS,
            ],
        )
    else:
        header = reading.parquet_header(path)
    options = _with_mapping(path, header, options, recorded)
    if sheet is not None and sheet == recorded.sheet:
        options = replace(options, sheet=sheet)  # the recorded sheet was read: a file of this shape needs it
    mapping = options.mapping
    renamed = check_header(path, header, mapping)
    products = _products(header, mapping)
    wanted = [theirs for theirs, ours in zip(header, renamed, strict=False) if ours in MAPPABLE_COLUMNS]
    factors = [factor for pair in products.values() for factor in pair]
    needed = list(dict.fromkeys(wanted + factors))
    if kind in {"csv", "csv.gz"}:
        ids = [name for name in header if mapping.get(name, name) in ID_COLUMNS]
        categorical = [name for name in header if mapping.get(name, name) in CATEGORICAL_COLUMNS]
        frame, dialect = reading.read_csv(
            path,
            kind,
            header,
            dialect,
            text_columns=ids,
            categorical_columns=categorical,
            fallback_encoding=recorded.encoding if options.encoding is None else None,
        )
    elif kind == "parquet":
        frame = reading.read_parquet(path, needed)
    date_column = next(theirs for theirs in header if mapping.get(theirs, theirs) == "date")
    used = _Used(options, date_column, dialect, sheet)
    if not products:
        return frame[wanted].rename(columns=mapping), used
    parts = {mapping.get(theirs, theirs): frame[theirs] for theirs in wanted}
    for ours, pair in products.items():
        parts.update({f"{ours}{_PRODUCT}{i}": frame[factor] for i, factor in enumerate(pair)})
    return pd.DataFrame(parts, index=frame.index), used


def _with_mapping(path: Path, header: list[str], options: ReadOptions, recorded: ReadOptions) -> ReadOptions:
    """``options`` with the recorded mapping when none was given and the file has every column it names.

    A file with the contract's own names (or another shape) is read without it; when required
    columns are then missing, the message names the recorded mapping.
    """
    if options.columns or not recorded.columns:
        return options
    present = set(header)
    sources = {part for _, theirs in recorded.columns for part in (theirs, *theirs.split(_PRODUCT))}
    if all(theirs in present or set(theirs.split(_PRODUCT)) <= present for _, theirs in recorded.columns):
        return replace(options, columns=recorded.columns)
    missing = [name for name in REQUIRED_COLUMNS if name not in present]
    if missing:
        absent = sorted(sources - present - {theirs for _, theirs in recorded.columns if _PRODUCT in theirs})
        raise DataError(
            f"{path}: missing required column(s) {', '.join(missing)}; the file has {shown_names(header)}; the model"
            f" was trained with {ReadOptions(columns=recorded.columns).describe()}, but the file has no"
            f" {', '.join(absent)} (give --columns)"
        )
    return options


def _guests(ids: pd.Series) -> np.ndarray:
    """Rows with no customer id (empty, or only spaces: the id is stripped already)."""
    return (ids.isna() | (ids == "")).to_numpy(dtype=bool, na_value=True)


def _revenue_share(amount: pd.Series, guests: np.ndarray) -> float | None:
    """The guests' share of the file's revenue (finite amounts; refunds count negative)."""
    values = amount.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(values)
    total = values[finite].sum()
    return float(values[finite & guests].sum() / total) if total else None


def check_counts(path: str | Path, report: ValidationReport) -> None:
    """Refuse a file with no data rows, no customer ids, too many faulty rows or none left (both engines).

    Raises
    ------
    DataError
        One line naming the file and, for faulty rows, each broken rule.
    """
    if report.rows_read == 0:
        raise DataError(f"{path}: no data rows (the file has column names and nothing else)")
    customers_rows = report.rows_read - report.guest_rows
    if customers_rows == 0:
        raise DataError(f"{path}: no row has a customer id ({report.guest_rows} guest rows left out)")
    if report.rows_dropped / customers_rows > report.max_bad_share:
        share = report.rows_dropped / customers_rows
        details = "; ".join(problem.describe() for problem in report.problems)
        limit = report.max_bad_share
        raise DataError(f"{path}: {share:.1%} of rows are invalid (limit {limit:.0%}): {details}")
    if report.rows_kept == 0:
        raise DataError(f"{path}: no valid shipment rows ({report.summary()})")


def _read_as(used: _Used, parsed: dict) -> str:
    """``';'-separated, decimal comma, cp1252, dates dd/mm/yyyy HH:MM``; empty for a plain file."""
    parts = []
    if used.dialect is not None and used.dialect.sep != ",":
        parts.append("tab-separated" if used.dialect.sep == "\t" else f"'{used.dialect.sep}'-separated")
    if used.sheet is not None:
        parts.append(f"sheet '{used.sheet}'")
    if parsed["decimal_comma"]:
        parts.append("decimal comma")
    if used.dialect is not None and used.dialect.encoding:
        parts.append(used.dialect.encoding)
    if parsed["date_format"]:
        parts.append(f"dates {parsed['described']}")
    return ", ".join(parts)


def _needed(used: _Used, parsed: dict) -> ReadOptions:
    """What a file of the same shape needs: the mapping, and the dialect and date format read."""
    dialect = used.dialect
    return ReadOptions(
        columns=used.options.columns,
        sep=dialect.sep if dialect is not None and dialect.sep != "," else None,
        decimal="," if parsed["decimal_comma"] else None,
        encoding=dialect.encoding if dialect is not None else None,
        sheet=used.options.sheet,
        date_format=parsed["date_format"] or None,
    )


# --- typing ------------------------------------------------------------------------------------------


def _parse_types(
    raw: pd.DataFrame, used: _Used | None = None, recorded: ReadOptions | None = None
) -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray], dict]:
    """Convert each column to its contract type; values that do not convert become faults.

    Returns the typed frame, the faults, and what parsing learned (date format, decimal comma,
    unknown countries).
    """
    options = used.options if used is not None else ReadOptions()
    recorded = recorded or ReadOptions()
    frame = pd.DataFrame(index=raw.index)
    faults: dict[tuple[str, str], np.ndarray] = {}

    def fault(column: str, rule: str, mask: np.ndarray) -> None:
        if mask.any():
            faults[(column, rule)] = np.flatnonzero(mask)

    frame["customer_id"] = _clean_text(raw["customer_id"])
    dates = parse_dates(
        raw["date"],
        column=used.date_column if used is not None else "date",
        date_format=options.date_format,
        hint=recorded.date_format,
    )
    frame["date"] = dates.dates
    for rule, mask in dates.faults.items():
        fault("date", rule, mask)
    decimal = options.decimal or recorded.decimal
    # A decimal comma is the norm where ';' separates fields (French and German spreadsheets).
    comma = decimal == "," or (decimal is None and used is not None and used.dialect is not None
                               and used.dialect.sep == ";")  # fmt: skip
    comma_read = False
    for column in NUMBER_COLUMNS:
        factors = [name for name in (f"{column}{_PRODUCT}0", f"{column}{_PRODUCT}1") if name in raw]
        sources = [raw[name] for name in factors] or ([raw[column]] if column in raw else [])
        if not sources:
            continue
        numbers = None
        not_number = np.zeros(len(raw), dtype=bool)
        for source in sources:
            values, bad, with_comma = _parse_numbers(source, decimal_comma=comma)
            numbers = values if numbers is None else numbers * values
            not_number |= bad
            comma_read |= with_comma
        fault(column, NOT_A_NUMBER, not_number)
        frame[column] = numbers
    unknown: dict[str, int] = {}
    for column in CATEGORICAL_COLUMNS:  # in the contract's order: the digest hashes the columns in order
        if column == "destination_country" and column in raw:
            frame[column], unknown = map_countries(raw[column])
        elif column in raw:
            frame[column] = _clean_text(raw[column])
    for column in BOOLEAN_COLUMNS:
        if column in raw:
            frame[column], not_boolean, missing = _parse_booleans(raw[column])
            fault(column, NOT_A_BOOLEAN, not_boolean)
            fault(column, MISSING_VALUE, missing)
    if ORDER_ID in raw:
        frame[ORDER_ID] = _clean_text(raw[ORDER_ID])
    learned = {
        "date_format": dates.date_format,
        "described": dates.described,
        "decimal_comma": comma_read or decimal == ",",
        "unknown_countries": unknown,
    }
    return frame, faults, learned


def _clean_text(values: pd.Series, *, upper: bool = False) -> pd.Series:
    """Text without surrounding spaces (upper-cased if asked), missing values kept missing.

    A categorical column (Parquet's dictionary-encoded strings, as written by pandas or Spark) stays
    categorical: its few distinct values are cleaned instead of millions of cells (1.4 s per column at
    10M rows). Categories that become equal once cleaned (``"FR "`` and ``"FR"``) are merged.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        original = pd.Series(values.cat.categories, dtype="str")
        cleaned_categories = _clean_text(original, upper=upper)
        if cleaned_categories.equals(original):
            return values  # already clean, the usual case: no pass over the rows (0.09 s per column at 10M)
        cleaned = cleaned_categories.to_numpy(dtype=object)
        categories, new_code = np.unique(cleaned, return_inverse=True)
        codes = values.cat.codes.to_numpy()
        merged = np.where(codes >= 0, new_code[np.maximum(codes, 0)], -1)
        return pd.Series(pd.Categorical.from_codes(merged, categories=categories), index=values.index)
    if pd.api.types.is_float_dtype(values):
        # A spreadsheet's number cell (13085.0) names the id 13085.
        whole = values.notna() & (values == values.round()) & (values.abs() < 2**53)
        text = values.astype("str").where(~whole, values.where(whole).astype("Int64").astype("str"))
    else:
        text = values.astype("str")
    text = text.str.strip()
    missing = values.isna().to_numpy()
    if missing.any():  # astype("str") turns a missing value of an object column into "nan"
        text = text.where(~missing)
    return text.str.upper() if upper else text


def _parse_numbers(values: pd.Series, *, decimal_comma: bool = False) -> tuple[pd.Series, np.ndarray, bool]:
    """Float64 values; text that is not a number (``twelve``, ``NaN``) is a fault, not missing.

    Numbers as spreadsheets export them are read (``number_text``): thousands separators, currency
    symbols, accounting negatives. With ``decimal_comma``, ``12,50`` is 12.5. Returns the numbers, the
    faults, and whether a decimal comma was read.
    """
    no_fault = np.zeros(len(values), dtype=bool)
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_float_dtype(values):
        return values.astype("float64"), no_fault, False
    if pd.api.types.is_numeric_dtype(values):
        # A NaN in a float column is a missing value (the schema reports it), not text.
        return pd.to_numeric(values, errors="coerce").astype("float64"), no_fault, False
    # Once per distinct text: prices and quantities repeat.
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text, comma = number_text(pd.Series(uniques, dtype="str"), decimal_comma=decimal_comma)
    numbers = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy()
    present = codes >= 0
    parsed = np.where(present, numbers[np.where(present, codes, 0)], np.nan)
    not_number = present & np.isnan(parsed)
    with_comma = bool((comma & ~np.isnan(numbers)).any())
    return pd.Series(parsed, index=values.index, dtype="float64"), not_number, with_comma


#: Currency symbols a spreadsheet writes around amounts (``$12.00``, ``12,00 €``).
_CURRENCY = r"[$€£¥₹]"
#: Spaces that group thousands: plain, no-break, narrow no-break and thin spaces, and the Swiss apostrophe.
_GROUP_SPACES = r"[ \u00a0\u202f\u2009']"


def number_text(text: pd.Series, *, decimal_comma: bool = False) -> tuple[pd.Series, np.ndarray]:
    """Spreadsheet number text rewritten the way ``pd.to_numeric`` reads it; and where a decimal comma was.

    ``$1,234.50`` → ``1234.50``; ``(12.00)`` (an accounting negative) → ``-12.00``; ``1 234,50 €`` and
    ``1.234,50`` → ``1234.50`` with ``decimal_comma``. A separator is taken for a thousands separator
    only in groups of exactly three digits (``1,234``, ``12 345 678``): ``1,5`` stays a decimal comma
    where the file has one, and anything else is left as it is, to be reported as not a number.
    """
    text = text.str.strip()
    text = text.str.replace(rf"^{_CURRENCY}\s*|\s*{_CURRENCY}$", "", regex=True)
    text = text.str.replace(r"^\((.+)\)$", r"-\1", regex=True)
    grouped = rf"^[-+]?\d{{1,3}}({_GROUP_SPACES}\d{{3}})+([.,]\d+)?$"
    text = text.where(~text.str.match(grouped), text.str.replace(_GROUP_SPACES, "", regex=True))
    if decimal_comma:
        dotted = text.str.match(r"^[-+]?\d{1,3}(\.\d{3})+(,\d+)?$")
        text = text.where(~dotted, text.str.replace(".", "", regex=False))
        comma = (text.str.contains(",", regex=False) & ~text.str.contains(".", regex=False)).to_numpy(dtype=bool)
        return text.where(~comma, text.str.replace(",", ".", regex=False)), comma
    commas = text.str.match(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")
    return text.where(~commas, text.str.replace(",", "", regex=False)), np.zeros(len(text), dtype=bool)


def _parse_booleans(values: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """True/false from ``true/false``, ``1/0``, ``yes/no`` (any case); returns the values and the masks
    of text that is not a boolean and of missing values (both faults: a rate needs every row)."""
    missing = values.isna().to_numpy()
    if pd.api.types.is_bool_dtype(values):
        # A nullable boolean column (Parquet with nulls) cannot be cast to bool while it holds NA.
        return values.fillna(value=False).astype("bool"), np.zeros(len(values), dtype=bool), missing
    text = values.astype("str").str.strip().str.lower()
    truthy = text.isin(TRUE_TEXT).to_numpy()
    falsy = text.isin(FALSE_TEXT).to_numpy()
    return pd.Series(truthy, index=values.index), ~(truthy | falsy | missing), missing


# --- validation --------------------------------------------------------------------------------------


def _schema(today: pd.Timestamp) -> pa.DataFrameSchema:
    """Row rules of the data contract on typed columns; optional columns are checked only when present.

    The rules: docs/architecture.md#validation.

    A missing customer id is no fault (a guest sale, counted apart) and neither is an unknown
    country (the row counts, its destination is unknown).
    """
    finite = pa.Check(np.isfinite, name=NOT_FINITE)
    return pa.DataFrameSchema(
        {
            "date": pa.Column(
                nullable=False,
                checks=pa.Check(lambda s: s < today + pd.Timedelta(days=1), name=future_date_rule(today)),
            ),
            "amount": pa.Column(nullable=False, checks=finite),
            "weight_kg": pa.Column(
                nullable=False,
                required=False,
                checks=[finite, pa.Check(lambda s: s >= 0, name=NEGATIVE_WEIGHT)],
            ),
            ORDER_ID: pa.Column(nullable=False, required=False),
        },
        coerce=False,
    )


def _validate(
    frame: pd.DataFrame, faults: dict[tuple[str, str], np.ndarray], today: pd.Timestamp
) -> dict[tuple[str, str], np.ndarray]:
    """Run the pandera schema lazily and merge its failures with the parsing faults."""
    try:
        # inplace: the schema coerces nothing, so pandera's defensive deep copy of the frame (a second
        # copy of every row, ~1 s at 10M rows) buys nothing.
        _schema(today).validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        cases = cases[cases["index"].notna()]
        parsed: dict[str, np.ndarray] = {}
        for (column, _rule), index in faults.items():
            parsed[column] = np.union1d(parsed.get(column, index[:0]), index)
        for (column, check), group in cases.groupby(["column", "check"], sort=False):
            rule = MISSING_VALUE if check == "not_nullable" else str(check)
            index = np.unique(group["index"].astype("int64").to_numpy())
            # A value that failed to parse is reported once, by the parser, not again as missing or
            # non-finite; a fault in another column of the same row is still reported.
            index = np.setdiff1d(index, parsed.get(str(column), index[:0]))
            if len(index):
                faults[(str(column), rule)] = index
    return faults


# --- orders ------------------------------------------------------------------------------------------


def group_orders(lines: pd.DataFrame) -> pd.DataFrame:
    """One shipment per (customer, order): the lines of an invoice make one order, so ``frequency`` counts orders.

    The date is the order's first (earliest) line's, amounts and weights add up, a flag holds if it
    holds for any line, and text columns (service, country, type) are the first line's. A
    cancellation invoice (``C489449``) is an order of its own, with a negative amount (a refund).

    Parameters
    ----------
    lines : DataFrame
        Validated lines with ``order_id``.

    Returns
    -------
    DataFrame
        The contract's columns without ``order_id``, orders in the order of their first line by date.
    """
    ordered = lines.sort_values("date", kind="stable")
    how = {"date": "first", "amount": "sum"}
    how |= {column: "sum" for column in ("weight_kg",) if column in lines}
    how |= {column: "any" for column in BOOLEAN_COLUMNS if column in lines}
    how |= {column: "first" for column in CATEGORICAL_COLUMNS if column in lines}
    grouped = ordered.groupby(["customer_id", ORDER_ID], sort=False, observed=True).agg(how)
    orders = grouped.reset_index().drop(columns=ORDER_ID)
    return orders[[name for name in KNOWN_COLUMNS if name in orders]]


def data_digest(shipments: pd.DataFrame) -> str:
    """A content hash of the validated rows: the same data gives the same digest, CSV or Parquet."""
    hashed = pd.util.hash_pandas_object(shipments, index=False).to_numpy()
    header = ",".join(shipments.columns).encode()
    return hashlib.sha256(header + hashed.tobytes()).hexdigest()[:16]
