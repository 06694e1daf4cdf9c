"""Reading and validating shipment files: formats, mapping, row faults and the report.

The contract: docs/architecture.md#data-contract.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import as_text, write_csv
from workflow.data import (
    AMBIGUOUS_DATE,
    UNPARSEABLE_DATE,
    ValidationReport,
    data_digest,
    parse_column_mapping,
    read_shipments,
)
from workflow.errors import DataError

TODAY = pd.Timestamp("2026-11-24")

GOOD = """
    customer_id,date,amount,weight_kg,service,destination_country,delivered_late,returned,customer_type
    A,2026-03-01,10.00,1.0,Chrono 10,FR,false,false,B2B
    A,2026-03-05,20.50,3.0,Chrono Relais,BE,true,false,B2B
    B,2026-03-08,-5.00,10.0,Chrono Express,US,false,true,B2C
    C,2026-02-20,7.50,0.5,Chrono Relais,FR,false,false,B2C
"""


def read(path: Path, **options) -> tuple[pd.DataFrame, ValidationReport]:
    return read_shipments(path, today=TODAY, **options)


def typed_table(frame: pd.DataFrame) -> pa.Table:
    """A Parquet-ready table with real types: dates as date32, booleans as bool."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return table.set_column(table.column_names.index("date"), "date", table["date"].cast(pa.date32()))


# --- formats ------------------------------------------------------------------------------------


def test_csv_is_typed_by_the_contract(tmp_path: Path) -> None:
    shipments, report = read(write_csv(tmp_path / "good.csv", GOOD))
    assert report.rows_read == report.rows_kept == 4
    assert not report.problems
    assert shipments["customer_id"].tolist() == ["A", "A", "B", "C"]
    assert shipments["date"].dtype == "datetime64[ns]"
    dates = ["2026-03-01", "2026-03-05", "2026-03-08", "2026-02-20"]
    assert shipments["date"].tolist() == pd.to_datetime(dates).tolist()
    assert shipments["amount"].tolist() == [10.0, 20.5, -5.0, 7.5]
    assert shipments["delivered_late"].dtype == bool
    assert shipments["returned"].tolist() == [False, False, True, False]


def test_csv_and_parquet_read_to_the_same_frame_and_digest(tmp_path: Path) -> None:
    csv_frame, _ = read(write_csv(tmp_path / "good.csv", GOOD))
    parquet_path = tmp_path / "good.parquet"
    pq.write_table(typed_table(csv_frame), parquet_path)
    parquet_frame, report = read(parquet_path)
    assert report.rows_kept == 4
    pd.testing.assert_frame_equal(as_text(parquet_frame), as_text(csv_frame))
    assert data_digest(parquet_frame) == data_digest(csv_frame)


def test_parquet_with_timestamps_and_categories_reads_the_same(tmp_path: Path) -> None:
    csv_frame, _ = read(write_csv(tmp_path / "good.csv", GOOD))
    other = csv_frame.assign(
        service=csv_frame["service"].astype("category"),
        date=csv_frame["date"].dt.tz_localize("Europe/Paris"),  # wall time kept
    )
    path = tmp_path / "typed.parquet"
    other.to_parquet(path)
    frame, _ = read(path)
    # A categorical column stays categorical (cheap at 10M rows) with the same values and digest.
    assert isinstance(frame["service"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(as_text(frame), as_text(csv_frame))
    assert data_digest(frame) == data_digest(csv_frame)


def test_categorical_text_is_cleaned_per_category_and_equal_categories_merge(tmp_path: Path) -> None:
    csv_frame, _ = read(write_csv(tmp_path / "good.csv", GOOD))
    padded = csv_frame.assign(
        destination_country=pd.Categorical([" fr", "FR ", "de"] * (len(csv_frame) // 3) + ["fr"] * (len(csv_frame) % 3))
    )
    path = tmp_path / "padded.parquet"
    padded.to_parquet(path)
    frame, _ = read(path)
    assert list(frame["destination_country"].cat.categories) == ["DE", "FR"]
    expected = padded["destination_country"].astype("str").str.strip().str.upper()
    assert list(frame["destination_country"].astype("str")) == list(expected)


def test_clean_categorical_text_is_kept_as_written(tmp_path: Path) -> None:
    csv_frame, _ = read(write_csv(tmp_path / "good.csv", GOOD))
    # Categories in the writer's order (not sorted) and already clean: nothing to merge or rewrite.
    countries = pd.Categorical(
        ["FR", "BE"] * (len(csv_frame) // 2) + ["FR"] * (len(csv_frame) % 2), categories=["FR", "BE"]
    )
    path = tmp_path / "clean.parquet"
    csv_frame.assign(destination_country=countries).to_parquet(path)
    frame, _ = read(path)
    assert list(frame["destination_country"].cat.categories) == ["FR", "BE"]
    assert frame["destination_country"].cat.codes.tolist() == list(countries.codes)
    reordered = csv_frame.assign(destination_country=countries.reorder_categories(["BE", "FR"]))
    assert data_digest(frame) == data_digest(reordered)  # the digest hashes values, not category codes


def test_generated_csv_and_parquet_have_the_same_digest(tmp_path: Path) -> None:
    from workflow.synth import generate_shipments, write_dataset

    shipments, customers = generate_shipments(40, 2, seed=5)
    write_dataset(shipments, customers, tmp_path / "s.csv")
    write_dataset(shipments, customers, tmp_path / "s.parquet")
    from_csv, _ = read(tmp_path / "s.csv")
    from_parquet, _ = read(tmp_path / "s.parquet")
    pd.testing.assert_frame_equal(as_text(from_csv), as_text(from_parquet))
    assert data_digest(from_csv) == data_digest(from_parquet)


def test_digest_changes_with_the_data(tmp_path: Path) -> None:
    frame, _ = read(write_csv(tmp_path / "good.csv", GOOD))
    changed = frame.assign(amount=frame["amount"].where(frame.index != 2, -5.01))
    assert data_digest(changed) != data_digest(frame)
    assert data_digest(frame.copy()) == data_digest(frame)


def test_bom_crlf_and_padded_header_names(tmp_path: Path) -> None:
    expected, _ = read(write_csv(tmp_path / "good.csv", GOOD))
    text = (tmp_path / "good.csv").read_text().replace("customer_id,date", " customer_id , date")
    path = tmp_path / "windows.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    frame, _ = read(path)
    pd.testing.assert_frame_equal(frame, expected)


def test_trailing_delimiters_do_not_shift_the_columns(tmp_path: Path) -> None:
    expected, _ = read(write_csv(tmp_path / "good.csv", GOOD))
    text = (tmp_path / "good.csv").read_text().replace("\n", ",\n")
    frame, _ = read(write_csv(tmp_path / "trailing.csv", text))
    pd.testing.assert_frame_equal(frame, expected)


def test_ids_are_text_and_only_an_empty_cell_is_missing(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "ids.csv",
        '''
        customer_id,date,amount
        007,2026-03-01,1
        NA,2026-03-01,1
        NULL,2026-03-01,1
        "ACME, Inc.",2026-03-01,1
        "Le ""Pli""",2026-03-01,1
        <b>x</b>,2026-03-01,1
        ,2026-03-01,1
        ''',
    )
    frame, report = read(path)
    assert frame["customer_id"].tolist() == ["007", "NA", "NULL", "ACME, Inc.", 'Le "Pli"', "<b>x</b>"]
    # The empty id is a guest sale: left out and counted apart, not a fault.
    assert not report.problems
    assert (report.guest_rows, report.rows_kept, report.rows_dropped) == (1, 6, 0)


def test_latin1_needs_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("customer_id,date,amount,service\nA,2026-03-01,1,Chrono Été\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.csv: not utf-8 text: byte 0xC9 on line 2 \(row 1\)"):
        read(path)
    frame, _ = read(path, encoding="latin-1")
    assert frame["service"].tolist() == ["Chrono Été"]


def test_size_limit(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "good.csv", GOOD)
    assert len(read(path, max_file_mb=1)[0]) == 4
    with pytest.raises(DataError, match=r"good\.csv: 0\.000\d+ MB is over the 0\.0001 MB size limit"):
        read(path, max_file_mb=0.0001)


# --- the column mapping -------------------------------------------------------------------------


def test_parse_column_mapping() -> None:
    assert parse_column_mapping(None) == {}
    assert parse_column_mapping("") == {}
    assert parse_column_mapping("customer_id=Customer, date = OrderDate,amount=Revenue") == {
        "Customer": "customer_id",
        "OrderDate": "date",
        "Revenue": "amount",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("customer_id", r"'customer_id' is not of the form our_name=file_column"),
        ("customer_id=", r"is not of the form"),
        ("=Customer", r"is not of the form"),
        ("client=Customer", r"'client' is not a known column; known: customer_id, date, amount"),
        ("customer_id=X,date=X", r"file column 'X' is mapped twice"),
        ("amount=Revenue,amount=Net", r"'amount' is mapped twice"),
    ],
)
def test_parse_column_mapping_errors(text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_column_mapping(text)


def test_read_with_renamed_columns(tmp_path: Path) -> None:
    expected, _ = read(write_csv(tmp_path / "good.csv", GOOD))
    text = (tmp_path / "good.csv").read_text()
    renamed = text.replace("customer_id,date,amount", "Client,OrderDate,Revenue", 1)
    path = write_csv(tmp_path / "renamed.csv", renamed)
    frame, _ = read(path, columns=parse_column_mapping("customer_id=Client,date=OrderDate,amount=Revenue"))
    pd.testing.assert_frame_equal(frame, expected)
    with pytest.raises(DataError, match=r"renamed\.csv: missing required column\(s\) customer_id, date, amount"):
        read(path)


def test_mapping_to_a_column_that_does_not_exist(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "good.csv", GOOD)
    with pytest.raises(DataError, match=r"good\.csv: --columns amount=Revenue: no such column; the file has cust"):
        read(path, columns=parse_column_mapping("amount=Revenue"))


def test_mapping_onto_a_column_the_file_has(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "good.csv", GOOD)
    with pytest.raises(DataError, match=r"maps a column onto customer_id, which the file already has"):
        read(path, columns=parse_column_mapping("customer_id=customer_type"))


def test_unknown_columns_are_ignored(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "extra.csv",
        """
        customer_id,note,date,amount,region
        A,"free text, with a comma",2026-03-01,1,north
        """,
    )
    frame, _ = read(path)
    assert list(frame.columns) == ["customer_id", "date", "amount"]


# --- row faults ---------------------------------------------------------------------------------

FAULTY = """
    customer_id,date,amount,weight_kg,destination_country,returned
    A,2026-03-01,10,1.0,FR,false
    A,2026-03-02,twelve,1.0,FR,false
    ,2026-03-03,10,1.0,FR,false
    B,03/04/2026,10,1.0,FR,false
    B,2026-02-30,10,1.0,FR,false
    B,2026-03-06,inf,1.0,FR,false
    C,2026-03-07,10,-2.5,FR,false
    C,2099-01-01,10,1.0,FR,false
    C,2026-03-09,,1.0,FR,false
    D,2026-03-10,10,1.0,France,false
    D,2026-03-11,10,1.0,FR,maybe
    D,31/12/2026,NaN,1.0,FR,false
    E,2026-03-13,10,1.0,FR,true
"""


def test_row_faults_are_dropped_and_reported_with_row_numbers(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "faulty.csv", FAULTY)
    frame, report = read(path, max_bad_share=1.0)
    problems = {(p.column, p.rule): (p.count, p.rows) for p in report.problems}
    # Row 3 has no customer id: a guest sale, left out apart; row 10's "France" is FR.
    assert problems == {
        ("amount", "not a number"): (2, [2, 12]),
        ("date", AMBIGUOUS_DATE): (1, [4]),
        ("date", UNPARSEABLE_DATE): (2, [5, 12]),
        ("amount", "not a finite number"): (1, [6]),
        ("weight_kg", "negative weight"): (1, [7]),
        ("date", "date after today (2026-11-24)"): (1, [8]),
        ("amount", "missing value"): (1, [9]),
        ("returned", "not a boolean (true/false, 1/0, yes/no)"): (1, [11]),
    }
    assert (report.rows_read, report.guest_rows, report.rows_kept, report.rows_dropped) == (13, 1, 3, 9)
    assert frame["customer_id"].tolist() == ["A", "D", "E"]
    assert frame["destination_country"].astype("str").tolist() == ["FR", "FR", "FR"]
    assert frame.index.tolist() == [0, 1, 2]


def test_a_row_with_two_faults_is_reported_in_both_columns(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "two.csv",
        """
        customer_id,date,amount
        A,2026-03-01,10
        B,yesterday,
        """,
    )
    _, report = read(path, max_bad_share=1.0)
    assert {(p.column, p.rule, tuple(p.rows)) for p in report.problems} == {
        ("date", UNPARSEABLE_DATE, (2,)),
        ("amount", "missing value", (2,)),
    }
    assert report.rows_dropped == 1


def test_above_the_threshold_the_read_stops_naming_file_column_and_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "faulty.csv", FAULTY)
    with pytest.raises(DataError) as caught:
        read(path)
    message = str(caught.value)
    assert "\n" not in message
    # 9 faulty rows of the 12 with a customer id (the guest row does not count).
    assert message.startswith(f"{path}: 75.0% of rows are invalid (limit 5%): ")
    assert "amount: not a number in 2 rows (rows 2, 12)" in message
    assert "weight_kg: negative weight in 1 row (row 7)" in message


def test_the_threshold_is_a_share_of_rows(tmp_path: Path) -> None:
    rows = "".join(f"C{i},2026-03-01,{'x' if i < 3 else 1}\n" for i in range(60))
    path = write_csv(tmp_path / "sixty.csv", "customer_id,date,amount\n" + rows)
    _, report = read(path)  # 3 of 60 = 5 %: not above the limit
    assert report.rows_dropped == 3
    with pytest.raises(DataError, match=r"5\.0% of rows are invalid \(limit 4%\)"):
        read(path, max_bad_share=0.04)


def test_more_than_five_rows_are_counted_and_the_first_five_shown(tmp_path: Path) -> None:
    rows = "".join(f"C{i},2026-03-01,{'x' if i % 2 else 1}\n" for i in range(20))
    path = write_csv(tmp_path / "many.csv", "customer_id,date,amount\n" + rows)
    _, report = read(path, max_bad_share=1.0)
    (problem,) = report.problems
    assert (problem.count, problem.rows) == (10, [2, 4, 6, 8, 10])
    assert problem.describe() == "amount: not a number in 10 rows (rows 2, 4, 6, 8, 10, …)"


def test_ambiguous_and_unparseable_dates_are_told_apart(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "dates.csv",
        """
        customer_id,date,amount
        A,03/04/2026,1
        A,12.11.26,1
        A,2026-13-01,1
        A,31/12/2026,1
        A,2026,1
        A,March 3rd,1
        A,2026-03-04,1
        A,2026-03-05,1
        A,2026-03-06,1
        """,
    )
    # Mostly year first: an ISO column, whose day/month values are faults (a column is read
    # mostly written day/month in its detected order: see tests/test_reading.py).
    frame, report = read(path, max_bad_share=1.0)
    problems = {p.rule: p.rows for p in report.problems}
    assert problems == {AMBIGUOUS_DATE: [1, 2], UNPARSEABLE_DATE: [3, 4, 5, 6]}
    assert frame["date"].tolist() == list(pd.to_datetime(["2026-03-04", "2026-03-05", "2026-03-06"]))


def test_times_and_utc_offsets_keep_the_wall_time(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "times.csv",
        """
        customer_id,date,amount
        A,2026-03-04 10:30:00,1
        A,2026-03-05T00:30:00+02:00,1
        A,2026-03-06T23:00:00-05:00,1
        A,2026-03-07T12:00:00Z,1
        """,
    )
    frame, report = read(path)
    assert not report.problems
    assert (
        frame["date"].tolist()
        == pd.to_datetime(["2026-03-04 10:30", "2026-03-05 00:30", "2026-03-06 23:00", "2026-03-07 12:00"]).tolist()
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["true", "false", "TRUE", "False"], [True, False, True, False]),
        (["1", "0", "1", "0"], [True, False, True, False]),
        (["yes", "no", "Yes", "NO"], [True, False, True, False]),
        (["t", "f", "y", "n"], [True, False, True, False]),
        ([" true ", "0", "yes", "false"], [True, False, True, False]),
    ],
)
def test_booleans(tmp_path: Path, values: list[str], expected: list[bool]) -> None:
    rows = "".join(f"A,2026-03-0{i + 1},1,{value}\n" for i, value in enumerate(values))
    frame, report = read(write_csv(tmp_path / "bool.csv", "customer_id,date,amount,delivered_late\n" + rows))
    assert not report.problems
    assert frame["delivered_late"].dtype == bool
    assert frame["delivered_late"].tolist() == expected


def test_booleans_that_are_not(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "bool.csv",
        """
        customer_id,date,amount,returned
        A,2026-03-01,1,true
        A,2026-03-02,1,maybe
        A,2026-03-03,1,
        A,2026-03-04,1,2
        """,
    )
    _, report = read(path, max_bad_share=1.0)
    assert {(p.rule, tuple(p.rows)) for p in report.problems} == {
        ("not a boolean (true/false, 1/0, yes/no)", (2, 4)),
        ("missing value", (3,)),
    }


def test_parquet_nullable_booleans_and_text_amounts(tmp_path: Path) -> None:
    table = pa.table(
        {
            "customer_id": ["A", "B", "C"],
            "date": pa.array([pd.Timestamp("2026-03-01").date()] * 3, type=pa.date32()),
            "amount": ["1.5", "oops", "2"],
            "returned": pa.array([True, None, False], type=pa.bool_()),
        }
    )
    path = tmp_path / "nullable.parquet"
    pq.write_table(table, path)
    frame, report = read(path, max_bad_share=1.0)
    assert {(p.column, p.rule, tuple(p.rows)) for p in report.problems} == {
        ("amount", "not a number", (2,)),
        ("returned", "missing value", (2,)),
    }
    assert frame["amount"].tolist() == [1.5, 2.0]
    assert frame["returned"].tolist() == [True, False]


# --- the report ---------------------------------------------------------------------------------


def test_report_to_dict_is_json_serialisable(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "faulty.csv", FAULTY)
    _, report = read(path, max_bad_share=1.0)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["file"] == str(path)
    assert (data["rows_read"], data["rows_kept"], data["rows_dropped"], data["guest_rows"]) == (13, 3, 9, 1)
    assert data["max_bad_share"] == 1.0
    assert {"column": "weight_kg", "rule": "negative weight", "count": 1, "rows": [7]} in data["problems"]
    assert all(isinstance(row, int) for problem in data["problems"] for row in problem["rows"])


def test_report_summary_is_one_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "faulty.csv", FAULTY)
    _, report = read(path, max_bad_share=1.0)
    summary = report.summary()
    assert "\n" not in summary
    assert summary.startswith(f"{path}: 13 rows read, 3 kept, 9 dropped — ")
    clean = read(write_csv(tmp_path / "good.csv", GOOD))[1]
    assert clean.summary() == f"{tmp_path / 'good.csv'}: 4 rows read, 4 kept, 0 dropped"


def test_valid_rows_keep_their_order_and_values(tmp_path: Path) -> None:
    frame, _ = read(write_csv(tmp_path / "faulty.csv", FAULTY), max_bad_share=1.0)
    assert frame["date"].tolist() == list(pd.to_datetime(["2026-03-01", "2026-03-10", "2026-03-13"]))
    assert np.array_equal(frame["returned"].to_numpy(), [False, False, True])
