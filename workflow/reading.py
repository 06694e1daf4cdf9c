"""Opening the files people have: CSV (plain or gzip), Parquet and Excel workbooks.

The options users give: docs/architecture.md#reading-options.

The format comes from the file name; a CSV file's dialect from its text: the separator from the
header line (``,`` ``;`` tab ``|``), the encoding UTF-8 with or without a byte-order mark unless one
is given (a Windows-1252 export cannot be told from Latin-1 or UTF-8 reliably: it is named, or
recorded with the model). Nothing here knows the data contract: ``workflow.data`` says which
columns it needs and types them.
"""

from __future__ import annotations

import csv
import gzip
import re
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet as pq

from workflow.errors import DataError, first_line

#: File kinds by name ending, longest first.
KINDS: tuple[tuple[str, str], ...] = (
    (".csv.gz", "csv.gz"),
    (".csv", "csv"),
    (".parquet", "parquet"),
    (".pq", "parquet"),
    (".xlsx", "xlsx"),
)
SUPPORTED = ".csv, .csv.gz, .parquet or .xlsx"
#: Separators a CSV file may use; on a tie in the header, the first listed wins.
SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
#: Bytes read at a time when scanning a CSV for NUL bytes.
_CHUNK = 1 << 22
# pandas' tokenizer errors, turned into row numbers a user can find.
_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_OPEN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file was read: its separator and encoding (``None`` = UTF-8, a byte-order mark skipped)."""

    sep: str
    encoding: str | None


def file_kind(path: Path, max_file_mb: float | None) -> str:
    """The kind of ``path`` (``csv``, ``csv.gz``, ``parquet`` or ``xlsx``) once it is known to be a readable file."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give one {SUPPORTED} file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    name = path.name.lower()
    kind = next((kind for ending, kind in KINDS if name.endswith(ending)), None)
    if kind is None:
        raise DataError(f"{path}: unsupported file type '{path.suffix}'; use {SUPPORTED}")
    size = path.stat().st_size
    if max_file_mb is not None and size > max_file_mb * 1e6:
        raise DataError(f"{path}: {size / 1e6:.3g} MB is over the {max_file_mb:g} MB size limit")
    if size == 0:
        raise DataError(f"{path}: empty file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise DataError(f"{path}: cannot open: {error.strerror or first_line(error)}") from None
    return kind


# --- CSV ------------------------------------------------------------------------------------------


def _open_bytes(path: Path, kind: str):
    return gzip.open(path, "rb") if kind == "csv.gz" else path.open("rb")


def csv_header(
    path: Path, kind: str, *, sep: str | None, encoding: str | None, fallback_encoding: str | None = None
) -> tuple[list[str], CsvDialect]:
    """The header's names and the dialect: the given separator, or the one that splits the header most.

    The header is split with the csv module (pandas would rename duplicates to ``a.1``). ``encoding``
    None means UTF-8 with or without a byte-order mark; ``fallback_encoding`` (recorded with a
    model) is used when the file is not UTF-8.
    """
    _refuse_binary(path, kind)
    first, encoding = _first_text_line(path, kind, encoding, fallback_encoding)
    if not first.strip():
        raise DataError(f"{path}: the first line is blank; expected the header")
    if looks := _not_csv(first):
        raise DataError(f"{path}: {looks}, not CSV; export it as CSV with a header line, or as Parquet")
    sep = sep or detect_separator(first)
    return [name.strip() for name in next(csv.reader([first], delimiter=sep))], CsvDialect(sep, encoding)


def _not_csv(line: str) -> str:
    """What a first line that no CSV header starts like looks like (JSON, XML/HTML), or ""."""
    start = line.lstrip("\ufeff \t")[:1]
    if start in "[{" and start:
        return f"looks like JSON (the first line starts with '{start}')"
    if start == "<":
        return "looks like XML or HTML (the first line starts with '<')"
    return ""


def detect_separator(line: str) -> str:
    """The separator that splits ``line`` (a header) into the most fields; a comma when none splits it."""
    counts = {sep: len(next(csv.reader([line], delimiter=sep))) for sep in SEPARATORS}
    best = max(counts.values())
    return next(sep for sep in SEPARATORS if counts[sep] == best)


def _first_text_line(
    path: Path, kind: str, encoding: str | None, fallback_encoding: str | None
) -> tuple[str, str | None]:
    raw = _read_first_line(path, kind)
    try:
        return raw.decode(_codec(encoding)), encoding
    except UnicodeDecodeError:
        if encoding is None and fallback_encoding:
            return _first_text_line(path, kind, fallback_encoding, None)
        raise DataError(decode_error(path, kind, encoding)) from None
    except LookupError:
        raise DataError(f"{path}: unknown text encoding '{encoding}'") from None


def _read_first_line(path: Path, kind: str) -> bytes:
    try:
        with _open_bytes(path, kind) as handle:
            return handle.readline().rstrip(b"\r\n")
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: not a readable gzip file: {first_line(error)}") from None


def _codec(encoding: str | None) -> str:
    # pandas skips a UTF-8 byte-order mark by itself; the csv module and bytes.decode need the -sig codec.
    if encoding is None or encoding.lower().replace("_", "-") in {"utf-8", "utf8"}:
        return "utf-8-sig"
    return encoding


def _refuse_binary(path: Path, kind: str) -> None:
    """NUL bytes never occur in CSV text: the file is binary (a spreadsheet, a zip), UTF-16, or damaged."""
    offset = 0
    lines = 1
    try:
        with _open_bytes(path, kind) as handle:
            while chunk := handle.read(_CHUNK):
                position = chunk.find(b"\x00")
                if position >= 0:
                    line = lines + chunk.count(b"\n", 0, position)
                    raise DataError(
                        f"{path}: NUL byte on line {line} (byte {offset + position}): not CSV text but a binary,"
                        " UTF-16 or damaged file; export it as UTF-8 CSV"
                    )
                offset += len(chunk)
                lines += chunk.count(b"\n")
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: not a readable gzip file: {first_line(error)}") from None


def decode_error(path: Path, kind: str, encoding: str | None) -> str:
    """Which line of ``path`` is not ``encoding`` text, for a message more useful than a byte offset."""
    name = encoding or "utf-8"
    with _open_bytes(path, kind) as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode(_codec(encoding) if number == 1 else _codec(encoding).removesuffix("-sig"))
            except UnicodeDecodeError as error:
                byte = line[error.start]
                where = f"line {number} (row {number - 1})" if number > 1 else "line 1 (the header)"
                hint = (
                    " (a Latin-1 or Windows-1252 export?): give --encoding cp1252, or save it as UTF-8"
                    if name.lower().startswith("utf")
                    else ""
                )
                return f"{path}: not {name} text: byte 0x{byte:02X} on {where}{hint}"
    return f"{path}: not {name} text"


def read_csv(
    path: Path,
    kind: str,
    header: list[str],
    dialect: CsvDialect,
    *,
    text_columns: list[str],
    categorical_columns: list[str],
    fallback_encoding: str | None = None,
) -> tuple[pd.DataFrame, CsvDialect]:
    """Every column of the CSV, ``text_columns`` as text; missing means an empty cell, nothing else.

    Every column is read (no ``usecols``): with ``usecols`` pandas silently drops a row's extra
    fields, and with trailing delimiters it shifts every value one column to the left.
    ``index_col=False`` makes a row with too many fields an error instead of an index.

    Returns the frame and the dialect read (the fallback encoding when the file was not UTF-8).
    """
    encoding = dialect.encoding or "utf-8"
    try:
        with warnings.catch_warnings():
            # Text among numbers in a large file gives a column of mixed types, which the parser of
            # workflow.data converts value by value anyway; pandas' advice (dtype or low_memory) does not apply.
            warnings.simplefilter("ignore", category=pd.errors.DtypeWarning)
            frame = pd.read_csv(
                path,
                sep=dialect.sep,
                index_col=False,
                dtype={**dict.fromkeys(text_columns, "str"), **dict.fromkeys(categorical_columns, "category")},
                # Ids like NA or NULL are data; only an empty cell is missing. NaN and inf in a
                # number column stay text here and become faults when typed.
                keep_default_na=False,
                na_values=[""],
                encoding=encoding,
                compression="gzip" if kind == "csv.gz" else None,
            )
    except UnicodeDecodeError:
        if dialect.encoding is None and fallback_encoding:
            return read_csv(
                path,
                kind,
                header,
                CsvDialect(dialect.sep, fallback_encoding),
                text_columns=text_columns,
                categorical_columns=categorical_columns,
            )
        raise DataError(decode_error(path, kind, dialect.encoding)) from None
    except pd.errors.ParserError as error:
        raise DataError(f"{path}: {_parser_error(error, dialect.sep)}") from None
    except (ValueError, OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: cannot read as CSV: {first_line(error)}") from None
    if len(frame.columns) != len(header):
        raise DataError(f"{path}: cannot read the header line ({len(header)} names, {len(frame.columns)} columns)")
    frame.columns = header
    return frame, dialect


def _parser_error(error: Exception, sep: str) -> str:
    text = first_line(error)
    if match := _FIELDS.search(text):
        expected, line, saw = (int(group) for group in match.groups())
        name = SEPARATOR_NAMES.get(sep, repr(sep))
        return (
            f"row {line - 1} (line {line}) has {saw} fields but the header has {expected};"
            f" a value with a {name} must be quoted"
        )
    if match := _OPEN_QUOTE.search(text):
        row = int(match.group(1))
        return f"a quote opened in row {row} (line {row + 1}) is never closed"
    return f"cannot read as CSV: {text}"


# --- Parquet --------------------------------------------------------------------------------------


def parquet_header(path: Path) -> list[str]:
    """The column names of a Parquet file."""
    try:
        return list(pq.read_schema(path).names)
    except (ValueError, OSError, pyarrow.ArrowException) as error:
        raise DataError(f"{path}: not a readable Parquet file: {first_line(error)}") from None


def read_parquet(path: Path, wanted: list[str]) -> pd.DataFrame:
    """The ``wanted`` columns of a Parquet file, as pandas reads them (dictionary-encoded text stays categorical)."""
    # Ids are not read dictionary-encoded: each row group has its own dictionary and unifying them
    # costs more CPU than hashing the ids once in build_features (measured at 10M rows).
    schema = pq.read_schema(path)
    nested = [
        f"{name} ({schema.field(name).type})" for name in wanted if pyarrow.types.is_nested(schema.field(name).type)
    ]
    if nested:
        # Lists and structs are no values of the contract; pandas would pass them on as Python objects.
        raise DataError(f"{path}: nested Parquet column(s) {', '.join(nested)}; expected one value per cell")
    try:
        return pd.read_parquet(path, columns=wanted)
    except (ValueError, OSError, pyarrow.ArrowException) as error:
        raise DataError(f"{path}: cannot read as Parquet: {first_line(error)}") from None


# --- Excel ----------------------------------------------------------------------------------------


def read_xlsx(
    path: Path, *, sheet: str | None, preferred_sheet: str | None = None, text_columns: list[str] | None = None
) -> tuple[list[str], pd.DataFrame, str]:
    """The header, the cells and the name of one sheet of a workbook (python-calamine: Rust, no formulas run).

    Parameters
    ----------
    path : Path
    sheet : str, optional
        The sheet to read (``--sheet``); default the first.
    preferred_sheet : str, optional
        A sheet recorded with a model: read when the workbook has it, else the first.
    text_columns : list of str, optional
        Columns read as text: a number cell ``13085`` gives ``"13085"``, not ``"13085.0"``.

    Returns
    -------
    (header, frame, sheet name)
        Cells keep their types (numbers, datetimes, text); an empty cell is missing.
    """
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = list(workbook.sheet_names)
        if sheet is not None and sheet not in names:
            raise DataError(f"{path}: no sheet '{sheet}'; the workbook has {', '.join(map(repr, names))}")
        if not names:
            raise DataError(f"{path}: the workbook has no sheet")
        name = sheet or (preferred_sheet if preferred_sheet in names else names[0])
        rows = workbook.get_sheet_by_name(name).to_python()
    except CalamineError as error:
        raise DataError(f"{path}: not a readable .xlsx workbook: {first_line(error)}") from None
    if not rows or not any(cell != "" for cell in rows[0]):
        raise DataError(f"{path}: sheet '{name}' is empty; expected a header in its first row")
    names = ["" if cell is None else str(cell).strip() for cell in rows[0]]
    frame = pd.DataFrame(rows[1:], columns=range(len(names)), dtype=object)
    # Blank rows are skipped, as in a CSV file; so are unnamed empty columns (a formatted but empty
    # range that Excel counts as used).
    frame = frame.replace({"": None}).dropna(how="all").reset_index(drop=True)
    kept = [i for i, name in enumerate(names) if name or frame[i].notna().any()]
    header = [names[i] for i in kept]
    columns = {
        position: _cells_as_text(frame[i]) if names[i] in (text_columns or []) else _typed_cells(frame[i])
        for position, i in enumerate(kept)
    }
    typed = pd.DataFrame(columns, index=frame.index)
    typed.columns = header
    return header, typed, name


def _typed_cells(values: pd.Series) -> pd.Series:
    """A column of cells as one type when they share one (numbers, datetimes), else as they are."""
    present = values.dropna()
    if present.empty:
        return values
    kind = pd.api.types.infer_dtype(present, skipna=True)
    if kind in {"floating", "integer", "mixed-integer-float"}:
        return pd.to_numeric(values).astype("float64")
    if kind in {"datetime", "datetime64", "date"}:
        return pd.to_datetime(values)
    if kind == "string":
        return values.astype("str").where(values.notna())
    return values


def _cells_as_text(values: pd.Series) -> pd.Series:
    """Cells as text; whole numbers without the ``.0`` a spreadsheet's float cell would give them."""

    def text(cell: object) -> object:
        if cell is None:
            return None
        if isinstance(cell, float) and np.isfinite(cell) and cell == int(cell):
            return str(int(cell))
        return str(cell)

    return pd.Series([text(cell) for cell in values], index=values.index, dtype="str")
