"""The MLflow contract (docs/architecture.md) against a real temporary SQLite store: runs, registry, loading."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.conftest import CHILD_METRICS, CHILD_PARAMS
from tests.support.stores import copy_store, empty_store, using_store
from workflow import pipeline, tracking
from workflow.clustering import Sweep, fit_sweep, recommend_k
from workflow.errors import DataError, GateError, ModelNotFoundError

#: Two k: a recommended one and another to ``--choose``; each k more is one more child run per log.
KS = [2, 3]


@dataclass
class Trained:
    """A sweep fitted once per module and what it was fitted on."""

    sweep: Sweep
    context: tracking.SweepContext


@pytest.fixture(scope="module")
def trained(small_shipments: Path) -> Trained:
    settings = pipeline.TrainSettings(data=small_shipments, k="2-3")
    customers = pipeline.prepare(settings)
    sweep = fit_sweep(customers.features, KS, random_state=0, n_init=4)
    return Trained(sweep, pipeline.sweep_context(settings, customers))


def log(trained: Trained, **options: object) -> tracking.TrainResult:
    return tracking.log_sweep(trained.sweep, recommend_k(trained.sweep.table()), trained.context, **options)


@dataclass
class Logged:
    """A store on which ``trained`` was logged once: version 1, alias candidate."""

    uri: str
    result: tracking.TrainResult


@pytest.fixture(scope="module")
def logged_once(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Logged:
    with using_store(empty_store(tmp_path_factory.mktemp("logged"))) as uri:
        return Logged(uri, log(trained))


@pytest.fixture
def logged(logged_once: Logged) -> Iterator[Logged]:
    """``logged_once``'s store, configured for a test that only reads it (one log for all of them)."""
    with using_store(logged_once.uri):
        yield logged_once


@pytest.fixture
def logged_copy(logged_once: Logged, tmp_path: Path) -> Iterator[Logged]:
    """A copy of ``logged_once``'s store for a test that changes its registry (promotes, logs again).

    The copy's runs, old and new, keep their artifacts beside the original store's (new runs have
    new ids); the registry, the aliases and the audit trail are the copy's own.
    """
    db = Path(logged_once.uri.removeprefix("sqlite:///"))
    with using_store(copy_store(db, tmp_path)) as uri:
        yield Logged(uri, logged_once.result)


def test_sweep_logs_parent_and_one_child_per_k_with_contract_names(logged: Logged, trained: Trained) -> None:
    result = logged.result
    client = MlflowClient(logged.uri)
    experiment = client.get_experiment_by_name("customer-segments")
    assert experiment is not None
    assert experiment.artifact_location.startswith(Path(logged.uri.removeprefix("sqlite:///")).parent.as_uri())
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 + len(KS)
    assert {run.info.status for run in runs} == {"FINISHED"}

    parent = client.get_run(result.parent_run_id)
    assert parent.info.run_name.startswith("sweep-")
    assert parent.data.tags["segments.kind"] == "sweep"
    assert parent.data.metrics["recommended_k"] == recommend_k(trained.sweep.table()).k
    assert parent.data.metrics["best_silhouette"] == pytest.approx(trained.sweep.table()["silhouette"].max())
    history = client.get_metric_history(parent.info.run_id, "silhouette")
    assert sorted(m.step for m in history) == KS
    assert sorted(m.step for m in client.get_metric_history(parent.info.run_id, "inertia")) == KS
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"sweep.csv", "sweep.png", "validation.json"}
    assert "Recommendation" in parent.data.tags["mlflow.note.content"]
    dataset = parent.inputs.dataset_inputs[0].dataset
    assert dataset.digest == trained.context.data_digest
    assert dataset.name == "shipments.csv"
    # The schema is inferred from the first rows only, but must name every column with its type.
    schema = json.loads(dataset.schema)["mlflow_colspec"]
    expected = trained.context.features.reset_index()
    assert [column["name"] for column in schema] == list(expected.columns)
    assert json.loads(dataset.profile)["num_rows"] == len(expected)

    children = [run for run in runs if run.info.run_id != parent.info.run_id]
    assert sorted(run.info.run_name for run in children) == [f"k={k}" for k in KS]
    for child in children:
        k = int(child.data.params["k"])
        assert child.data.tags["segments.kind"] == "trial"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert set(child.data.params) >= CHILD_PARAMS
        assert set(child.data.metrics) == CHILD_METRICS
        assert child.data.metrics["silhouette"] == pytest.approx(trained.sweep.trial(k).metrics["silhouette"])
        assert child.data.params["data_digest"] == trained.context.data_digest
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert artifacts >= {"centroids.csv", "profile.csv", "silhouette.png"}
        centroids = pd.read_csv(
            mlflow.artifacts.download_artifacts(run_id=child.info.run_id, artifact_path="centroids.csv")
        )
        assert len(centroids) == k
        assert list(centroids.columns) == ["segment", "name", *trained.sweep.features]
    # One logged model per child, linked to its run, serialised with skops.
    models = mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list")
    assert sorted(m.source_run_id for m in models) == sorted(run.info.run_id for run in children)
    # Each model carries its run's metrics (the MLflow UI shows them on the model's page).
    for model in models:
        k = int(client.get_run(model.source_run_id).data.params["k"])
        linked = {metric.key: metric.value for metric in model.metrics}
        assert set(linked) == CHILD_METRICS
        assert linked["silhouette"] == pytest.approx(trained.sweep.trial(k).metrics["silhouette"])


def test_registered_model_loads_back_and_predicts_the_same_labels(logged: Logged, trained: Trained) -> None:
    result = logged.result
    assert result.version == "1"
    model = tracking.load_segment_model("candidate")
    assert model.version == "1"
    assert model.aliases == ("candidate",)
    assert model.k == result.k
    assert model.features == trained.sweep.features
    labels = model.pipeline.predict(trained.context.features[model.features])
    np.testing.assert_array_equal(labels, trained.sweep.trial(result.k).labels)
    assert len(set(model.segment_names.values())) == model.k
    assert set(model.segment_names_fr) == set(range(model.k))
    assert model.profile is not None
    assert list(model.profile["name"]) == [model.segment_names[i] for i in range(model.k)]
    scored = model.score(trained.context.features)
    assert list(scored.columns[:2]) == ["segment", "segment_name"]
    assert scored["segment_name"].iloc[0] == model.segment_names[int(scored["segment"].iloc[0])]
    version = MlflowClient(logged.uri).get_model_version("customer-segments", "1")
    assert {"k", "silhouette", "stability_ari", "data_digest", "segment_names"} <= set(version.tags)
    assert version.tags["data_digest"] == trained.context.data_digest
    # Loading by number and by URI gives the same version.
    assert tracking.load_segment_model("1").version == "1"
    assert tracking.load_segment_model("models:/customer-segments@candidate").version == "1"


def test_choose_registers_another_k(mlflow_store: str, trained: Trained) -> None:
    recommended = recommend_k(trained.sweep.table()).k
    other = next(k for k in KS if k != recommended)
    result = log(trained, chosen_k=other)
    assert result.k == other
    assert tracking.load_segment_model("candidate").k == other
    description = MlflowClient(mlflow_store).get_model_version("customer-segments", result.version).description
    assert f"Registered k={other} instead (chosen with `--choose`)." in description


def test_promote_and_rollback_move_aliases_and_write_the_audit_trail(logged_copy: Logged, trained: Trained) -> None:
    log(trained)  # version 2
    first = tracking.promote("1", reason="first release")
    assert first["previous"] == ""
    second = tracking.promote("2", reason="better data")
    assert second["previous"] == "1"
    client = MlflowClient(logged_copy.uri)
    aliases = {alias: str(v) for alias, v in client.get_registered_model("customer-segments").aliases.items()}
    assert aliases == {"production": "2", "previous-production": "1", "candidate": "2"}
    tags = client.get_model_version("customer-segments", "2").tags
    assert tags["promoted_by"] == "tester"
    assert tags["promotion_reason"] == "better data"
    assert pd.Timestamp(tags["promoted_at"]).tzinfo is not None

    back = tracking.rollback()
    assert back["version"] == "1"
    aliases = client.get_registered_model("customer-segments").aliases
    assert (str(aliases["production"]), str(aliases["previous-production"])) == ("1", "2")
    again = tracking.rollback()  # a second rollback undoes the first
    assert again["version"] == "2"
    trail = tracking.audit_trail()
    assert len(trail) == 4
    assert "production: - -> 1 by tester (first release)" in trail[0]
    assert "production: 2 -> 1" in trail[2]
    assert [v.aliases for v in tracking.list_versions()] == [["candidate", "production"], ["previous-production"]]


def test_promoting_the_holder_again_changes_nothing(logged_copy: Logged) -> None:
    tracking.promote("1", reason="first")
    assert tracking.promote("1", reason="again")["changed"] == "no"
    assert len(tracking.audit_trail()) == 1


def test_gates_refuse_a_bad_version_and_force_needs_a_reason(logged_copy: Logged) -> None:
    strict = tracking.Gates(min_silhouette=0.99, min_stability=0.8)
    with pytest.raises(GateError, match=r"silhouette 0\.\d+ < 0\.990.*--force"):
        tracking.promote("1", gates=strict)
    with pytest.raises(GateError, match="--force needs --reason"):
        tracking.promote("1", gates=strict, force=True)
    aliases = MlflowClient(logged_copy.uri).get_registered_model("customer-segments").aliases
    assert "production" not in aliases
    tracking.promote("1", gates=strict, force=True, reason="pilot with a known weak model")
    tags = MlflowClient(logged_copy.uri).get_model_version("customer-segments", "1").tags
    assert tags["promotion_forced"] == "true"


def test_unknown_versions_and_aliases_are_clear_errors(mlflow_store: str, trained: Trained) -> None:
    with pytest.raises(ModelNotFoundError, match=r"no registered model 'customer-segments'.*segments train"):
        tracking.load_segment_model("production")
    log(trained)
    with pytest.raises(ModelNotFoundError, match=r"has no alias 'production'.*segments promote"):
        tracking.load_segment_model("production")
    with pytest.raises(ModelNotFoundError, match=r"has no version 7 \(versions: 1\)"):
        tracking.promote("7")
    with pytest.raises(ModelNotFoundError, match="nothing to roll back"):
        tracking.rollback()


def test_failed_sweep_registers_nothing_and_leaves_no_running_run(
    mlflow_store: str, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_log_files = tracking.runs._log_files
    calls: list[list[str]] = []

    def disk_full_at_the_first_child(files: dict[str, str | bytes]) -> None:
        calls.append(sorted(files))
        if len(calls) == 2:  # the parent's artifacts were written; the first child's fail
            raise OSError("disk full")
        real_log_files(files)

    monkeypatch.setattr(tracking.runs, "_log_files", disk_full_at_the_first_child)
    with pytest.raises(OSError, match="disk full"):
        log(trained)
    assert calls[1] == ["centroids.csv", "profile.csv", "silhouette.png"]
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name("customer-segments").experiment_id])
    names = sorted(run.info.run_name for run in runs)
    assert len(names) == 2
    assert names[0] == "k=2"
    assert names[1].startswith("sweep-")
    assert {run.info.status for run in runs} == {"FAILED"}
    assert client.search_registered_models() == []
    assert mlflow.active_run() is None


def test_interrupted_sweep_ends_runs_killed(
    mlflow_store: str, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(_files: dict[str, str | bytes]) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tracking.runs, "_log_files", interrupted)
    with pytest.raises(KeyboardInterrupt):
        log(trained)
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name("customer-segments").experiment_id])
    assert {run.info.status for run in runs} == {"KILLED"}
    assert client.search_registered_models() == []


def test_a_failure_while_profiling_or_drawing_starts_no_run(
    mlflow_store: str, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workflow.report

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("cannot draw")

    monkeypatch.setattr(workflow.report, "silhouette_figure", broken)
    with pytest.raises(RuntimeError, match="cannot draw"):
        log(trained)
    client = MlflowClient(mlflow_store)
    experiment = client.get_experiment_by_name("customer-segments")
    assert experiment is None or client.search_runs([experiment.experiment_id]) == []
    assert client.search_registered_models() == []


def test_a_report_of_other_ks_is_refused_before_any_run(mlflow_store: str, trained: Trained) -> None:
    from workflow.report import build_sweep_report

    sweep = trained.sweep
    report = build_sweep_report(sweep, trained.context.features, 3)
    del report.trials[sweep.trials[0].k]  # not the registered k: the check itself must refuse
    with pytest.raises(ValueError, match="the report covers k="):
        log(trained, report=report)
    client = MlflowClient(mlflow_store)
    experiment = client.get_experiment_by_name("customer-segments")
    assert experiment is None or client.search_runs([experiment.experiment_id]) == []


def test_stale_running_runs_of_dead_processes_are_marked_killed(mlflow_store: str) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    client = MlflowClient(mlflow_store)
    experiment = tracking.experiment_id()
    host = socket.gethostname()
    stale = client.create_run(experiment, tags={"segments.pid": dead.stdout.strip(), "segments.host": host})
    alive = client.create_run(experiment, tags={"segments.pid": str(os.getpid()), "segments.host": host})
    assert tracking.reap_stale_runs() == 1
    assert client.get_run(stale.info.run_id).info.status == "KILLED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"
    client.set_terminated(alive.info.run_id)


def test_a_pickle_model_is_refused(logged_copy: Logged, trained: Trained) -> None:
    import mlflow.sklearn

    pipeline = trained.sweep.trial(2).pipeline
    with mlflow.start_run(experiment_id=tracking.experiment_id()):
        info = mlflow.sklearn.log_model(
            pipeline, name="model", serialization_format="cloudpickle", pip_requirements=["scikit-learn"]
        )
    version = mlflow.register_model(info.model_uri, "customer-segments").version
    MlflowClient(logged_copy.uri).set_model_version_tag("customer-segments", version, "silhouette", "0.9")
    with pytest.raises(ModelNotFoundError, match="only skops models are loaded"):
        tracking.load_segment_model(str(version))
    with pytest.raises(GateError, match="only skops"):
        tracking.promote(str(version), force=True, reason="try anyway")


def test_store_is_created_once_under_the_project_or_the_given_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SEGMENTS_HOME", str(tmp_path))
    tracking.reset()
    uri = tracking.configure()
    assert uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()
    assert tracking.artifact_root(uri) == (tmp_path / "mlruns" / "artifacts").as_uri()
    tracking.reset()


def test_unreachable_store_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workflow.errors import StoreUnavailableError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocker}/mlruns/mlflow.db")
    tracking.reset()
    with pytest.raises(StoreUnavailableError, match="cannot create the store folder"):
        tracking.configure()
    tracking.reset()


# --------------------------------------------------------------------------------------------------
# Issue 11: gates, the customers in the registry, MLflow's own clients, no module state
# --------------------------------------------------------------------------------------------------


def test_force_overrides_a_metric_gate_but_never_the_data_contract(logged_copy: Logged, trained: Trained) -> None:
    client = MlflowClient(logged_copy.uri)
    strict = tracking.Gates(min_silhouette=0.99, min_stability=0.8)
    failures = tracking.check_gates(client.get_model_version("customer-segments", "1"), strict)
    assert [(failure.gate, failure.overridable) for failure in failures] == [("silhouette", True)]
    assert tracking.promote("1", gates=strict, force=True, reason="pilot")["version"] == "1"

    # A version fitted on a column outside the data contract: sound artifacts, only the contract gate fails.
    features = trained.context.features.assign(shoe_size=np.arange(len(trained.context.features)) % 7 + 38.0)
    sweep = fit_sweep(features, [2], random_state=0, n_init=1)
    context = replace(trained.context, features=features, k_spec="2")
    tracking.log_sweep(sweep, recommend_k(sweep.table()), context)
    version = client.get_model_version("customer-segments", "2")
    failures = tracking.check_gates(version, tracking.Gates(min_silhouette=-1, min_stability=-1))
    assert [(failure.gate, failure.overridable) for failure in failures] == [("contract", False)]
    assert "shoe_size" in failures[0].message
    with pytest.raises(GateError, match=r"features \['shoe_size'\] are not in the data contract") as refused:
        tracking.promote("2", force=True, reason="force it anyway")
    assert "--force" not in str(refused.value)  # no advice to force what cannot be forced
    aliases = client.get_registered_model("customer-segments").aliases
    assert str(aliases["production"]) == "1"


@pytest.mark.parametrize(
    ("value", "threshold", "message"),
    [
        (0.212, 0.25, "silhouette 0.212 < 0.250"),
        (0.24996, 0.25, "silhouette 0.24996 < 0.25000"),  # three decimals would read "0.250 < 0.250"
        (0.2499, 0.25, "silhouette 0.2499 < 0.2500"),
        (-0.05, 0.0, "silhouette -0.050 < 0.000"),
        (float("nan"), 0.25, "silhouette not recorded on the version (gate: 0.250)"),
    ],
)
def test_a_gate_message_shows_the_digits_that_tell_value_and_threshold_apart(
    value: float, threshold: float, message: str
) -> None:
    assert tracking.below_threshold("silhouette", value, threshold) == message


def test_a_version_just_below_the_gate_is_refused_with_distinct_numbers(logged_copy: Logged) -> None:
    version = MlflowClient(logged_copy.uri).get_model_version("customer-segments", "1")
    silhouette = float(version.tags["silhouette"])
    # A threshold a hair above the recorded value: the two read the same to three decimals.
    failures = tracking.check_gates(version, tracking.Gates(min_silhouette=silhouette + 1e-6, min_stability=-1))
    (failure,) = failures
    shown = failure.message.removeprefix("silhouette ").split(" < ")
    assert float(shown[0]) < float(shown[1]), failure.message


def test_the_training_customers_are_logged_with_the_sweep_and_load_by_run(logged: Logged, trained: Trained) -> None:
    result = logged.result
    client = MlflowClient(logged.uri)
    assert tracking.CUSTOMERS_ARTIFACT in {a.path for a in client.list_artifacts(result.parent_run_id)}
    model = tracking.load_segment_model("1")
    assert model.customers_run_id == result.parent_run_id
    customers = tracking.load_customers(model.customers_run_id)
    pd.testing.assert_frame_equal(customers, trained.context.features)
    assert tracking.load_customers(model.customers_run_id) is customers  # cached per run
    with pytest.raises(DataError, match=r"customers\.parquet unreadable"):
        tracking.load_customers(result.child_run_ids[result.k])  # a child run holds no customers


def test_the_dashboard_reads_the_training_customers_from_the_registry_not_the_file(
    mlflow_store: str, tmp_path: Path
) -> None:
    from dashboard.store import DataStore, Drift
    from segments.cli import run

    data, newer = tmp_path / "shipments.parquet", tmp_path / "newer.parquet"
    for path, seed in ((data, "4"), (newer, "5")):
        assert run(["generate", "--customers", "300", "--months", "4", "--seed", seed, "--out", str(path)]) == 0
    assert run(["train", "--data", str(data), "--k", "2-3", "--n-init", "1"]) == 0
    customers = pd.read_parquet(data)["customer_id"].nunique()
    data.unlink()  # the trainer's file is gone (another machine, moved, deleted)

    store = DataStore(model_ref="candidate")  # the default loaders, as `segments dashboard` builds them
    assert store.problem is None, store.problem and store.problem.message("en")
    assert store.model is not None
    assert store.model.version == "1"
    assert len(store.customers) == customers

    with_data = DataStore(model_ref="candidate", data_path=str(newer))
    assert with_data.problem is None
    drift = with_data.drift()
    assert isinstance(drift, Drift)
    assert drift.n_reference == customers
    assert drift.n_current == pd.read_parquet(newer)["customer_id"].nunique()


def test_mlflow_pyfunc_takes_integer_counts_and_answers_segment_names(logged: Logged, trained: Trained) -> None:
    model = tracking.load_segment_model("candidate")
    # What a user naturally passes: whole numbers of orders and days as int64, money as float.
    frame = trained.context.features[model.features].reset_index(drop=True)
    counts = [name for name in ("recency_days", "frequency", "tenure_days") if name in frame]
    frame[counts] = frame[counts].round().astype("int64")
    assert (frame.dtypes == "int64").any()

    predicted = mlflow.pyfunc.load_model("models:/customer-segments@candidate").predict(frame)

    expected = model.score(frame.astype("float64"))
    assert list(predicted.columns) == ["segment", "segment_name"]
    np.testing.assert_array_equal(predicted["segment"].to_numpy(), expected["segment"].to_numpy())
    assert predicted["segment_name"].tolist() == expected["segment_name"].tolist()
    # The sklearn flavour is still the skops pipeline the product loads.
    assert mlflow.models.get_model_info("models:/customer-segments/1").flavors["sklearn"]["serialization_format"] == (
        "skops"
    )


def test_the_experiment_opens_on_training_runs_in_the_mlflow_ui(logged_copy: Logged, trained: Trained) -> None:
    client = MlflowClient(logged_copy.uri)
    # An experiment created before the tag existed gets it at the next sweep.
    client.create_experiment("older", artifact_location=tracking.artifact_root(logged_copy.uri))
    tracking.log_sweep(trained.sweep, recommend_k(trained.sweep.table()), trained.context, experiment="older")
    for name in ("customer-segments", "older"):
        assert client.get_experiment_by_name(name).tags["mlflow.experimentKind"] == "custom_model_development"


def test_the_model_and_its_versions_have_markdown_descriptions(logged: Logged, trained: Trained) -> None:
    result = logged.result
    client = MlflowClient(logged.uri)
    version = client.get_model_version("customer-segments", result.version)
    model = tracking.load_segment_model(result.version)
    profile = model.profile
    assert version.description.startswith(recommend_k(trained.sweep.table()).reason + "\n\n|")
    assert "| segment | name | customers | revenue share | description |" in version.description
    for segment, row in profile.iterrows():
        size = f"{int(row['size']):,} ({row['share']:.1%})"
        revenue = f"{row['revenue_share']:.1%}" if pd.notna(row["revenue_share"]) else "-"
        suffix = " (set aside)" if row["kind"] == "set_aside" else ""
        described = row["description"] if isinstance(row["description"], str) else ""
        assert f"| {segment} | {row['name']}{suffix} | {size} | {revenue} | {described} |" in version.description
    registered = client.get_registered_model("customer-segments").description
    assert "### Latest version: 1" in registered
    assert version.description in registered


def test_mlflow_info_lines_stay_out_of_the_cli_output(
    cli, small_shipments: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}")  # created by train
    monkeypatch.setenv("SEGMENTS_USER", "tester")
    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    tracking.reset()
    try:
        result = cli("train", "--data", small_shipments, "--k", "2-3", "--n-init", "1")
    finally:
        tracking.reset()
    assert result.code == 0, result.err
    output = result.out + result.err
    for noise in ("Creating initial MLflow database tables", "Successfully registered model", "Created version"):
        assert noise not in output


def test_reset_forgets_the_store_so_the_next_configure_checks_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", empty_store(tmp_path))  # a copy: probes, not migrations, are counted
    probes: list[str] = []
    real_probe = tracking.store._probe
    monkeypatch.setattr(tracking.store, "_probe", lambda uri: (probes.append(uri), real_probe(uri)))
    tracking.reset()
    uri = tracking.configure()
    tracking.configure()  # the same store, already checked: not probed again
    assert probes == [uri]
    tracking.reset()
    tracking.configure()
    assert probes == [uri, uri]
    tracking.reset()


def test_one_version_summary_for_tracking_and_the_dashboard() -> None:
    import dashboard.store
    import dashboard.testing
    from workflow.model import VersionSummary

    assert tracking.VersionSummary is VersionSummary
    assert dashboard.store.VersionSummary is VersionSummary
    assert not hasattr(dashboard.testing, "Summary")


@pytest.mark.slow  # starts a model server process (~15 s): make test runs it, make test-fast does not
def test_mlflow_models_serve_answers_segment_names(logged: Logged, trained: Trained, tmp_path: Path) -> None:
    import signal
    import time
    import urllib.request

    from tests.support.processes import free_port

    model = tracking.load_segment_model("candidate")
    rows = trained.context.features[model.features].head(20).reset_index(drop=True)
    rows["frequency"] = rows["frequency"].round().astype("int64")
    port = free_port()
    # uvicorn, which `mlflow models serve` runs, is in this environment's bin folder.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/customer-segments/1"]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)]
    with (tmp_path / "serve.log").open("wb") as log_file:
        server = subprocess.Popen(command, env=env, stdout=log_file, stderr=log_file, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.5)
        body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.loads(response.read())["predictions"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    expected = model.score(rows.astype("float64"))
    assert [p["segment"] for p in predictions] == expected["segment"].tolist()
    assert [p["segment_name"] for p in predictions] == expected["segment_name"].tolist()
