"""The `segments` command line end to end, in-process, on a temporary store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.conftest import read_frame
from tests.support.processes import free_port


def test_generate_writes_shipments_and_ground_truth(cli, tmp_path: Path) -> None:
    out = tmp_path / "gen" / "shipments.parquet"
    result = cli("generate", "--customers", "200", "--months", "3", "--seed", "5", "--out", out)
    assert result.code == 0, result.err
    shipments = pd.read_parquet(out)
    truth = pd.read_parquet(tmp_path / "gen" / "shipments.truth.parquet")
    assert shipments["customer_id"].nunique() == len(truth) == 200
    assert {"customer_id", "date", "amount"} <= set(shipments.columns)
    assert f"{len(shipments):,} shipments" in result.out


def test_train_promote_score_models_rollback(cli, mlflow_store: str, small_shipments: Path, tmp_path: Path) -> None:
    trained = cli("train", "--data", small_shipments, "--k", "2-3", "--n-init", "3")
    assert trained.code == 0, trained.err
    assert "Sweep over k" in trained.out
    assert "Recommendation:" in trained.out
    assert "version 1" in trained.out
    for header in ("silhouette", "Calinski-Harabasz", "Davies-Bouldin", "stability ARI", "min share"):
        assert header in trained.out
    assert "recommended" in trained.out

    promoted = cli("promote", "1", "--reason", "first")
    assert promoted.code == 0, promoted.err
    assert "'production' → version 1" in promoted.out
    assert "gates will refuse" not in trained.out  # and they did not

    listed = cli("models")
    assert listed.code == 0, listed.err
    assert "candidate, production" in listed.out
    assert "shipments.csv" in listed.out

    out = tmp_path / "scored.csv"
    scored = cli("score", "--data", small_shipments, "--out", out)
    assert scored.code == 0, scored.err
    table = read_frame(out)
    shipments = pd.read_csv(small_shipments)
    assert list(table.columns[:3]) == ["customer_id", "segment", "segment_name"]
    assert sorted(table["customer_id"]) == sorted(shipments["customer_id"].unique())
    version = MlflowClient(mlflow_store).get_model_version("customer-segments", "1")
    names = pd.Series(json.loads(version.tags["segment_names"]))
    assert set(table["segment_name"]) <= set(names)

    french = tmp_path / "scored_fr.parquet"
    assert cli("score", "--data", small_shipments, "--out", french, "--model", "1", "--lang", "fr").code == 0
    names_fr = json.loads(version.tags["segment_names_fr"])
    assert set(read_frame(french)["segment_name"]) <= set(names_fr.values())
    # Shipment columns in the data: the French names speak of expéditeurs, except the set-aside groups.
    assert read_frame(french)["segment_name"].str.contains("xpéditeurs|Comptes", regex=True).all()

    second = cli("train", "--data", small_shipments, "--k", "3", "--n-init", "2")
    assert second.code == 0, second.err
    assert "k=3: the only k asked for; silhouette " in second.out
    # train says whether the default gates will take the version, as promote then finds.
    unforced = cli("promote", "2", "--reason", "k=3 for the pilot")
    assert ("gates will refuse" in second.out) == (unforced.code != 0), (second.out, unforced.err)
    if unforced.code != 0:
        assert cli("promote", "2", "--reason", "k=3 for the pilot", "--force").code == 0
    rolled = cli("rollback")
    assert rolled.code == 0, rolled.err
    assert "rolled back to version 1" in rolled.out


def test_bad_usage_is_exit_2_with_one_line(cli, mlflow_store: str, small_shipments: Path) -> None:
    for args, message in [
        (("train", "--data", small_shipments, "--k", "5-2"), "reversed"),
        (("train", "--data", small_shipments, "--k", "2-4", "--choose", "9"), "--choose 9 is not in --k 2-4"),
        (("train", "--data", small_shipments, "--as-of", "yesterday"), "--as-of yesterday"),
        (("promote", "3"), "no registered model"),
        (("score", "--data", small_shipments, "--out", "x.txt"), "unsupported output type"),
    ]:
        result = cli(*args)
        assert result.code == 2, (args, result.out, result.err)
        lines = [line for line in result.err.splitlines() if line.strip()]
        assert len(lines) == 1, result.err
        assert message in lines[0]
        assert "Traceback" not in result.err


def test_unknown_option_is_a_usage_error(cli) -> None:
    result = cli("train", "--nope")
    assert result.code == 2
    assert "No such option" in result.err


def test_console_script_and_module_entry_points() -> None:
    for command in (
        [sys.executable, "-m", "segments", "--help"],
        [sys.executable, "-m", "workflow", "--help"],
        [str(Path(sys.executable).parent / "segments"), "--help"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
        assert done.returncode == 0, done.stderr
        for name in ("generate", "train", "models", "promote", "rollback", "score", "dashboard", "ui", "demo"):
            assert name in done.stdout


def test_the_pipeline_trains_what_the_command_trains(cli, mlflow_store: str, small_shipments: Path) -> None:
    # `segments train` and `pipeline.train` run the same steps: same sweep, same k, same labels.
    from workflow import pipeline

    assert cli("train", "--data", small_shipments, "--k", "2-3", "--n-init", "1").code == 0
    training = pipeline.train(pipeline.TrainSettings(data=small_shipments, k="2-3", n_init=1, currency="EUR"))
    assert training.result.version == "2"
    assert training.registered_k == training.recommendation.k == training.result.k
    client = MlflowClient(mlflow_store)
    first, second = (client.get_model_version("customer-segments", version) for version in ("1", "2"))
    assert first.tags["k"] == second.tags["k"]
    assert first.tags["data_digest"] == second.tags["data_digest"] == training.customers.digest
    assert first.tags["as_of"] == training.customers.as_of
    assert first.tags["currency"] == second.tags["currency"] == "EUR"
    assert first.tags["segment_names"] == second.tags["segment_names"]


def test_train_settings_refuse_bad_options_before_reading(tmp_path: Path) -> None:
    from workflow.errors import DataError
    from workflow.pipeline import TrainSettings

    missing = tmp_path / "not-there.csv"  # never opened: every refusal comes first
    for options, message in [
        ({"k": "2-4", "choose": 9}, "--choose 9 is not in --k 2-4"),
        ({"features": ("recency_days", "nope")}, "nope"),
        ({"engine": "dask"}, "--engine dask"),
        ({"k": "5-2"}, "reversed"),
    ]:
        with pytest.raises(DataError, match=message):
            TrainSettings(data=missing, **options).ks  # noqa: B018 -- parsing k is the check


#: The options that say how to read a file, in the order every command's help lists them.
READING_OPTIONS = ("--columns", "--encoding", "--sheet", "--decimal", "--date-format")
READING_COMMANDS = [
    pytest.param(("train", "--data", "x.csv"), id="train"),
    pytest.param(("score", "--data", "x.csv", "--out", "y.csv"), id="score"),
    pytest.param(("dashboard",), id="dashboard"),
]


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_train_score_and_dashboard_list_the_reading_options_in_one_order(cli, command: tuple[str, ...]) -> None:
    result = cli(command[0], "--help")
    assert result.code == 0, result.err
    places = [result.out.find(f" {option} ") for option in READING_OPTIONS]
    assert -1 not in places, result.out
    assert places == sorted(places)


@pytest.mark.parametrize(
    ("option", "says"),
    [
        (("--encoding", "klingon"), "--encoding klingon: unknown text encoding"),
        (("--decimal", ";"), "--decimal ;: expected . or ,"),
        (("--date-format", "dd/mm"), "--date-format dd/mm: expected a strftime format"),
    ],
)
@pytest.mark.parametrize("command", READING_COMMANDS)
def test_train_score_and_dashboard_refuse_a_bad_reading_option_first(
    cli, command: tuple[str, ...], option: tuple[str, str], says: str
) -> None:
    # Before the file is opened, the model loaded or the server started: x.csv does not exist.
    result = cli(*command, *option)
    assert result.code == 2, (result.out, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert says in lines[0]


def test_a_bad_dashboard_language_fails_before_the_server_starts() -> None:
    from dashboard.app import AppSettings, serve

    with pytest.raises(ValueError, match="lang must be one of en, fr"):
        AppSettings(lang="de")
    with pytest.raises(ValueError, match="lang must be one of en, fr"):
        serve(port=free_port(), threaded=True, lang="de")
