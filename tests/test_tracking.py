"""The MLflow contract (DESIGN §5) against a real temporary SQLite store: runs, registry, promotion, loading."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.conftest import CHILD_METRICS, CHILD_PARAMS
from workflow import tracking
from workflow.clustering import Sweep, fit_sweep, recommend_k
from workflow.data import data_digest, read_shipments
from workflow.errors import GateError, ModelNotFoundError
from workflow.features import build_features

KS = [2, 3, 4]


@dataclass
class Trained:
    """A sweep fitted once per module and what it was fitted on."""

    sweep: Sweep
    context: tracking.SweepContext


@pytest.fixture(scope="module")
def trained(small_shipments: Path) -> Trained:
    shipments, report = read_shipments(small_shipments)
    features = build_features(shipments)
    sweep = fit_sweep(features, KS, random_state=0, n_init=4)
    context = tracking.SweepContext(
        data_path=str(small_shipments),
        data_digest=data_digest(shipments),
        as_of="2026-11-01",
        n_rows=len(shipments),
        home_country="FR",
        report=report,
        features=features,
        k_spec="2-4",
    )
    return Trained(sweep, context)


def log(trained: Trained, **options: object) -> tracking.TrainResult:
    return tracking.log_sweep(trained.sweep, recommend_k(trained.sweep.table()), trained.context, **options)


def test_sweep_logs_parent_and_one_child_per_k_with_contract_names(mlflow_store: str, trained: Trained) -> None:
    result = log(trained)
    client = MlflowClient(mlflow_store)
    experiment = client.get_experiment_by_name("customer-segments")
    assert experiment is not None
    assert experiment.artifact_location.startswith(Path(mlflow_store.removeprefix("sqlite:///")).parent.as_uri())
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


def test_registered_model_loads_back_and_predicts_the_same_labels(mlflow_store: str, trained: Trained) -> None:
    result = log(trained)
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
    version = MlflowClient(mlflow_store).get_model_version("customer-segments", "1")
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


def test_promote_and_rollback_move_aliases_and_write_the_audit_trail(mlflow_store: str, trained: Trained) -> None:
    log(trained)
    log(trained)
    first = tracking.promote("1", reason="first release")
    assert first["previous"] == ""
    second = tracking.promote("2", reason="better data")
    assert second["previous"] == "1"
    client = MlflowClient(mlflow_store)
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


def test_promoting_the_holder_again_changes_nothing(mlflow_store: str, trained: Trained) -> None:
    log(trained)
    tracking.promote("1", reason="first")
    assert tracking.promote("1", reason="again")["changed"] == "no"
    assert len(tracking.audit_trail()) == 1


def test_gates_refuse_a_bad_version_and_force_needs_a_reason(mlflow_store: str, trained: Trained) -> None:
    log(trained)
    strict = tracking.Gates(min_silhouette=0.99, min_stability=0.8)
    with pytest.raises(GateError, match=r"silhouette 0\.\d+ < 0\.990.*--force"):
        tracking.promote("1", gates=strict)
    with pytest.raises(GateError, match="--force needs --reason"):
        tracking.promote("1", gates=strict, force=True)
    aliases = MlflowClient(mlflow_store).get_registered_model("customer-segments").aliases
    assert "production" not in aliases
    tracking.promote("1", gates=strict, force=True, reason="pilot with a known weak model")
    tags = MlflowClient(mlflow_store).get_model_version("customer-segments", "1").tags
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
    real_log_files = tracking._log_files
    calls: list[list[str]] = []

    def disk_full_at_the_first_child(files: dict[str, str | bytes]) -> None:
        calls.append(sorted(files))
        if len(calls) == 2:  # the parent's artifacts were written; the first child's fail
            raise OSError("disk full")
        real_log_files(files)

    monkeypatch.setattr(tracking, "_log_files", disk_full_at_the_first_child)
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

    monkeypatch.setattr(tracking, "_log_files", interrupted)
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
    del report.trials[sweep.trials[-1].k]
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


def test_a_pickle_model_is_refused(mlflow_store: str, trained: Trained) -> None:
    import mlflow.sklearn

    log(trained)
    pipeline = trained.sweep.trial(2).pipeline
    with mlflow.start_run(experiment_id=tracking.experiment_id()):
        info = mlflow.sklearn.log_model(
            pipeline, name="model", serialization_format="cloudpickle", pip_requirements=["scikit-learn"]
        )
    version = mlflow.register_model(info.model_uri, "customer-segments").version
    MlflowClient(mlflow_store).set_model_version_tag("customer-segments", version, "silhouette", "0.9")
    with pytest.raises(ModelNotFoundError, match="only skops models are loaded"):
        tracking.load_segment_model(str(version))
    with pytest.raises(GateError, match="only skops"):
        tracking.promote(str(version), force=True, reason="try anyway")


def test_store_is_created_once_under_the_project_or_the_given_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SEGMENTS_HOME", str(tmp_path))
    monkeypatch.setattr(tracking, "_configured", None)
    uri = tracking.configure()
    assert uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()
    assert tracking.artifact_root(uri) == (tmp_path / "mlruns" / "artifacts").as_uri()
    monkeypatch.setattr(tracking, "_configured", None)


def test_unreachable_store_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workflow.errors import StoreUnavailableError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocker}/mlruns/mlflow.db")
    monkeypatch.setattr(tracking, "_configured", None)
    with pytest.raises(StoreUnavailableError, match="cannot create the store folder"):
        tracking.configure()
    monkeypatch.setattr(tracking, "_configured", None)
