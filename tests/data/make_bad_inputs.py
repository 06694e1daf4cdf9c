"""Write the bad-input corpus of ``tests/data/bad/``: small broken shipment files.

Run ``python tests/data/make_bad_inputs.py`` to regenerate the committed files, or call
``make_corpus(folder)`` (``tests/test_bad_inputs.py`` does, to check the committed files are current).

Everything is deterministic: no random generator, only arithmetic on row numbers (and SHA-256 for
the binary garbage), so the same script writes the same bytes on every machine. Parquet files hold
the writer's version in their footer, so they are compared by content, not by bytes.

Each case is one file (or one folder) whose name says what is wrong with it. What the CLI must do
with each is in ``tests/test_bad_inputs.py``. The base file is 100 valid rows of 10 customers that
differ enough for a k=2..3 sweep; most broken files are that base with one thing wrong, in 20 of
the 100 rows when it is a row fault (above the 5 % threshold, so the command stops).
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from workflow.data import KNOWN_COLUMNS

BAD = Path(__file__).resolve().parent / "bad"
#: Every column of the data contract, in its order: the base file is a complete, valid file.
HEADER = list(KNOWN_COLUMNS)
#: Rows per customer: 10 customers, 100 rows.
ROWS_PER_CUSTOMER = (20, 15, 12, 10, 10, 8, 8, 7, 5, 5)
#: Per customer: typical amount (EUR), weight (kg), services cycled through, destinations cycled, type.
PROFILES = (
    (18.0, 8.0, ("Chrono 10", "Chrono 13"), ("FR",), "B2B"),
    (45.0, 3.5, ("Chrono Classic", "Chrono Express"), ("DE", "US", "FR"), "B2B"),
    (9.0, 0.6, ("Chrono Relais",), ("FR",), "B2C"),
    (22.0, 1.6, ("Chrono 13", "Chrono 18", "Chrono Relais"), ("FR", "BE"), "B2B"),
    (16.0, 7.5, ("Chrono 10",), ("FR",), "B2B"),
    (48.0, 4.0, ("Chrono Express",), ("US", "CN"), "B2B"),
    (8.5, 0.5, ("Chrono Relais", "Chrono 18"), ("FR",), "B2C"),
    (25.0, 1.2, ("Chrono 13",), ("FR",), "B2C"),
    (30.0, 2.0, ("Chrono Classic",), ("IT", "ES"), "B2B"),
    (12.0, 1.0, ("Chrono 18",), ("FR",), "B2C"),
)
FIRST_DAY = date(2026, 1, 5)
#: A row fault is put in every 5th row (rows 3, 8, 13, …: 20 of 100, above the 5 % threshold).
FAULT_ROWS = tuple(range(2, 100, 5))
#: A few faults only (3 of 100): accepted, the rows dropped and reported.
FEW_FAULT_ROWS = (6, 41, 77)

Rows = list[list[str]]


def base_rows(ids: list[str] | None = None) -> Rows:
    """100 valid rows (header excluded), ordered by customer then date, all values as text."""
    ids = ids or [f"C{number:02d}" for number in range(1, 11)]
    if len(ids) != len(PROFILES):
        raise ValueError(f"one id per customer: {len(PROFILES)} ids, not {len(ids)}")
    rows = []
    for customer, (count, profile) in enumerate(zip(ROWS_PER_CUSTOMER, PROFILES, strict=True)):
        amount, weight, services, countries, kind = profile
        step = 150 // count  # heavy shippers ship often, light ones rarely
        for j in range(count):
            day = FIRST_DAY + timedelta(days=customer * 3 + j * step)
            rows.append(
                [
                    ids[customer],
                    day.isoformat(),
                    f"{amount * (1 + (j % 3) / 10):.2f}",
                    f"{weight + (j % 4) * 0.25:.2f}",
                    services[j % len(services)],
                    countries[j % len(countries)],
                    "true" if (j + customer) % 7 == 0 else "false",
                    "true" if (j * customer) % 11 == 3 else "false",
                    kind,
                ]
            )
    return rows


def to_csv(rows: Rows, header: list[str] = HEADER, *, delimiter: str = ",", newline: str = "\n") -> str:
    """Rows as CSV text, quoted only where needed (commas, quotes, line breaks)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def with_column(rows: Rows, column: str, value: Callable[[int, str], str], where: tuple[int, ...]) -> Rows:
    """A copy of ``rows`` where ``column`` of the rows at 0-based positions ``where`` is ``value(i, old)``."""
    position = HEADER.index(column)
    changed = [list(row) for row in rows]
    for i in where:
        changed[i][position] = value(i, changed[i][position])
    return changed


def without_column(column: str) -> str:
    """The base file without one column."""
    position = HEADER.index(column)
    header = [name for name in HEADER if name != column]
    return to_csv([row[:position] + row[position + 1 :] for row in base_rows()], header)


def parquet_bytes(rows: Rows, header: list[str] = HEADER) -> bytes:
    """Rows as a typed Parquet file (dates as date32, numbers as float, booleans as bool)."""
    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    arrays = {}
    for name, values in columns.items():
        if name == "date":
            arrays[name] = pa.array([date.fromisoformat(v) for v in values], type=pa.date32())
        elif name in {"amount", "weight_kg"}:
            arrays[name] = pa.array([float(v) for v in values], type=pa.float64())
        elif name in {"delivered_late", "returned"}:
            arrays[name] = pa.array([v == "true" for v in values], type=pa.bool_())
        else:
            arrays[name] = pa.array(values, type=pa.string())
    sink = io.BytesIO()
    pq.write_table(pa.table(arrays), sink)
    return sink.getvalue()


def garbage(size: int) -> bytes:
    """Deterministic bytes that are not text: a SHA-256 chain."""
    out = b""
    block = b"segments"
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return out[:size]


def one_customer_rows() -> Rows:
    """Every row of the base file given to the same customer."""
    return with_column(base_rows(), "customer_id", lambda _i, _old: "C01", tuple(range(100)))


def constant_rows() -> Rows:
    """Six customers with exactly the same shipments: every feature is constant."""
    rows = []
    for customer in range(1, 7):
        for j in range(4):
            day = (FIRST_DAY + timedelta(days=j * 30)).isoformat()
            rows.append([f"C{customer:02d}", day, "20.00", "1.50", "Chrono 13", "FR", "false", "false", "B2B"])
    return rows


#: Customer ids that are legitimate data and must survive training and scoring unchanged (one per
#: customer of the base file: ten).
SPECIAL_IDS = [
    "ACME, Inc.",
    'Atelier "Le Pli"',
    "Zoë & Fils — Café 東京",
    "<img src=x onerror=alert(1)>",
    "<script>alert('id')</script>",
    "[bold]O'Brien[/]; Sons",
    "NA",
    "NULL",
    "=1+2",
    "line\nbreak",
]


Content = bytes | str | None


def cases() -> dict[str, tuple[str, Callable[[], Content]]]:
    """File name → (what is wrong with it, its content). ``str`` is written as UTF-8, ``None`` makes a folder."""
    base = base_rows()

    def faulty(column: str, value: Callable[[int, str], str]) -> Callable[[], str]:
        return lambda: to_csv(with_column(base, column, value, FAULT_ROWS))

    return {
        # --- unreadable or structurally wrong files ------------------------------------------------
        "empty.csv": ("0 bytes", lambda: ""),
        "blank_lines.csv": ("three empty lines, no header", lambda: "\n\n\n"),
        "header_only.csv": ("the header and no row", lambda: to_csv([])),
        "binary_garbage.csv": ("4 KB of binary bytes named .csv", lambda: garbage(4096)),
        "utf16.csv": ("UTF-16 text (Excel's 'Unicode text')", lambda: to_csv(base).encode("utf-16")),
        "nul_bytes.csv": (
            "a line of NUL bytes in the middle (a damaged copy)",
            lambda: to_csv(base[:50]).encode() + b"\x00" * 64 + to_csv(base[50:], []).encode(),
        ),
        "ragged_rows.csv": ("row 36 has one field too many", lambda: to_csv(base).replace("C03,", "C03,extra,", 1)),
        "unclosed_quote.csv": (
            "a quote opened in row 58 and never closed",
            lambda: to_csv(base).replace("C05,", '"C05,', 1),
        ),
        "latin1_accents.csv": (
            "Latin-1 text with accents ('Chrono Été')",
            lambda: faulty("service", lambda _i, _old: "Chrono Été")().encode("latin-1"),
        ),
        "truncated.parquet": ("a Parquet file cut after 600 bytes", lambda: parquet_bytes(base)[:600]),
        "csv_named.parquet": ("CSV text named .parquet", lambda: to_csv(base)),
        "garbage.parquet": ("binary bytes named .parquet", lambda: garbage(2048)),
        "empty.parquet": ("a valid Parquet file with no row", lambda: parquet_bytes([])),
        "nested_amount.parquet": ("amount holds lists of numbers", nested_parquet),
        # --- columns ----------------------------------------------------------------------------
        "missing_customer_id.csv": ("no customer_id column", lambda: without_column("customer_id")),
        "missing_date.csv": ("no date column", lambda: without_column("date")),
        "missing_amount.csv": ("no amount column", lambda: without_column("amount")),
        "missing_amount.parquet": (
            "no amount column, in Parquet",
            lambda: parquet_bytes([row[:2] + row[3:] for row in base], [name for name in HEADER if name != "amount"]),
        ),
        "renamed_columns.csv": (
            "Customer, OrderDate, Revenue: fine with --columns, refused without or with wrong names",
            lambda: to_csv(base, ["Customer", "OrderDate", "Revenue", *HEADER[3:]]),
        ),
        "duplicate_columns.csv": (
            "two columns named amount",
            lambda: to_csv([[*row, row[2]] for row in base], [*HEADER, "amount"]),
        ),
        # --- row faults, in 20 % of the rows (3, 8, 13, …): above the 5 % threshold ---------------
        "dates_unparseable.csv": ("dates 'yesterday'", faulty("date", lambda _i, _old: "yesterday")),
        "dates_ambiguous.csv": (
            "dates like 03/02/2026 (day or month first?)",
            faulty("date", lambda i, old: f"{i % 12 + 1:02d}/{old[5:7]}/{old[:4]}"),
        ),
        "dates_future.csv": ("dates in 2099", faulty("date", lambda i, _old: f"2099-01-{i % 28 + 1:02d}")),
        "dates_excel_serial.csv": ("dates as Excel day numbers", faulty("date", lambda i, _old: str(46027 + i))),
        "dates_missing.csv": ("empty dates", faulty("date", lambda _i, _old: "")),
        "amount_text.csv": ("amounts 'twelve'", faulty("amount", lambda _i, _old: "twelve")),
        "amount_nan.csv": ("amounts 'NaN'", faulty("amount", lambda _i, _old: "NaN")),
        "amount_inf.csv": ("amounts 'inf' and '-inf'", faulty("amount", lambda i, _old: "-inf" if i % 2 else "inf")),
        "amount_comma_decimal.csv": (
            "amounts with a decimal comma ('19,80', quoted)",
            faulty("amount", lambda _i, old: old.replace(".", ",")),
        ),
        "amount_missing.csv": ("empty amounts", faulty("amount", lambda _i, _old: "")),
        "weight_negative.csv": ("weights of -1.5 kg", faulty("weight_kg", lambda _i, _old: "-1.50")),
        "boolean_garbage.csv": ("returned = 'maybe'", faulty("returned", lambda _i, _old: "maybe")),
        "country_unknown.csv": (
            "destination 'Atlantis', no country: accepted, reported, destination unknown",
            faulty("destination_country", lambda _i, _old: "Atlantis"),
        ),
        # --- valid rows, but nothing to segment ---------------------------------------------------
        "one_customer_all_rows.csv": ("100 rows, all of customer C01", lambda: to_csv(one_customer_rows())),
        "single_customer_single_row.csv": ("one row", lambda: to_csv(base[:1])),
        "two_customers.csv": ("two customers, fewer than k=3", lambda: to_csv(base[20:47])),
        "constant_features.csv": ("six customers with identical shipments", lambda: to_csv(constant_rows())),
        "huge_amounts.csv": (
            "C01's 20 amounts are 1e308: each finite, their sum is not",
            lambda: to_csv(with_column(base, "amount", lambda _i, _old: "1e308", tuple(range(20)))),
        ),
        # --- not a shipments file at all --------------------------------------------------------
        "shipments.xlsx": ("512 binary bytes named .xlsx: not a workbook", lambda: garbage(512)),
        "shipments.json": (
            "a JSON extension",
            lambda: '[{"customer_id": "C01", "date": "2026-01-05", "amount": 18.0}]\n',
        ),
        "is_a_directory.csv": ("a folder named like a CSV file", lambda: None),
        # --- accepted: legitimate data in an unusual shape ---------------------------------------
        "ids_special.csv": (
            "ids with commas, quotes, accents, CJK, HTML, markup, NA, NULL",
            lambda: to_csv(special_id_rows()),
        ),
        "mixed_few_bad_rows.csv": (
            "3 bad rows of 100 (rows 7, 42, 78): dropped, reported",
            lambda: to_csv(few_bad_rows()),
        ),
        "crlf_line_endings.csv": ("Windows line endings", lambda: to_csv(base, newline="\r\n")),
        "utf8_bom.csv": ("a UTF-8 byte-order mark first", lambda: "\ufeff" + to_csv(base)),
        "good.parquet": ("the base file in Parquet", lambda: parquet_bytes(base)),
        "semicolon_delimiter.csv": ("separated by ';' (a French Excel export)", lambda: to_csv(base, delimiter=";")),
        "tab_delimiter.csv": ("separated by tabs", lambda: to_csv(base, delimiter="\t")),
        "french_excel_export.csv": (
            "';', decimal commas, dd/mm/yyyy dates (a French spreadsheet's CSV)",
            lambda: to_csv(french_rows(base), delimiter=";"),
        ),
        "country_names.csv": ("countries as names and alpha-3 codes (France, USA, BEL)", lambda: to_csv(named_rows())),
        "customer_id_missing.csv": (
            "empty customer ids in 20 rows: guest sales, left out and reported",
            faulty("customer_id", lambda _i, _old: ""),
        ),
    }


def nested_parquet() -> bytes:
    """A Parquet file whose amount column holds lists of numbers."""
    table = pa.table(
        {
            "customer_id": ["C01", "C02"],
            "date": pa.array([FIRST_DAY, FIRST_DAY], type=pa.date32()),
            "amount": pa.array([[18.0, 2.5], [9.0]], type=pa.list_(pa.float64())),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


#: The base file's destinations as exports write them: English and French names, alpha-3 codes.
COUNTRY_NAMES = {
    "FR": ("France", "FRA"),
    "DE": ("Allemagne", "Germany"),
    "US": ("USA", "United States"),
    "CN": ("Chine", "CHN"),
    "BE": ("Belgique", "BEL"),
    "IT": ("Italy", "Italie"),
    "ES": ("Espagne", "ESP"),
}


def named_rows() -> Rows:
    """The base rows with every destination written as a name or an alpha-3 code."""
    return with_column(base_rows(), "destination_country", lambda i, old: COUNTRY_NAMES[old][i % 2], tuple(range(100)))


def french_rows(rows: Rows) -> Rows:
    """``rows`` as a French spreadsheet writes them: decimal commas and dd/mm/yyyy dates."""
    french = with_column(rows, "date", lambda _i, old: f"{old[8:10]}/{old[5:7]}/{old[:4]}", tuple(range(len(rows))))
    for column in ("amount", "weight_kg"):
        french = with_column(french, column, lambda _i, old: old.replace(".", ","), tuple(range(len(rows))))
    return french


def special_id_rows() -> Rows:
    """The base rows with ids that need quoting, escaping or care (see ``SPECIAL_IDS``)."""
    return base_rows(SPECIAL_IDS)


def few_bad_rows() -> Rows:
    """Three broken rows of 100 (3 %): a text amount, an ambiguous date, a negative weight."""
    rows = with_column(base_rows(), "amount", lambda _i, _old: "n/a", FEW_FAULT_ROWS[:1])
    rows = with_column(rows, "date", lambda _i, _old: "03/04/2026", FEW_FAULT_ROWS[1:2])
    return with_column(rows, "weight_kg", lambda _i, _old: "-2", FEW_FAULT_ROWS[2:])


def make_corpus(folder: Path = BAD) -> list[Path]:
    """Write every case into ``folder`` (emptied first) and return the paths written."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    written = []
    for name, (_what, content) in cases().items():
        path = folder / name
        data = content()
        if data is None:
            path.mkdir()
            # Git keeps no empty folders; the note explains the folder to whoever opens it.
            (path / "README.md").write_text("A folder named like a CSV file: `segments train --data` must refuse it.\n")
        elif isinstance(data, str):
            path.write_bytes(data.encode("utf-8"))
        else:
            path.write_bytes(data)
        written.append(path)
    table = "".join(f"| `{name}` | {what} |\n" for name, (what, _content) in cases().items())
    (folder / "README.md").write_text(
        "# Bad-input corpus\n\n"
        "Generated by `python tests/data/make_bad_inputs.py` (deterministic); do not edit by hand.\n"
        "Most files are the same 100 valid shipments of 10 customers with one thing wrong.\n"
        "`tests/test_bad_inputs.py` says what `segments train` must answer for each.\n\n"
        "| file | what is wrong |\n|---|---|\n" + table
    )
    return written


if __name__ == "__main__":
    paths = make_corpus(Path(sys.argv[1]) if len(sys.argv) > 1 else BAD)
    print(f"wrote {len(paths)} cases to {paths[0].parent}")
