"""Reading date columns strictly: ISO 8601, or day/month and month/day orders detected per column.

Why strictly: docs/architecture.md#validation.

A spreadsheet export writes ``01/12/2010 08:26`` (France) or ``12/1/2010 8:26`` (the US): the order of
day and month is a property of the file, not of each value. It is read off the whole column, the
way a person would: a first field above 12 can only be a day (day first), a second field above 12
only a day (month first). A column where every value reads both ways cannot be decided from the data
and stops the read, naming the two ``--date-format`` values to choose from. A column mostly written
year first is ISO 8601; its odd ``03/04/2026`` is a row fault, as before.

Values are parsed once per distinct text (a log of millions of lines has tens of thousands of
distinct timestamps), and never silently become NaT: a value that does not read is a fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workflow.errors import DataError

#: Year first, then month and day: the only order that cannot be misread.
ISO_DATE_PATTERN = r"^\d{4}-\d{1,2}-\d{1,2}(?:$|[T ])"
UTC_OFFSET_PATTERN = r"(?:Z|[+-]\d{2}:?\d{2})$"
#: 03/04/2026 is March or April: day/month order cannot be told apart when both are at most 12.
DAY_MONTH_PATTERN = r"^(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}$"
#: Rule names of the two kinds of bad dates in an ISO column (the report and the tests use them).
AMBIGUOUS_DATE = "ambiguous date (day/month order unknown; write YYYY-MM-DD)"
UNPARSEABLE_DATE = "unparseable date (expected YYYY-MM-DD)"

DAY_FIRST = "dm"
MONTH_FIRST = "md"
# Day and month fields, the year (2 or 4 digits), an optional time with or without seconds;
# padding optional everywhere (12/1/2010 8:26).
_NUMERIC_DATE = re.compile(
    r"^(?P<a>\d{1,2})(?P<sep>[/.\-])(?P<b>\d{1,2})[/.\-](?P<year>\d{4}|\d{2})"
    r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?$"
)
# The --date-format values this module reads with its own parser (padding and time optional).
_NUMERIC_FORMAT = re.compile(r"^%([dm])([/.\-])%([dm])\2%[Yy](?:[ T]%H:%M(?::%S)?)?$")
_ISO_DATE = re.compile(ISO_DATE_PATTERN)
_UTC_OFFSET = re.compile(UTC_OFFSET_PATTERN)


@dataclass(frozen=True)
class ParsedDates:
    """A date column read: the dates, the faulty rows, and the text format read (if not ISO 8601).

    ``faults`` maps a rule name to a boolean mask over the rows; ``date_format`` is the strftime
    form (what ``--date-format`` takes, recorded with the model), ``described`` the human one
    (``dd/mm/yyyy HH:MM``), both empty for ISO 8601 or typed dates.
    """

    dates: pd.Series
    faults: dict[str, np.ndarray]
    date_format: str = ""
    described: str = ""


def parse_dates(
    values: pd.Series, *, column: str = "date", date_format: str | None = None, hint: str | None = None
) -> ParsedDates:
    """Parse a date column strictly; datetime columns pass through (an offset is dropped, the wall time kept).

    Parameters
    ----------
    values : Series
        Text (or datetime) values; missing values stay missing (the schema reports them).
    column : str
        The file's name of the column, for the message of an undecidable column.
    date_format : str, optional
        Forced format (``--date-format``, strftime). ``%d/%m/%Y %H:%M`` and the like accept values
        with or without zero padding, seconds or time; other formats are matched exactly.
    hint : str, optional
        A format recorded with the model: used only when the column itself cannot decide the order.

    Returns
    -------
    ParsedDates

    Raises
    ------
    DataError
        Every day/month value of a column reads both ways and no format says which (exit 2).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        dates = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
        return ParsedDates(dates.astype("datetime64[ns]"), {})
    # Once per distinct text: the masks and dates of the rows are then taken by code.
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = pd.Series(uniques, dtype="str").str.strip()
    rows = np.bincount(codes[codes >= 0], minlength=len(text))
    parsed = _parse_distinct(text, rows, column, date_format, hint)
    present = codes >= 0
    safe = np.where(present, codes, 0)
    dates = pd.Series(parsed.dates.to_numpy()[safe], index=values.index).where(present)
    faults = {rule: mask[safe] & present for rule, mask in parsed.faults.items() if mask[safe][present].any()}
    return ParsedDates(dates.astype("datetime64[ns]"), faults, parsed.date_format, parsed.described)


def _parse_distinct(
    text: pd.Series, rows: np.ndarray, column: str, date_format: str | None, hint: str | None
) -> ParsedDates:
    """Core of ``parse_dates`` on distinct, stripped texts, ``rows`` holding how many rows each one stands for."""
    if date_format:
        return _forced(text, date_format)
    parts = text.str.extract(_NUMERIC_DATE)
    numeric = parts["a"].notna().to_numpy()
    iso = text.str.match(_ISO_DATE).to_numpy(dtype=bool)
    if rows[numeric].sum() <= rows[iso].sum():
        return _iso_column(text, parts, numeric)
    order = _order_from_values(parts, numeric, rows)
    if order is None and hint and (hinted := _NUMERIC_FORMAT.match(hint)):
        order = hinted.group(1) + hinted.group(3)
    if order is None:
        example = text[numeric].iloc[int(np.argmax(rows[numeric]))]
        formats = [_strftime(parts[numeric], order) for order in (DAY_FIRST, MONTH_FIRST)]
        choices = " or ".join(f"--date-format '{value}'" for value in formats)
        raise DataError(
            f"column '{column}': every date reads as day/month and as month/day (e.g. {example}); choose with {choices}"
        )
    return _numeric_column(text, parts, numeric, iso, order)


def _iso_column(text: pd.Series, parts: pd.DataFrame, numeric: np.ndarray) -> ParsedDates:
    """Year-first values; a day/month value here is ambiguous when both fields are at most 12, else unparseable."""
    full = text.str.match(_ISO_DATE).to_numpy(dtype=bool)
    dates = _iso(text.where(full))
    failed = dates.isna().to_numpy()
    first = pd.to_numeric(parts["a"], errors="coerce")
    second = pd.to_numeric(parts["b"], errors="coerce")
    ambiguous = failed & numeric & ((first <= 12) & (second <= 12)).to_numpy(dtype=bool, na_value=False)
    return ParsedDates(dates, {AMBIGUOUS_DATE: ambiguous, UNPARSEABLE_DATE: failed & ~ambiguous})


def _iso(text: pd.Series) -> pd.Series:
    """ISO 8601 texts (missing where not given); a UTC offset is dropped to keep the local wall time.

    A parcel shipped at 00:30+02:00 on 5 May was shipped on 5 May, whatever the time in UTC.
    """
    try:
        dates = pd.to_datetime(text, format="ISO8601", errors="coerce")
    except ValueError:
        # Mixed UTC offsets (or offsets and naive times): drop the offsets to keep the wall time.
        dates = pd.to_datetime(text.str.replace(_UTC_OFFSET, "", regex=True), format="ISO8601", errors="coerce")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    return dates.astype("datetime64[ns]")


def _order_from_values(parts: pd.DataFrame, numeric: np.ndarray, rows: np.ndarray) -> str | None:
    """Day first if some first field is above 12, month first if some second field is; None if neither.

    Both kinds in one column (a typo, or two sources mixed) go with the more frequent, and the
    other values then fail to parse and are reported as faults.
    """
    first = pd.to_numeric(parts["a"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    second = pd.to_numeric(parts["b"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    day_first = int(rows[numeric & (first > 12)].sum())
    month_first = int(rows[numeric & (second > 12)].sum())
    if not day_first and not month_first:
        return None
    return DAY_FIRST if day_first >= month_first else MONTH_FIRST


def _numeric_column(
    text: pd.Series, parts: pd.DataFrame, numeric: np.ndarray, iso: np.ndarray, order: str
) -> ParsedDates:
    """Day/month values in ``order`` (ISO values too: year first cannot be misread); anything else is a fault."""
    dates = _from_parts(parts, order).where(numeric)
    if iso.any():
        dates = dates.where(~iso, _iso(text.where(iso)))
    date_format = _strftime(parts[numeric], order)
    described = _described(date_format)
    failed = dates.isna().to_numpy()
    return ParsedDates(dates, {f"unparseable date (expected {described})": failed}, date_format, described)


def _from_parts(parts: pd.DataFrame, order: str) -> pd.Series:
    """Datetimes from the regex groups; an impossible date (31/02) is missing, so a fault."""
    day, month = ("a", "b") if order == DAY_FIRST else ("b", "a")
    year = pd.to_numeric(parts["year"], errors="coerce")
    # strptime's %y: 69–99 are the 1900s, 00–68 the 2000s.
    short = parts["year"].str.len() == 2
    year = year.where(~short, year + np.where(year >= 69, 1900, 2000))
    fields = pd.DataFrame(
        {
            "year": year,
            "month": pd.to_numeric(parts[month], errors="coerce"),
            "day": pd.to_numeric(parts[day], errors="coerce"),
            "hour": pd.to_numeric(parts["hour"], errors="coerce").fillna(0),
            "minute": pd.to_numeric(parts["minute"], errors="coerce").fillna(0),
            "second": pd.to_numeric(parts["second"], errors="coerce").fillna(0),
        }
    )
    valid = fields[["year", "month", "day"]].notna().all(axis=1) & fields["month"].between(1, 12)
    valid &= fields["day"].between(1, 31) & fields["hour"].between(0, 23) & fields["minute"].between(0, 59)
    valid &= fields["second"].between(0, 59)
    dates = pd.Series(pd.NaT, index=parts.index, dtype="datetime64[ns]")
    if valid.any():
        # errors="coerce" turns 30 February into NaT; the range checks above keep overflow out.
        dates[valid] = pd.to_datetime(fields[valid].astype("int64"), errors="coerce")
    return dates


def _strftime(parts: pd.DataFrame, order: str) -> str:
    """The strftime form of day/month values: the separator, the year's digits and the time most values have."""
    separator = parts["sep"].mode().iloc[0] if len(parts) else "/"
    year = "%Y" if (parts["year"].str.len() == 4).mean() >= 0.5 else "%y"
    fields = ("%d", "%m") if order == DAY_FIRST else ("%m", "%d")
    text = f"{fields[0]}{separator}{fields[1]}{separator}{year}"
    if parts["hour"].notna().any():
        text += " %H:%M:%S" if parts["second"].notna().any() else " %H:%M"
    return text


def _described(date_format: str) -> str:
    """``%d/%m/%Y %H:%M`` → ``dd/mm/yyyy HH:MM``: how a person writes a format."""
    words = {"%d": "dd", "%m": "mm", "%Y": "yyyy", "%y": "yy", "%H": "HH", "%M": "MM", "%S": "SS"}
    return re.sub(r"%[dmYyHMS]", lambda match: words[match.group(0)], date_format)


def _forced(text: pd.Series, date_format: str) -> ParsedDates:
    """``--date-format``: day/month formats read with or without padding and time, others exactly."""
    described = _described(date_format)
    rule = f"unparseable date (expected {described})"
    if match := _NUMERIC_FORMAT.match(date_format):
        parts = text.str.extract(_NUMERIC_DATE)
        iso = text.str.match(_ISO_DATE).to_numpy(dtype=bool)
        numeric = parts["a"].notna().to_numpy()
        parsed = _numeric_column(text, parts, numeric, iso, match.group(1) + match.group(3))
        return ParsedDates(parsed.dates, {rule: parsed.dates.isna().to_numpy()}, date_format, described)
    try:
        dates = pd.to_datetime(text, format=date_format, errors="coerce")
    except ValueError as error:
        raise DataError(f"--date-format {date_format}: {error}") from None
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    dates = dates.astype("datetime64[ns]")
    return ParsedDates(dates, {rule: dates.isna().to_numpy()}, date_format, described)
