"""Bad input never gives a traceback or a half-written store .

Every file of the corpus in ``tests/data/bad/`` (written by ``tests/data/make_bad_inputs.py``) goes
through ``segments train --data FILE --k 2-3`` in-process, against a fresh SQLite MLflow store:

* a broken file gives exit code 2 and one line on stderr that names the file (and, for row faults,
  the column and the rows), and leaves the store as it was: no new run, no version, nothing RUNNING;
* legitimate data in an unusual shape (odd ids, CRLF, a byte-order mark, a few bad rows) is trained.

Bad command-line arguments get the same treatment.

Each test gets conftest's ``mlflow_store`` (a copy of an empty store: 40 ms, not a second); the tests
on a trained store get a copy of one trained once per module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from tests.conftest import as_text
from tests.data.make_bad_inputs import BAD, SPECIAL_IDS, base_rows, make_corpus, to_csv
from tests.support.stores import copy_store, empty_store, using_store
from workflow.data import data_digest, parse_column_mapping, read_shipments
from workflow.errors import DataError

K = ("--k", "2-3")
# Files that train: one k and one K-means restart are enough to show they train (each k more is one
# more child run to log, each restart more a second more).
TRAIN = ("--k", "2", "--n-init", "1")
MAPPING = ("--columns", "customer_id=Customer,date=OrderDate,amount=Revenue")


@dataclass(frozen=True)
class Case:
    """One broken input: the corpus file, extra arguments, and what the error line must say."""

    file: str
    says: tuple[str, ...]
    args: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.file + ("+columns" if self.args else "")


def rows(column: str, rule: str) -> str:
    """The message of a row fault put in 20 of the 100 rows (3, 8, 13, …) by the corpus script."""
    return f"{column}: {rule} in 20 rows (rows 3, 8, 13, 18, 23, …)"


REFUSED = [
    # unreadable or structurally wrong
    Case("empty.csv", ("empty file",)),
    Case("blank_lines.csv", ("the first line is blank; expected the header",)),
    Case("header_only.csv", ("no data rows",)),
    Case("binary_garbage.csv", ("NUL byte on line 1", "not CSV text")),
    Case("utf16.csv", ("NUL byte on line 1", "UTF-16")),
    Case("nul_bytes.csv", ("NUL byte on line 52",)),
    Case("ragged_rows.csv", ("row 36 (line 37) has 10 fields but the header has 9",)),
    Case("unclosed_quote.csv", ("a quote opened in row 58 (line 59) is never closed",)),
    Case(
        "latin1_accents.csv", ("not utf-8 text: byte 0xC9 on line 4 (row 3)", "--encoding cp1252", "save it as UTF-8")
    ),
    Case("truncated.parquet", ("not a readable Parquet file",)),
    Case("csv_named.parquet", ("not a readable Parquet file",)),
    Case("garbage.parquet", ("not a readable Parquet file",)),
    Case("empty.parquet", ("no data rows",)),
    Case("nested_amount.parquet", ("nested Parquet column(s) amount (list<element: double>)",)),
    Case("shipments.xlsx", ("not a readable .xlsx workbook",)),
    Case("shipments.json", ("unsupported file type '.json'; use .csv, .csv.gz, .parquet or .xlsx",)),
    Case("is_a_directory.csv", ("is a directory",)),
    # columns
    Case("missing_customer_id.csv", ("missing required column(s) customer_id;",)),
    Case("missing_date.csv", ("missing required column(s) date;",)),
    Case("missing_amount.csv", ("missing required column(s) amount;",)),
    Case("missing_amount.parquet", ("missing required column(s) amount;",)),
    Case("renamed_columns.csv", ("missing required column(s) customer_id, date, amount", "--columns")),
    Case(
        "renamed_columns.csv",
        ("--columns customer_id=Client: no such column", "the file has Customer, OrderDate, Revenue"),
        ("--columns", "customer_id=Client,date=OrderDate,amount=Revenue"),
    ),
    Case(
        "good.parquet",
        ("maps a column onto customer_id, which the file already has",),
        ("--columns", "customer_id=customer_type"),
    ),
    Case("duplicate_columns.csv", ("duplicate column name(s) amount",)),
    # row faults in 20 % of the rows
    Case("dates_unparseable.csv", (rows("date", "unparseable date (expected YYYY-MM-DD)"),)),
    Case("dates_ambiguous.csv", (rows("date", "ambiguous date (day/month order unknown; write YYYY-MM-DD)"),)),
    Case("dates_future.csv", ("date: date after today", "in 20 rows (rows 3, 8, 13, 18, 23, …)")),
    Case("dates_excel_serial.csv", (rows("date", "unparseable date (expected YYYY-MM-DD)"),)),
    Case("dates_missing.csv", (rows("date", "missing value"),)),
    Case("amount_text.csv", (rows("amount", "not a number"),)),
    Case("amount_nan.csv", (rows("amount", "not a number"),)),
    Case("amount_inf.csv", (rows("amount", "not a finite number"),)),
    Case("amount_comma_decimal.csv", (rows("amount", "not a number"),)),
    Case("amount_missing.csv", (rows("amount", "missing value"),)),
    Case("weight_negative.csv", (rows("weight_kg", "negative weight"),)),
    Case("boolean_garbage.csv", (rows("returned", "not a boolean (true/false, 1/0, yes/no)"),)),
    # valid rows, nothing to segment
    Case("one_customer_all_rows.csv", ("only 1 distinct",)),
    Case("single_customer_single_row.csv", ("only 1 distinct",)),
    Case("two_customers.csv", ("only 2 distinct", "--k")),
    Case("constant_features.csv", ("only 1 distinct",)),
    Case("huge_amounts.csv", ("monetary, avg_amount not finite for 1 customer(s) (C01)",)),
]

# Also accepted: ids_special.csv (the trained store below), mixed_few_bad_rows.csv, customer_id_missing.csv
# and country_unknown.csv (their own tests).
ACCEPTED = [
    ("crlf_line_endings.csv", ()),
    ("utf8_bom.csv", ()),
    ("good.parquet", ()),
    ("renamed_columns.csv", MAPPING),
    # Read like any other file: other separators, a French spreadsheet's CSV, countries as names.
    ("semicolon_delimiter.csv", ()),
    ("tab_delimiter.csv", ()),
    ("french_excel_export.csv", ()),
    ("country_names.csv", ()),
]


# --- the store ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreState:
    """What a failed command must leave as it was."""

    runs: dict[str, str]  # run id → status
    versions: tuple[tuple[str, str], ...]  # (model name, version)
    registry: tuple[tuple[str, tuple, tuple], ...]  # (model name, aliases, tags: the audit trail)


def store_state(uri: str) -> StoreState:
    client = MlflowClient(uri, uri)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    runs = client.search_runs(experiments, run_view_type=ViewType.ALL) if experiments else []
    models = [client.get_registered_model(model.name) for model in client.search_registered_models()]
    return StoreState(
        runs={run.info.run_id: run.info.status for run in runs},
        versions=tuple(sorted((mv.name, str(mv.version)) for mv in client.search_model_versions())),
        registry=tuple((m.name, tuple(sorted(m.aliases.items())), tuple(sorted(m.tags.items()))) for m in models),
    )


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    path = tmp_path / "good.csv"
    path.write_text(to_csv(base_rows()))
    return path


# --- the corpus -----------------------------------------------------------------------------------


def test_the_corpus_is_large_and_every_file_has_a_case() -> None:
    files = {path.name for path in BAD.iterdir()} - {"README.md"}
    covered = {case.file for case in REFUSED} | {name for name, _ in ACCEPTED}
    covered |= {"ids_special.csv", "mixed_few_bad_rows.csv", "customer_id_missing.csv", "country_unknown.csv"}
    assert files == covered
    assert len({case.file for case in REFUSED}) >= 30


def test_the_committed_corpus_is_what_the_script_writes(tmp_path: Path) -> None:
    fresh = tmp_path / "bad"
    make_corpus(fresh)
    assert sorted(p.relative_to(fresh) for p in fresh.rglob("*")) == sorted(p.relative_to(BAD) for p in BAD.rglob("*"))
    for path in fresh.rglob("*"):
        committed = BAD / path.relative_to(fresh)
        if path.is_dir():
            continue
        if path.suffix == ".parquet" and path.name not in {"csv_named.parquet", "garbage.parquet"}:
            # Parquet footers carry the writer's version: compare what can be read, not bytes.
            if path.name == "truncated.parquet":
                assert committed.stat().st_size == path.stat().st_size
            else:
                assert pq.read_table(committed).equals(pq.read_table(path)), path.name
        else:
            assert committed.read_bytes() == path.read_bytes(), f"{path.name}: run tests/data/make_bad_inputs.py"


# --- refused files --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", REFUSED, ids=[case.id for case in REFUSED])
def test_bad_file_is_refused(case: Case, mlflow_store: str, cli) -> None:
    path = BAD / case.file
    result = cli("train", "--data", path, *K, *case.args)
    assert result.code == 2, result
    assert "Traceback" not in result.err + result.out
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    error = lines[-1]
    assert error.startswith("error: "), lines
    for text in case.says:
        assert text in error, f"{text!r} not in {error!r}"
    state = store_state(mlflow_store)
    assert not state.runs  # nothing was started, so nothing is left RUNNING
    assert not state.versions
    # The contract: one line, naming the file.
    one_line_naming_the_file = len(lines) == 1 and error.startswith(f"error: {path}: ")
    assert one_line_naming_the_file, lines


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("x[bold]y.csv", id="tag"),
        pytest.param("a[/]b.csv", id="closing-tag"),
    ],
)
def test_file_names_are_not_markup(name: str, tmp_path: Path, mlflow_store: str, cli) -> None:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    result = cli("train", "--data", path, *K)
    assert (result.code, result.err.strip()) == (2, f"error: {path}: empty file")


def test_a_file_over_the_size_limit_is_refused_before_reading() -> None:
    path = BAD / "crlf_line_endings.csv"
    with pytest.raises(DataError) as caught:
        read_shipments(path, max_file_mb=0.001)
    size = path.stat().st_size / 1e6
    assert str(caught.value) == f"{path}: {size:.3g} MB is over the 0.001 MB size limit"
    assert len(read_shipments(path, max_file_mb=1)[0]) == 100


def test_the_cli_refuses_a_file_over_the_size_limit(mlflow_store: str, cli) -> None:
    path = BAD / "crlf_line_endings.csv"
    result = cli("train", "--data", path, *K, "--max-file-mb", "0.001")
    assert result.code == 2
    assert result.err.strip().startswith(f"error: {path}: ")
    assert result.err.strip().endswith("MB is over the 0.001 MB size limit")
    assert not store_state(mlflow_store).runs


# --- accepted files -------------------------------------------------------------------------------


def assert_trained(result, uri: str) -> None:
    assert result.code == 0, result.err
    assert "Traceback" not in result.err + result.out
    state = store_state(uri)
    assert state.versions == (("customer-segments", "1"),)
    assert set(state.runs.values()) == {"FINISHED"}
    assert len(state.runs) == 2  # the sweep and k=2


#: Accepted shapes trained end to end by ``make test-fast`` too: a French spreadsheet's CSV, and a CSV
#: read through ``--columns``. Every accepted shape reads to the same shipments as good.parquet
#: (``test_every_accepted_shape_reads_to_the_same_shipments``, fast), so training the others again
#: is left to ``make test``.
TRAINED_FAST = {"french_excel_export.csv", "renamed_columns.csv"}


@pytest.mark.parametrize(
    ("name", "args"),
    [
        pytest.param(
            name, args, id=name + ("+columns" if args else ""), marks=() if name in TRAINED_FAST else pytest.mark.slow
        )
        for name, args in ACCEPTED
    ],
)
def test_unusual_but_valid_file_is_trained(name: str, args: tuple[str, ...], mlflow_store: str, cli) -> None:
    assert_trained(cli("train", "--data", BAD / name, *TRAIN, *args), mlflow_store)


def test_every_accepted_shape_reads_to_the_same_shipments() -> None:
    expected, _ = read_shipments(BAD / "good.parquet")
    for name, args in ACCEPTED:
        mapping = parse_column_mapping(args[1]) if args else None
        frame, report = read_shipments(BAD / name, columns=mapping)
        assert report.rows_dropped == 0
        pd.testing.assert_frame_equal(as_text(frame), as_text(expected))
        assert data_digest(frame) == data_digest(expected), name


def test_a_few_bad_rows_are_dropped_and_reported(mlflow_store: str, cli) -> None:
    path = BAD / "mixed_few_bad_rows.csv"
    result = cli("train", "--data", path, *TRAIN)
    assert_trained(result, mlflow_store)
    report = " ".join(result.err.split())  # Rich wraps long lines
    assert f"{path}: 100 rows read, 97 kept, 3 dropped" in report
    for text in (
        "amount: not a number in 1 row (row 7)",
        "ambiguous date",
        "(row 42)",
        "weight_kg: negative weight in 1 row (row 78)",
    ):
        assert text in report
    logged = logged_validation(mlflow_store)
    assert (logged["rows_read"], logged["rows_kept"], logged["rows_dropped"]) == (100, 97, 3)
    assert sorted(row for problem in logged["problems"] for row in problem["rows"]) == [7, 42, 78]


def logged_validation(uri: str) -> dict:
    """The sweep run's ``validation.json``."""
    client = MlflowClient(uri)
    (sweep,) = client.search_runs(
        [client.get_experiment_by_name("customer-segments").experiment_id], "tags.`segments.kind` = 'sweep'"
    )
    return mlflow.artifacts.load_dict(f"{sweep.info.artifact_uri}/validation.json")


def test_guest_rows_are_left_out_not_counted_as_faults(mlflow_store: str, cli) -> None:
    # 20 % of the rows have no customer id: far above --max-bad-share, and still no fault (guest sales).
    path = BAD / "customer_id_missing.csv"
    result = cli("train", "--data", path, *TRAIN)
    assert_trained(result, mlflow_store)
    report = " ".join(result.err.split())
    assert f"{path}: 100 rows read, 80 kept, 0 dropped" in report
    assert "20 rows (20.0 %) without a customer id (guest sales, " in report
    logged = logged_validation(mlflow_store)
    assert (logged["guest_rows"], logged["rows_kept"], logged["rows_dropped"]) == (20, 80, 0)


def test_unknown_countries_are_reported_and_the_rows_kept(mlflow_store: str, cli) -> None:
    path = BAD / "country_unknown.csv"
    result = cli("train", "--data", path, *TRAIN)
    assert_trained(result, mlflow_store)
    report = " ".join(result.err.split())
    assert "destination_country: 20 rows (20.0 %) name no country (Atlantis 20)" in report
    assert logged_validation(mlflow_store)["unknown_countries"] == {"Atlantis": 20}


@pytest.fixture(scope="module")
def trained_store_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A store holding version 1 (candidate), trained once on the ids that need care; and the exit code."""
    from segments.cli import run

    folder = tmp_path_factory.mktemp("trained")
    with using_store(empty_store(folder)):
        code = run(["train", "--data", str(BAD / "ids_special.csv"), *TRAIN])
    return folder / "mlruns" / "mlflow.db", code


@pytest.fixture
def trained_store(trained_store_db: tuple[Path, int], tmp_path: Path) -> Iterator[str]:
    """A copy of the trained store (its artifacts stay with the original: these tests only read them)."""
    db, code = trained_store_db
    assert code == 0
    with using_store(copy_store(db, tmp_path)) as uri:
        yield uri


def test_special_ids_survive_training_and_scoring(trained_store: str, cli, tmp_path: Path) -> None:
    state = store_state(trained_store)
    assert state.versions == (("customer-segments", "1"),)
    assert set(state.runs.values()) == {"FINISHED"}
    out = tmp_path / "scores.csv"
    result = cli("score", "--data", BAD / "ids_special.csv", "--out", out, "--model", "candidate")
    assert result.code == 0, result.err
    scores = pd.read_csv(out, dtype={"customer_id": "str"}, keep_default_na=False)
    assert sorted(scores["customer_id"]) == sorted(SPECIAL_IDS)
    assert scores["segment"].between(0, 1).all()  # k=2, and no customer set aside


# --- bad arguments --------------------------------------------------------------------------------

BAD_TRAIN_ARGS = [
    pytest.param(("--k", "5-2"), "--k 5-2: the range is reversed; write 2-5", id="k-reversed"),
    pytest.param(("--k", "1"), "--k 1: k must be at least 2", id="k-1"),
    pytest.param(("--k", "abc"), "--k abc: expected a range like 2-10", id="k-abc"),
    pytest.param(("--k", "2-4", "--choose", "9"), "--choose 9 is not in --k 2-4", id="choose-outside"),
    pytest.param(("--k", "2-3", "--as-of", "yesterday"), "--as-of yesterday: expected a date YYYY-MM-DD", id="as-of"),
    pytest.param(("--k", "2-3", "--columns", "amount=Revenue,amount=Net"), "'amount' is mapped twice", id="columns"),
    pytest.param(("--k", "2-3", "--columns", "price"), "'price' is not of the form", id="columns-form"),
    pytest.param(("--k", "2-3", "--features", "nope"), "unknown feature(s) nope", id="features-unknown"),
    pytest.param(
        ("--k", "2-3", "--features", "frequency,frequency"), "--features lists frequency twice", id="features-twice"
    ),
    pytest.param(
        ("--k", "2-3", "--as-of", "2020-01-01"), "no shipment before the as-of date 2020-01-01", id="as-of-before-data"
    ),
    pytest.param(("--k", "2-3", "--max-bad-share", "2"), "--max-bad-share", id="max-bad-share"),
]


def assert_one_line_exit_2(result, says: str) -> None:
    assert result.code == 2, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines
    assert says in lines[0], lines[0]
    assert "Traceback" not in result.err + result.out


@pytest.mark.parametrize(("args", "says"), BAD_TRAIN_ARGS)
def test_bad_train_arguments(args: tuple[str, ...], says: str, good_csv: Path, mlflow_store: str, cli) -> None:
    result = cli("train", "--data", good_csv, *args)
    assert_one_line_exit_2(result, says)
    assert not store_state(mlflow_store).runs


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(("promote", "99"), "no registered model 'customer-segments'", id="promote-99"),
        pytest.param(("promote", "1", "--alias", "nosuch"), "no registered model", id="promote-alias"),
        pytest.param(("rollback",), "no registered model", id="rollback"),
        pytest.param(("score", "--model", "nosuch"), "no registered model", id="score-model"),
        pytest.param(("score", "--model", "models:/other@production"), "no registered model 'other'", id="score-uri"),
        pytest.param(("models",), "no registered model", id="models"),
        pytest.param(("train", "--data", "nosuch.csv"), "nosuch.csv: file not found", id="train-missing-file"),
        pytest.param(("train",), "--data", id="train-no-data"),
    ],
)
def test_bad_arguments_on_an_empty_store(
    args: tuple[str, ...], says: str, good_csv: Path, mlflow_store: str, cli
) -> None:
    if args[0] == "score":
        args = (*args, "--data", str(good_csv), "--out", str(good_csv.with_name("out.csv")))
    result = cli(*args)
    assert_one_line_exit_2(result, says)
    state = store_state(mlflow_store)
    assert not state.runs
    assert not state.versions


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(("promote", "99"), "'customer-segments' has no version 99 (versions: 1)", id="promote-99"),
        pytest.param(("promote", "one"), "'one' is not a version number", id="promote-word"),
        pytest.param(
            ("promote", "1", "--min-silhouette", "1.1"), "version 1 of 'customer-segments' refused", id="gate"
        ),
        pytest.param(("promote", "1", "--force"), "--force needs --reason", id="force-no-reason"),
        pytest.param(("rollback",), "no 'previous-production' alias", id="rollback"),
        pytest.param(("rollback", "--alias", "nosuch"), "no 'previous-nosuch' alias", id="rollback-alias"),
        pytest.param(("score", "--model", "nosuch"), "has no alias 'nosuch' (aliases: candidate)", id="score-alias"),
        pytest.param(("score", "--model", "7"), "has no version 7", id="score-version"),
        pytest.param(("score",), "has no alias 'production'", id="score-no-production"),
    ],
)
def test_bad_arguments_on_a_trained_store(
    args: tuple[str, ...], says: str, good_csv: Path, trained_store: str, cli
) -> None:
    before = store_state(trained_store)
    if args[0] == "score":
        args = (*args, "--data", str(good_csv), "--out", str(good_csv.with_name("out.csv")))
    result = cli(*args)
    assert_one_line_exit_2(result, says)
    assert store_state(trained_store) == before
    assert not good_csv.with_name("out.csv").exists()


@pytest.mark.parametrize("name", ["empty.csv", "binary_garbage.csv", "missing_amount.csv", "dates_ambiguous.csv"])
def test_score_refuses_bad_files(name: str, trained_store: str, cli, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    result = cli("score", "--data", BAD / name, "--out", out, "--model", "candidate")
    assert_one_line_exit_2(result, f"{BAD / name}: ")
    assert not out.exists()
