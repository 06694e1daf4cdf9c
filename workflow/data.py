"""Reading and validating shipment files (DESIGN §2).

``read_shipments`` is the one entry point: it reads CSV or Parquet, renames mapped columns, parses
types strictly, validates rows with a pandera schema, drops faulty rows and returns them counted in a
``ValidationReport``. Structural faults and too many faulty rows raise ``DataError`` with one line
that names the file, the column and the first rows at fault.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow.parquet as pq

from workflow.errors import DataError

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
BOOLEAN_COLUMNS: tuple[str, ...] = ("delivered_late", "returned")
#: Above this share of faulty rows the command stops instead of dropping them.
DEFAULT_MAX_BAD_SHARE = 0.05
#: How many offending row numbers a report shows per rule.
ROWS_SHOWN = 5

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}
# Day/month order cannot be told apart in these: 03/04/2026 is March or April.
_AMBIGUOUS_DATE = re.compile(r"^\s*\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}\s*$")
_READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


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
    """What validation found; printed by the CLI and logged to MLflow as ``validation.json``.

    Row numbers count data rows from 1, header excluded (row 1 is the CSV's second line).
    """

    file: str
    rows_read: int
    rows_kept: int
    max_bad_share: float
    problems: list[Problem] = field(default_factory=list)

    @property
    def rows_dropped(self) -> int:
        """Rows removed because at least one rule failed on them."""
        return self.rows_read - self.rows_kept

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {**asdict(self), "rows_dropped": self.rows_dropped}

    def summary(self) -> str:
        """One line: counts and every broken rule."""
        text = f"{self.file}: {self.rows_read} rows read, {self.rows_kept} kept, {self.rows_dropped} dropped"
        if self.problems:
            text += " — " + "; ".join(problem.describe() for problem in self.problems)
        return text


def parse_column_mapping(text: str | None) -> dict[str, str]:
    """Parse ``--columns customer_id=Customer,date=OrderDate`` into ``{"Customer": "customer_id", …}``.

    Returns the mapping from the file's names to ours (the direction ``DataFrame.rename`` wants).
    """
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for item in text.split(","):
        ours, sep, theirs = (part.strip() for part in item.partition("="))
        if not sep or not ours or not theirs:
            raise DataError(f"--columns: '{item}' is not of the form our_name=file_column")
        if ours not in KNOWN_COLUMNS:
            raise DataError(f"--columns: '{ours}' is not a known column; known: {', '.join(KNOWN_COLUMNS)}")
        if theirs in mapping:
            raise DataError(f"--columns: file column '{theirs}' is mapped twice")
        mapping[theirs] = ours
    return mapping


def read_shipments(
    path: str | Path,
    *,
    columns: dict[str, str] | None = None,
    max_bad_share: float = DEFAULT_MAX_BAD_SHARE,
    max_file_mb: float | None = None,
    today: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Read, type and validate a shipments file.

    Parameters
    ----------
    path : path
        CSV or Parquet file.
    columns : dict, optional
        File column name → contract name (see ``parse_column_mapping``).
    max_bad_share : float
        Above this share of faulty rows, raise instead of dropping them.
    max_file_mb : float, optional
        Refuse files larger than this.
    today : timestamp, optional
        Dates after this day are faults (default: today).

    Returns
    -------
    (DataFrame, ValidationReport)
        Valid rows only, with the contract's column names and types, index reset.

    Raises
    ------
    DataError
        Unreadable file, missing required column, too many faulty rows, nothing left.
    """
    path = Path(path)
    raw = _read_raw(path, columns or {}, max_file_mb)
    typed, parse_faults = _parse_types(raw)
    faults = _validate(typed, parse_faults, today or pd.Timestamp.today().normalize())
    bad_rows = np.zeros(len(typed), dtype=bool)
    problems = []
    for (column, rule), index in faults.items():
        bad_rows[index] = True
        rows = sorted(int(i) + 1 for i in index)
        problems.append(Problem(column=column, rule=rule, count=len(rows), rows=rows[:ROWS_SHOWN]))
    report = ValidationReport(
        file=str(path),
        rows_read=len(typed),
        rows_kept=int((~bad_rows).sum()),
        max_bad_share=max_bad_share,
        problems=problems,
    )
    if report.rows_read and report.rows_dropped / report.rows_read > max_bad_share:
        share = report.rows_dropped / report.rows_read
        details = "; ".join(problem.describe() for problem in problems)
        raise DataError(f"{path}: {share:.1%} of rows are invalid (limit {max_bad_share:.0%}): {details}")
    valid = typed.loc[~bad_rows].reset_index(drop=True)
    if valid.empty:
        raise DataError(f"{path}: no valid shipment rows" + (f" ({report.summary()})" if problems else ""))
    return valid, report


def _read_raw(path: Path, mapping: dict[str, str], max_file_mb: float | None) -> pd.DataFrame:
    """Read the file as text-ish columns and apply the column mapping; structural checks only."""
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type '{path.suffix}'; use .csv or .parquet")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    size_mb = path.stat().st_size / 1e6
    if max_file_mb is not None and size_mb > max_file_mb:
        raise DataError(f"{path}: {size_mb:.1f} MB is over the {max_file_mb:g} MB limit")
    header = _read_header(path, kind)
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise DataError(f"{path}: duplicate column name(s) {', '.join(duplicated)}")
    absent = [theirs for theirs in mapping if theirs not in header]
    if absent:
        pairs = ", ".join(f"{mapping[name]}={name}" for name in absent)
        raise DataError(f"{path}: --columns {pairs}: no such column; the file has {', '.join(header)}")
    renamed = [mapping.get(name, name) for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in renamed]
    if missing:
        raise DataError(
            f"{path}: missing required column(s) {', '.join(missing)}; the file has {', '.join(header)}"
            " (map other names with --columns, e.g. --columns customer_id=Customer)"
        )
    wanted = [theirs for theirs, ours in zip(header, renamed, strict=True) if ours in KNOWN_COLUMNS]
    try:
        if kind == "csv":
            id_column = next(t for t, o in zip(header, renamed, strict=True) if o == "customer_id")
            frame = pd.read_csv(path, usecols=wanted, dtype={id_column: "str"}, keep_default_na=True)
        else:
            frame = pd.read_parquet(path, columns=wanted)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read as {kind}: {_first_line(error)}") from None
    return frame.rename(columns=mapping)


def _read_header(path: Path, kind: str) -> list[str]:
    try:
        if kind == "csv":
            with path.open("rb") as handle:
                first = handle.readline().decode("utf-8-sig")
            if not first.strip():
                raise DataError(f"{path}: empty file (no header line)")
            return _csv_header(path)
        return list(pq.read_schema(path).names)
    except DataError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise DataError(f"{path}: cannot read as {kind}: {_first_line(error)}") from None


def _csv_header(path: Path) -> list[str]:
    # pandas renames duplicate headers (a, a.1), so read the raw header with the csv module.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _parse_types(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]]:
    """Convert each column to its contract type; values that do not convert become faults."""
    frame = pd.DataFrame(index=raw.index)
    faults: dict[tuple[str, str], np.ndarray] = {}

    def fault(column: str, rule: str, mask: np.ndarray) -> None:
        if mask.any():
            faults[(column, rule)] = np.flatnonzero(mask)

    ids = raw["customer_id"]
    frame["customer_id"] = ids.astype("str").str.strip().where(ids.notna())
    frame["date"], unparseable, ambiguous = _parse_dates(raw["date"])
    fault("date", "ambiguous date (day/month order unknown; write YYYY-MM-DD)", ambiguous)
    fault("date", "unparseable date", unparseable)
    for column in ("amount", "weight_kg"):
        if column in raw:
            numbers = pd.to_numeric(raw[column], errors="coerce")
            fault(column, "not a number", (numbers.isna() & raw[column].notna()).to_numpy())
            frame[column] = numbers.astype("float64")
    for column in ("service", "destination_country", "customer_type"):
        if column in raw:
            text = raw[column].astype("str").str.strip().where(raw[column].notna())
            frame[column] = text.str.upper() if column == "destination_country" else text
    for column in BOOLEAN_COLUMNS:
        if column in raw:
            frame[column], not_boolean = _parse_booleans(raw[column])
            fault(column, "not a boolean (true/false, 1/0, yes/no)", not_boolean)
    return frame, faults


def _parse_dates(values: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Strict ISO 8601 parsing: anything else is unparseable, never silently NaT."""
    if pd.api.types.is_datetime64_any_dtype(values):
        dates = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
        no_fault = np.zeros(len(values), dtype=bool)
        return dates.astype("datetime64[ns]"), no_fault, no_fault
    text = values.astype("str").where(values.notna())
    dates = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    failed = (dates.isna() & values.notna()).to_numpy()
    ambiguous = failed & text.str.match(_AMBIGUOUS_DATE).fillna(value=False).to_numpy(dtype=bool)
    return dates.astype("datetime64[ns]"), failed & ~ambiguous, ambiguous


def _parse_booleans(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(values):
        return values.astype("bool"), np.zeros(len(values), dtype=bool)
    text = values.astype("str").str.strip().str.lower()
    truthy = text.isin(_TRUE).to_numpy()
    falsy = text.isin(_FALSE).to_numpy()
    return pd.Series(truthy, index=values.index), ~(truthy | falsy)


def _schema(today: pd.Timestamp) -> pa.DataFrameSchema:
    """Row rules of DESIGN §2 on typed columns; optional columns are checked only when present."""
    finite = pa.Check(np.isfinite, name="not a finite number")
    return pa.DataFrameSchema(
        {
            "customer_id": pa.Column(
                nullable=False, checks=pa.Check(lambda s: s.str.len() > 0, name="empty customer id")
            ),
            "date": pa.Column(
                nullable=False,
                checks=pa.Check(lambda s: s < today + pd.Timedelta(days=1), name=f"date after today ({today.date()})"),
            ),
            "amount": pa.Column(nullable=False, checks=finite),
            "weight_kg": pa.Column(
                nullable=False,
                required=False,
                checks=[finite, pa.Check(lambda s: s >= 0, name="negative weight")],
            ),
            "destination_country": pa.Column(
                nullable=False,
                required=False,
                checks=pa.Check(lambda s: s.str.fullmatch(r"[A-Z]{2}"), name="not an ISO-3166 alpha-2 code"),
            ),
        },
        coerce=False,
    )


def _validate(
    frame: pd.DataFrame, faults: dict[tuple[str, str], np.ndarray], today: pd.Timestamp
) -> dict[tuple[str, str], np.ndarray]:
    """Run the pandera schema lazily and merge its failures with the parsing faults."""
    try:
        _schema(today).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        cases = cases[cases["index"].notna()]
        already = {int(i) for index in faults.values() for i in index}
        for (column, check), group in cases.groupby(["column", "check"], sort=False):
            rule = "missing value" if check == "not_nullable" else str(check)
            index = np.unique(group["index"].astype("int64").to_numpy())
            # A value that failed to parse is reported once, by the parser, not again as missing.
            if rule == "missing value":
                index = np.array([i for i in index if i not in already], dtype="int64")
            if len(index):
                faults[(str(column), rule)] = index
    return faults


def data_digest(shipments: pd.DataFrame) -> str:
    """A content hash of the validated rows: the same data gives the same digest, CSV or Parquet."""
    hashed = pd.util.hash_pandas_object(shipments, index=False).to_numpy()
    header = ",".join(shipments.columns).encode()
    return hashlib.sha256(header + hashed.tobytes()).hexdigest()[:16]
