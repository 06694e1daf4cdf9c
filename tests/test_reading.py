"""Reading the files people have: formats, CSV dialects, order lines, dates, countries, guests, and the read
options recorded with a model and reused by ``score`` (docs/architecture.md#reading-options)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.conftest import as_text, write_csv
from tests.data.make_bad_inputs import base_rows, french_rows, to_csv
from workflow.countries import country_code, map_countries
from workflow.data import ReadOptions, group_orders, number_text, parse_column_mapping, read_shipments
from workflow.errors import DataError
from workflow.features import build_features

TODAY = pd.Timestamp("2026-11-24")
GOOD = """
    customer_id,date,amount,weight_kg,destination_country,returned
    A,2026-03-01,10.00,1.0,FR,false
    A,2026-03-05,20.50,3.0,BE,true
    B,2026-03-08,-5.00,10.0,US,false
    C,2026-02-20,7.50,0.5,FR,false
"""


def read(path: Path, **options) -> tuple[pd.DataFrame, object]:
    return read_shipments(path, today=TODAY, **options)


@pytest.fixture
def good(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    path = write_csv(tmp_path / "good.csv", GOOD)
    return path, read(path)[0]


# --- formats and dialects -----------------------------------------------------------------------


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_separators_are_detected(sep: str, good, tmp_path: Path) -> None:
    path, expected = good
    other = tmp_path / "other.csv"
    other.write_text(path.read_text().replace(",", sep))
    frame, report = read(other)
    pd.testing.assert_frame_equal(frame, expected)
    assert report.read_options.get("sep") == sep
    assert ("tab-separated" if sep == "\t" else f"'{sep}'-separated") in report.read_as


def test_decimal_comma_in_a_semicolon_file(good, tmp_path: Path) -> None:
    path, expected = good
    french = tmp_path / "french.csv"
    french.write_text(path.read_text().replace(",", ";").replace(".", ","))
    frame, report = read(french)
    pd.testing.assert_frame_equal(frame, expected)
    assert report.read_as == "';'-separated, decimal comma"
    assert report.read_options == {"sep": ";", "decimal": ","}


def test_decimal_comma_elsewhere_only_when_asked(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "comma.csv", 'customer_id,date,amount\nA,2026-03-01,"12,50"\nB,2026-03-02,3.5\n')
    _, report = read(path, max_bad_share=1.0)
    assert [(p.column, p.rule, p.rows) for p in report.problems] == [("amount", "not a number", [1])]
    frame, report = read(path, options=ReadOptions(decimal=","))
    assert frame["amount"].tolist() == [12.5, 3.5]
    assert report.read_options == {"decimal": ","}
    # A dot in a ';' file is still a decimal point, or groups thousands in threes; other mixes are no number.
    mixed = write_csv(
        tmp_path / "mixed.csv", "customer_id;date;amount\nA;2026-03-01;1.5\nB;2026-03-02;1.234,5\nC;2026-03-02;1.23,4\n"
    )
    frame, report = read(mixed, max_bad_share=1.0)
    assert frame["amount"].tolist() == [1.5, 1234.5]
    assert [(p.column, p.rows) for p in report.problems] == [("amount", [3])]


@pytest.mark.parametrize(
    ("text", "decimal_comma", "number"),
    [
        ("$1,234.50", False, 1234.5),  # a US export
        ("(12.00)", False, -12.0),  # an accounting negative
        ("12 345 678", False, 12345678.0),
        ("1,5", False, None),  # a comma that does not group three digits is no thousands separator
        ("1 234,50 €", True, 1234.5),  # a French export (with a no-break space too, below)
        ("1\u202f234,50\u00a0€", True, 1234.5),
        ("1.234,50", True, 1234.5),  # a German or Excel-FR export
        ("12,50", True, 12.5),
        ("£-3.10", False, -3.1),
        ("1,23,4", False, None),
        ("twelve", False, None),
    ],
)
def test_spreadsheet_numbers(text: str, decimal_comma: bool, number: float | None) -> None:
    rewritten, _ = number_text(pd.Series([text]), decimal_comma=decimal_comma)
    value = pd.to_numeric(rewritten, errors="coerce").iloc[0]
    assert np.isnan(value) if number is None else value == pytest.approx(number), rewritten.iloc[0]


def test_bom_with_another_separator(good, tmp_path: Path) -> None:
    path, expected = good
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_text().replace(",", ";").encode())
    frame, report = read(bom)
    pd.testing.assert_frame_equal(frame, expected)
    assert "encoding" not in report.read_options


def test_cp1252_needs_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "cp1252.csv"
    path.write_bytes("N° client;Date;Montant\nÉlise;2026-03-01;12,5\n".encode("cp1252"))
    mapping = "customer_id=N° client,date=Date,amount=Montant"
    with pytest.raises(DataError, match=r"not utf-8 text: byte 0xB0 on line 1 \(the header\).*--encoding cp1252"):
        read(path, options=ReadOptions.from_cli(mapping))
    frame, report = read(path, options=ReadOptions.from_cli(mapping, encoding="cp1252"))
    assert frame["customer_id"].tolist() == ["Élise"]
    assert frame["amount"].tolist() == [12.5]
    assert report.read_as == "';'-separated, decimal comma, cp1252"
    assert report.read_options["encoding"] == "cp1252"


def test_csv_gz(good, tmp_path: Path) -> None:
    path, expected = good
    packed = tmp_path / "good.csv.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    frame, _ = read(packed)
    pd.testing.assert_frame_equal(frame, expected)
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(path.read_bytes())[:30])
    with pytest.raises(DataError, match=r"broken\.csv\.gz: not a readable gzip file"):
        read(broken)


def test_xlsx_first_sheet_and_sheet_option(good, tmp_path: Path) -> None:
    path, expected = good
    table = pd.read_csv(path)
    table["date"] = pd.to_datetime(table["date"])  # real date cells
    book = tmp_path / "good.xlsx"
    with pd.ExcelWriter(book, engine="openpyxl") as writer:
        table.to_excel(writer, sheet_name="Shipments", index=False)
        table.head(2).to_excel(writer, sheet_name="Extract", index=False)
    frame, report = read(book)
    pd.testing.assert_frame_equal(as_text(frame), as_text(expected))
    assert report.read_options == {}
    frame, report = read(book, options=ReadOptions(sheet="Extract"))
    assert len(frame) == 2
    assert report.read_options == {"sheet": "Extract"}
    assert report.read_as == "sheet 'Extract'"
    with pytest.raises(DataError, match=r"no sheet 'Other'; the workbook has 'Shipments', 'Extract'"):
        read(book, options=ReadOptions(sheet="Other"))


def test_xlsx_blank_rows_and_empty_columns_are_skipped(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["customer_id", "date", "amount", None, None])
    sheet.append(["A", "2026-03-01", 1.5])
    sheet.append([])
    sheet.append(["B", "2026-03-02", 2])
    sheet.cell(row=8, column=5).number_format = "0.00"  # an empty, formatted cell far down
    sheet.cell(row=8, column=5).value = ""
    path = tmp_path / "blank.xlsx"
    book.save(path)
    frame, report = read(path)
    assert frame["customer_id"].tolist() == ["A", "B"]
    assert (report.rows_read, report.guest_rows) == (2, 0)


def test_xlsx_number_ids_and_text_dates(tmp_path: Path) -> None:
    book = tmp_path / "ids.xlsx"
    pd.DataFrame(
        {"customer_id": [13085.0, 7.0, None], "date": ["31/12/2025", "01/02/2026", "02/02/2026"], "amount": [1, 2, 3]}
    ).to_excel(book, index=False)
    frame, report = read(book)
    assert frame["customer_id"].tolist() == ["13085", "7"]  # not 13085.0
    assert frame["date"].tolist() == list(pd.to_datetime(["2025-12-31", "2026-02-01"]))
    assert report.guest_rows == 1


def test_unsupported_and_unreadable_workbooks(tmp_path: Path) -> None:
    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=r"fake\.xlsx: not a readable \.xlsx workbook"):
        read(fake)
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DataError, match=r"unsupported file type '\.xls'; use \.csv, \.csv\.gz, \.parquet or \.xlsx"):
        read(old)


# --- column mapping: orders, products, names ------------------------------------------------------

LINES = """
    N° facture,N° client,Date,Quantité,Prix unitaire,returned,weight_kg,destination_country
    100,A,2026-03-01 10:00,2,5.00,false,1.0,FR
    100,A,2026-03-01 10:00,1,3.50,true,2.0,FR
    101,A,2026-03-04 09:00,4,1.25,false,0.5,BE
    C102,A,2026-03-05 09:00,-1,5.00,false,0.5,FR
    200,B,2026-03-02 08:00,10,2.00,false,3.0,DE
    200,B,2026-03-01 17:00,1,2.00,false,1.0,FR
"""
ORDER_MAPPING = "customer_id=N° client,date=Date,order_id=N° facture,amount=Quantité*Prix unitaire"


def test_parse_column_mapping_with_orders_products_and_odd_names() -> None:
    assert parse_column_mapping(ORDER_MAPPING) == {
        "N° client": "customer_id",
        "Date": "date",
        "N° facture": "order_id",
        "Quantité*Prix unitaire": "amount",
    }
    with pytest.raises(DataError, match=r"only amount or weight_kg may be the product of two columns"):
        parse_column_mapping("customer_id=A*B")
    with pytest.raises(DataError, match=r"only amount or weight_kg"):
        parse_column_mapping("amount=A*B*C")


def test_lines_become_orders(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "lines.csv", LINES)
    frame, report = read(path, options=ReadOptions.from_cli(ORDER_MAPPING))
    assert (report.rows_kept, report.orders) == (6, 4)
    assert "6 lines → 4 orders" in " ".join(report.notes())
    orders = frame.set_index(frame["customer_id"] + "/" + frame["date"].astype("str"))
    # Order 100: 2 × 5.00 + 1 × 3.50; a flag of any line; weights add up; the first line's country.
    assert orders.loc["A/2026-03-01 10:00:00", ["amount", "returned", "weight_kg"]].tolist() == [13.5, True, 3.0]
    # The cancellation invoice is an order of its own, a refund.
    assert orders.loc["A/2026-03-05 09:00:00", "amount"] == -5.0
    # Order 200's first line is the earliest one (17:00 the day before), and so are its date and country.
    assert orders.loc["B/2026-03-01 17:00:00", ["amount", "destination_country"]].tolist() == [22.0, "FR"]
    features = build_features(frame)
    assert features.loc["A", "frequency"] == 3
    assert features.loc["B", "frequency"] == 1
    assert features.loc["A", "monetary"] == 13.5 + 5.0 - 5.0


def test_group_orders_keeps_the_contract_columns() -> None:
    lines = pd.DataFrame(
        {
            "customer_id": ["A", "A"],
            "date": pd.to_datetime(["2026-03-02", "2026-03-01"]),
            "amount": [1.0, 2.0],
            "service": ["Chrono 13", "Chrono Relais"],
            "order_id": ["1", "1"],
        }
    )
    orders = group_orders(lines)
    assert list(orders.columns) == ["customer_id", "date", "amount", "service"]
    assert orders.iloc[0].tolist() == ["A", pd.Timestamp("2026-03-01"), 3.0, "Chrono Relais"]


def test_a_product_with_a_bad_factor_is_an_amount_fault(tmp_path: Path) -> None:
    text = LINES.replace("101,A,2026-03-04 09:00,4,1.25", "101,A,2026-03-04 09:00,four,1.25")
    path = write_csv(tmp_path / "lines.csv", text)
    _, report = read(path, options=ReadOptions.from_cli(ORDER_MAPPING), max_bad_share=1.0)
    assert [(p.column, p.rule, p.rows) for p in report.problems] == [("amount", "not a number", [3])]


def test_a_missing_factor_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "lines.csv", LINES)
    with pytest.raises(DataError, match=r"--columns amount=Qty\*Prix unitaire: no such column"):
        read(path, options=ReadOptions.from_cli("customer_id=N° client,date=Date,amount=Qty*Prix unitaire"))


# --- dates ----------------------------------------------------------------------------------------


def dates_file(tmp_path: Path, values: list[str]) -> Path:
    rows = "".join(f"C{i},{value},1\n" for i, value in enumerate(values))
    return write_csv(tmp_path / "dates.csv", "customer_id,date,amount\n" + rows)


@pytest.mark.parametrize(
    ("values", "expected", "described"),
    [
        (["01/12/2010 08:26", "13/12/2010 9:05", "2/1/2011 10:00"], ["2010-12-01 08:26", "2010-12-13 09:05",
                                                                      "2011-01-02 10:00"], "dd/mm/yyyy HH:MM"),
        (["12/1/2010 8:26", "12/13/2010 09:05:30", "1/2/2011"], ["2010-12-01 08:26", "2010-12-13 09:05:30",
                                                                 "2011-01-02"], "mm/dd/yyyy HH:MM:SS"),
        (["25.12.25", "01.02.26"], ["2025-12-25", "2026-02-01"], "dd.mm.yy"),
    ],
)  # fmt: skip
def test_day_month_order_is_read_off_the_column(
    values: list[str], expected: list[str], described: str, tmp_path: Path
) -> None:
    frame, report = read(dates_file(tmp_path, values))
    assert frame["date"].tolist() == list(pd.to_datetime(expected, format="ISO8601"))
    assert report.read_as == f"dates {described}"
    assert report.read_options["date_format"].startswith("%d" if described.startswith("dd") else "%m")


def test_a_column_that_reads_both_ways_stops_with_the_two_formats(tmp_path: Path) -> None:
    path = dates_file(tmp_path, ["01/02/2026 10:00", "03/04/2026 11:00", "05/06/2026 12:00"])
    with pytest.raises(DataError) as caught:
        read(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: column 'date': every date reads as day/month and as month/day")
    assert "--date-format '%d/%m/%Y %H:%M' or --date-format '%m/%d/%Y %H:%M'" in message
    frame, report = read(path, options=ReadOptions(date_format="%m/%d/%Y %H:%M"))
    assert frame["date"].iloc[0] == pd.Timestamp("2026-01-02 10:00")
    assert report.read_options["date_format"] == "%m/%d/%Y %H:%M"
    # A format recorded with a model decides a column that cannot decide by itself...
    frame, _ = read(path, recorded=ReadOptions(date_format="%d/%m/%Y %H:%M"))
    assert frame["date"].iloc[0] == pd.Timestamp("2026-02-01 10:00")
    # ...but never overrides what the values say.
    other = dates_file(tmp_path, ["12/13/2025", "01/02/2026"])
    frame, _ = read(other, recorded=ReadOptions(date_format="%d/%m/%Y"))
    assert frame["date"].tolist() == list(pd.to_datetime(["2025-12-13", "2026-01-02"]))


def test_the_ambiguous_column_exits_2_on_one_line(tmp_path: Path, mlflow_store: str, cli) -> None:
    path = dates_file(tmp_path, ["01/02/2026", "03/04/2026", "05/06/2026"])
    result = cli("train", "--data", path, "--k", "2")
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == 2
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {path}: column 'date': every date reads")
    assert "--date-format '%d/%m/%Y' or --date-format '%m/%d/%Y'" in lines[0]


def test_unparseable_values_in_a_day_month_column_are_faults(tmp_path: Path) -> None:
    path = dates_file(tmp_path, ["31/12/2025", "30/02/2026", "yesterday", "2026-01-05", "15/01/2026"])
    frame, report = read(path, max_bad_share=1.0)
    assert {(p.rule, tuple(p.rows)) for p in report.problems} == {("unparseable date (expected dd/mm/yyyy)", (2, 3))}
    # Year-first values read in any column.
    assert frame["date"].tolist() == list(pd.to_datetime(["2025-12-31", "2026-01-05", "2026-01-15"]))


def test_a_forced_format_that_is_not_day_month(tmp_path: Path) -> None:
    path = dates_file(tmp_path, ["20260301", "20260302", "2026-03-03"])
    frame, report = read(path, options=ReadOptions(date_format="%Y%m%d"), max_bad_share=1.0)
    assert frame["date"].tolist() == list(pd.to_datetime(["2026-03-01", "2026-03-02"]))
    assert [(p.rule, p.rows) for p in report.problems] == [("unparseable date (expected yyyymmdd)", [3])]


# --- countries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("FR", "FR"),
        (" fr ", "FR"),
        ("GBR", "GB"),
        ("United Kingdom", "GB"),
        ("Royaume-Uni", "GB"),
        ("EIRE", "IE"),
        ("USA", "US"),
        ("États-Unis", "US"),
        ("Allemagne", "DE"),
        ("Deutschland", "DE"),
        ("Unspecified", None),
        ("European Community", None),
        ("", None),
    ],
)
def test_country_code(value: str, code: str | None) -> None:
    assert country_code(value) == code


def test_countries_are_mapped_once_per_value_and_unknowns_counted() -> None:
    values = pd.Series(["United Kingdom", "EIRE", "Unspecified", "United Kingdom", None, "Unspecified", "FRA"])
    codes, unknown = map_countries(values)
    assert codes.astype("object").where(codes.notna(), None).tolist() == ["GB", "IE", None, "GB", None, None, "FR"]
    assert unknown == {"Unspecified": 2, "": 1}


def test_unknown_countries_keep_their_rows(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "countries.csv",
        """
        customer_id,date,amount,destination_country
        A,2026-03-01,10,Royaume-Uni
        A,2026-03-02,10,European Community
        A,2026-03-03,10,Irlande
        B,2026-03-04,10,Unspecified
        """,
    )
    frame, report = read(path, max_bad_share=0.0)
    assert not report.problems
    assert len(frame) == 4
    assert report.unknown_countries == {"European Community": 1, "Unspecified": 1}
    assert "destination_country: 2 rows (50.0 %) name no country (European Community 1, Unspecified 1)" in (
        " ".join(report.notes())
    )
    features = build_features(frame, home_country="GB")
    # An unknown destination is not abroad; the row still counts for frequency and revenue.
    assert features.loc["A", ["frequency", "monetary", "international_share"]].tolist() == [3, 30, 1 / 3]
    assert features.loc["B", "international_share"] == 0


# --- guests ---------------------------------------------------------------------------------------


def test_guest_rows_are_counted_apart_and_not_against_the_limit(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "guests.csv",
        """
        customer_id,date,amount
        A,2026-03-01,30
        ,2026-03-02,10
        "  ",2026-03-03,yesterday
        B,2026-03-04,60
        ,not a date,
        """,
    )
    frame, report = read(path, max_bad_share=0.0)
    assert frame["customer_id"].tolist() == ["A", "B"]
    assert not report.problems  # a guest row's other faults are not counted either
    assert (report.rows_read, report.guest_rows, report.rows_kept, report.rows_dropped) == (5, 3, 2, 0)
    assert report.guest_revenue_share == pytest.approx(10 / 100)
    assert report.to_dict()["guest_row_share"] == 0.6
    assert "3 rows (60.0 %) without a customer id (guest sales, 10.0 % of revenue): left out" in report.notes()
    only_guests = write_csv(tmp_path / "only.csv", "customer_id,date,amount\n,2026-03-01,1\n")
    with pytest.raises(DataError, match=r"no row has a customer id \(1 guest rows left out\)"):
        read(only_guests)


# --- read options ---------------------------------------------------------------------------------


def test_read_options_round_trip_and_merge() -> None:
    options = ReadOptions.from_cli(ORDER_MAPPING, decimal=",", encoding="cp1252", date_format="%d/%m/%Y %H:%M")
    assert ReadOptions.from_json(options.to_json()) == options
    assert json.loads(options.to_json())["columns"]["amount"] == "Quantité*Prix unitaire"
    assert ReadOptions.from_json("") == ReadOptions() == ReadOptions.from_dict(None)
    assert ReadOptions(sep=";").over(options).sep == ";"
    assert ReadOptions(sep=";").over(options).encoding == "cp1252"
    assert ReadOptions.from_dict({"sep": ";", "from_the_future": 1}) == ReadOptions(sep=";")
    with pytest.raises(DataError, match=r"--decimal ;: expected \. or ,"):
        ReadOptions.from_cli(decimal=";")
    with pytest.raises(DataError, match=r"--encoding nope: unknown text encoding"):
        ReadOptions.from_cli(encoding="nope")


def test_a_recorded_mapping_applies_only_to_files_that_have_its_columns(good, tmp_path: Path) -> None:
    path, expected = good
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(path.read_text().replace("customer_id,date,amount", "Client,Jour,Total", 1))
    recorded = ReadOptions.from_cli("customer_id=Client,date=Jour,amount=Total")
    pd.testing.assert_frame_equal(read(renamed, recorded=recorded)[0], expected)
    pd.testing.assert_frame_equal(read(path, recorded=recorded)[0], expected)  # the contract's names
    other = tmp_path / "other.csv"
    other.write_text(path.read_text().replace("customer_id,date,amount", "Kunde,Datum,Betrag", 1))
    with pytest.raises(DataError, match=r"the model was trained with --columns 'customer_id=Client.*no Client, Jour"):
        read(other, recorded=recorded)


FRENCH_HEADER = [
    "N° client",
    "Date d'expédition",
    "Montant TTC",
    "weight_kg",
    "service",
    "Pays",
    "delivered_late",
    "returned",
    "customer_type",
]
FRENCH_MAPPING = "customer_id=N° client,date=Date d'expédition,amount=Montant TTC,destination_country=Pays"


def french_export(path: Path) -> Path:
    """The bad-input corpus's 100 valid rows as a French spreadsheet exports them (cp1252, ';', commas, dd/mm)."""
    rows = french_rows(base_rows())
    names = {"FR": "France", "DE": "Allemagne", "US": "États-Unis", "CN": "Chine", "BE": "Belgique", "IT": "Italie"}
    for row in rows:
        row[5] = names.get(row[5], row[5])
    path.write_bytes(to_csv(rows, FRENCH_HEADER, delimiter=";").encode("cp1252"))
    return path


def test_score_reads_a_file_of_the_training_shape_with_no_options(tmp_path: Path, mlflow_store: str, cli) -> None:
    data = french_export(tmp_path / "export.csv")
    trained = cli(
        "train", "--data", data, "--k", "2-3", "--n-init", "1", "--columns", FRENCH_MAPPING, "--encoding", "cp1252",
        "--home-country", "France",
    )  # fmt: skip
    assert trained.code == 0, trained.err
    assert "read as ';'-separated, decimal comma, cp1252, dates dd/mm/yyyy" in " ".join(trained.err.split())
    client = MlflowClient(mlflow_store)
    version = client.get_model_version("customer-segments", "1")
    expected = {
        "columns": {
            "customer_id": "N° client",
            "date": "Date d'expédition",
            "amount": "Montant TTC",
            "destination_country": "Pays",
        },
        "sep": ";",
        "decimal": ",",
        "encoding": "cp1252",
        "date_format": "%d/%m/%Y",
    }
    assert json.loads(version.tags["read_options"]) == expected
    assert version.tags["home_country"] == "FR"
    run = client.get_run(version.run_id)
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert json.loads(parent.data.params["read_options"]) == expected
    assert json.loads(parent.data.tags["segments.read_options"]) == expected

    # Another export of the same shape: score needs no option.
    same_shape = french_export(tmp_path / "next_month.csv")
    out = tmp_path / "scores.csv"
    scored = cli("score", "--data", same_shape, "--out", out, "--model", "candidate")
    assert scored.code == 0, scored.err
    assert sorted(pd.read_csv(out)["customer_id"]) == sorted({row[0] for row in base_rows()})
    # Options given to score win over the recorded ones.
    wrong = cli("score", "--data", same_shape, "--out", out, "--model", "candidate", "--columns", "customer_id=Nope")
    assert wrong.code == 2
    assert "--columns customer_id=Nope: no such column" in wrong.err
    # The same data in the contract's shape (Parquet) reads without the recorded mapping.
    plain = tmp_path / "plain.parquet"
    read(data, options=ReadOptions.from_cli(FRENCH_MAPPING, encoding="cp1252"))[0].to_parquet(plain)
    assert cli("score", "--data", plain, "--out", tmp_path / "plain_scores.csv", "--model", "candidate").code == 0


def test_home_country_by_name_and_refused_when_unknown(tmp_path: Path, mlflow_store: str, cli) -> None:
    bad = cli("train", "--data", tmp_path / "x.csv", "--home-country", "Atlantis")
    assert bad.code == 2
    assert "--home-country Atlantis: not a country code or name" in bad.err


def test_dashboard_loader_uses_the_recorded_options(tmp_path: Path) -> None:
    from dashboard.store import load_features

    data = french_export(tmp_path / "export.csv")
    recorded = ReadOptions.from_cli(FRENCH_MAPPING, encoding="cp1252").to_json()
    features = load_features(str(data), None, "FR", "", recorded)
    assert len(features) == 10
    with pytest.raises(DataError, match="not utf-8 text"):
        load_features(str(data), None, "FR", "", "")


def test_the_spark_engine_refuses_what_it_does_not_apply(tmp_path: Path, mlflow_store: str, cli) -> None:
    from workflow.spark_engine.data import _refuse_order_lines

    header = ["Invoice", "Customer", "Quantity", "Price"]
    with pytest.raises(DataError, match=r"--columns order_id=Invoice, amount=Quantity\*Price: the Spark engine"):
        _refuse_order_lines("x.parquet", header, {"Invoice": "order_id", "Quantity*Price": "amount"})
    _refuse_order_lines("x.parquet", header, {"Customer": "customer_id"})  # a plain mapping is fine
    result = cli("train", "--data", tmp_path / "x.parquet", "--engine", "spark", "--sheet", "S", "--decimal", ",")
    assert result.code == 2
    assert "--sheet, --decimal: the Spark engine reads Parquet only; use the default engine" in result.err


def test_help_lists_the_reading_options(cli) -> None:
    result = cli("train", "--help")
    assert result.code == 0
    for option in ("--sheet", "--decimal", "--date-format", "--encoding", "--home-country"):
        assert option in result.out


# --- the real retail log and its re-saved variants ----------------------------------------------

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail_ii_2009_2010.csv.gz"
REAL_MAPPING = (
    "customer_id=Customer ID,date=InvoiceDate,order_id=Invoice,amount=Quantity*Price,destination_country=Country"
)
FRENCH_NAMES = {
    "Invoice": "N° facture",
    "StockCode": "Référence",
    "Description": "Désignation",
    "Quantity": "Quantité",
    "InvoiceDate": "Date de facture",
    "Price": "Prix unitaire",
    "Customer ID": "N° client",
    "Country": "Pays",
}


@pytest.fixture(scope="module")
def real_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every line of one customer in 60 of the UCI Online Retail II log, and of one guest invoice in 60.

    A sample by customer keeps whole orders and a year of dates (the first lines of the file are all
    from 1 and 2 December 2009: a day/month column that reads both ways). Values are kept as written.
    """
    if not REAL.is_file():
        pytest.skip(f"{REAL} is absent (the shared data folder sits beside the repository)")
    log = pd.read_csv(REAL, dtype="str", keep_default_na=False)
    customer = pd.to_numeric(log["Customer ID"].str.split(".").str[0], errors="coerce")
    invoice = pd.to_numeric(log["Invoice"].str.lstrip("CA"), errors="coerce")
    sample = log[(customer % 60 == 0) | ((log["Customer ID"] == "") & (invoice % 60 == 0))]
    path = tmp_path_factory.mktemp("real") / "sample.csv.gz"
    sample.to_csv(path, index=False)
    return path


def french_variant(original: pd.DataFrame, path: Path) -> Path:
    """A French spreadsheet's export: French headers and names, ';', decimal commas, dd/mm/yyyy HH:MM, cp1252."""
    french = original.copy()
    french["InvoiceDate"] = pd.to_datetime(french["InvoiceDate"]).dt.strftime("%d/%m/%Y %H:%M")
    french["Price"] = french["Price"].map(lambda price: f"{price:g}".replace(".", ","))
    import gettext

    import pycountry

    translation = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["fr"])

    def in_french(name: str) -> str:
        code = country_code(name)
        return translation.gettext(pycountry.countries.get(alpha_2=code).name) if code else name

    french["Country"] = french["Country"].map(in_french)
    french = french.rename(columns=FRENCH_NAMES)
    path.write_bytes(french.to_csv(sep=";", index=False).encode("cp1252", errors="replace"))
    return path


def test_the_real_log_reads_the_same_from_every_shape(real_sample: Path, tmp_path: Path) -> None:
    original = pd.read_csv(real_sample, dtype={"Customer ID": "str", "Invoice": "str", "StockCode": "str"})
    shipments, report = read_shipments(real_sample, options=ReadOptions.from_cli(REAL_MAPPING))
    expected = build_features(shipments, home_country="GB")
    assert report.guest_rows == original["Customer ID"].isna().sum() > 0
    assert report.orders < report.rows_kept
    assert len(expected) == original["Customer ID"].nunique()

    french_mapping = ",".join(f"{ours}={FRENCH_NAMES.get(theirs, theirs)}" for ours, theirs in (
        item.split("=") for item in REAL_MAPPING.replace("Quantity*Price", "Quantité*Prix unitaire").split(",")
    ))  # fmt: skip
    french = french_variant(original, tmp_path / "export.csv")
    shipments_fr, report_fr = read_shipments(french, options=ReadOptions.from_cli(french_mapping, encoding="cp1252"))
    assert report_fr.read_as == "';'-separated, decimal comma, cp1252, dates dd/mm/yyyy HH:MM"
    pd.testing.assert_frame_equal(build_features(shipments_fr, home_country="GB"), expected)

    book = tmp_path / "export.xlsx"
    typed = original.assign(InvoiceDate=pd.to_datetime(original["InvoiceDate"]))
    typed["Customer ID"] = pd.to_numeric(typed["Customer ID"])  # number cells, as Excel keeps them
    typed.to_excel(book, index=False, sheet_name="Year 2009-2010")
    shipments_xl, _ = read_shipments(book, options=ReadOptions.from_cli(REAL_MAPPING))
    pd.testing.assert_frame_equal(build_features(shipments_xl, home_country="GB"), expected)
    assert np.array_equal(np.sort(shipments_xl["customer_id"].unique()), np.sort(shipments["customer_id"].unique()))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            '[{"customer_id": "A", "date": "2026-01-01", "amount": 12.5}]\n',
            "looks like JSON (the first line starts with '[')",
        ),
        (
            '{"customer_id": "A", "date": "2026-01-01", "amount": 12.5}\n',
            "looks like JSON (the first line starts with '{')",
        ),
        ("<html><body>Export failed</body></html>\n", "looks like XML or HTML (the first line starts with '<')"),
    ],
)
def test_json_or_html_given_as_csv_is_named_in_one_short_line(text: str, says: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", text)
    with pytest.raises(DataError) as refused:
        read(path)
    message = str(refused.value)
    assert message == f"{path}: {says}, not CSV; export it as CSV with a header line, or as Parquet"
    assert "\n" not in message
    assert len(message) < 200


def test_a_long_header_is_cut_in_the_message(tmp_path: Path) -> None:
    names = [f"column_with_a_long_name_{i}" for i in range(40)]
    path = write_csv(tmp_path / "wide.csv", ",".join(names) + "\n" + ",".join("1" * 40) + "\n")
    with pytest.raises(DataError, match=r"missing required column\(s\) customer_id, date, amount") as refused:
        read(path)
    assert "… (40 columns)" in str(refused.value)
    assert len(str(refused.value)) < 400
