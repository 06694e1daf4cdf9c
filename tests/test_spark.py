"""The Spark engine: the same features, segments and MLflow contract as the pandas/sklearn path.

Spark runs in ``local[2]`` mode with one session for the whole test run. Without pyspark or Java
the module is skipped, except under ``CI=true``, where the Spark tests must run: there a missing
engine is an error, not a skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
)

from workflow import pipeline, tracking
from workflow.clustering import METRIC_NAMES, assign_segments, fit_sweep, make_pipeline, recommend_k, scaled_space
from workflow.data import read_shipments
from workflow.errors import DataError, SegmentsError
from workflow.features import build_features
from workflow.model import SegmentModel
from workflow.set_aside import SetAsideRule, fit_set_aside


def _missing_engine() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'segments[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        return "no Java runtime on PATH or in JAVA_HOME (Spark 4 needs Java 17)"
    return None


_MISSING = _missing_engine()
if _MISSING is not None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the Spark tests, but {_MISSING}", pytrace=False)
    pytest.skip(_MISSING, allow_module_level=True)

from workflow import spark_engine  # noqa: E402 -- only once pyspark is known to be importable
from workflow.spark_engine.sweep import _ari_from_contingency  # noqa: E402

pytestmark = [
    pytest.mark.spark,
    # pyspark's collect() leaves the socket it reads results from to the garbage collector (pyspark 4.0).
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
]

#: The sweep both engines fit once. At these k the generated data has one clear optimum; at k=4..7
#: several local optima lie within a few percent of inertia, and the engines agree only with their
#: full 10 restarts each, which is too slow for a unit test (measured separately, see bench/).
KS = [2, 3]
SEED = 0
#: Spark restarts in the tests: enough to reach the optimum at ``KS``.
N_INIT = 2


@pytest.fixture(scope="session")
def spark():
    """One local[2] SparkSession for every Spark test (starting the JVM takes seconds)."""
    session = spark_engine.spark_session("local[2]", "segments-tests")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def shipments_file(generated_shipments: Callable[..., Path]) -> Path:
    """Generated shipments as Parquet (naive nanosecond timestamps, dictionary columns: pandas' defaults)."""
    return generated_shipments(500, 6, 5)


@pytest.fixture(scope="module")
def pandas_features(shipments_file: Path) -> pd.DataFrame:
    shipments, _ = read_shipments(shipments_file)
    return build_features(shipments)


@pytest.fixture(scope="module")
def trained(spark, shipments_file: Path) -> spark_engine.SparkTraining:
    """``train_with_spark`` once for the module: features, validation and the sweep over ``KS``."""
    return spark_engine.train_with_spark(shipments_file, KS, random_state=SEED, n_init=N_INIT, stability_resamples=1)


@pytest.fixture(scope="module")
def sklearn_sweep(pandas_features: pd.DataFrame):
    rule = fit_set_aside(pandas_features)
    return fit_sweep(pandas_features, KS, random_state=SEED, n_init=10, stability_resamples=1, set_aside=rule)


# --------------------------------------------------------------------------------------------------
# Features and validation
# --------------------------------------------------------------------------------------------------


def test_features_equal_build_features(trained, pandas_features: pd.DataFrame) -> None:
    assert trained.features.index.name == "customer_id"
    pd.testing.assert_index_equal(trained.features.index, pandas_features.index, exact=False)
    assert list(trained.features.columns) == list(pandas_features.columns)
    np.testing.assert_allclose(trained.features.to_numpy(), pandas_features.to_numpy(), rtol=1e-9, atol=1e-9)
    shipments, report = read_shipments(trained.report.file)
    assert trained.n_rows == len(shipments) == report.rows_kept
    assert trained.as_of == str((shipments["date"].max().normalize() + pd.Timedelta(days=1)).date())


def test_features_with_options(spark, shipments_file: Path) -> None:
    """``as_of``, a feature subset and another home country, against the pandas definitions."""
    shipments, _ = read_shipments(shipments_file)
    options = {"as_of": "2026-09-15", "features": ["recency_days", "avg_amount", "international_share"]}
    expected = build_features(shipments, home_country="DE", **options)
    frame = spark_engine.spark_features(spark, shipments_file, home_country="DE", **options)
    got = spark_engine.collect_features(frame)
    pd.testing.assert_index_equal(got.index, expected.index, exact=False)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-9)


def test_validation_report_matches_pandas(spark, tmp_path: Path) -> None:
    """Text columns with every kind of fault: the same rules, counts and row numbers as ``read_shipments``."""
    frame = pd.DataFrame(
        {
            "Customer": ["C1", "C1", "C2", None, "  ", "C3", "C3", "C4", "C5", "C5", "C6", "C6"],
            "date": [
                "2026-05-01",
                "2026-05-03T10:00:00+02:00",
                "03/04/2026",
                "2026-05-02",
                "2026-05-02",
                "31/12/2026",
                "2026-06-01",
                None,
                "2026-06-02",
                "2030-01-01",
                "2026-06-03",
                "2026-06-04 08:30:00",
            ],
            "amount": ["12.5", "7", "9", "1", "2", "3", "twelve", "4", "NaN", "5", None, "-3.5"],
            "weight_kg": [1.0, 2.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0, np.nan],
            "destination_country": ["fr", "DE", "FR", "FR", "FR", "FRA", "FR", "FR", "FR", "FR", "FR", "BE"],
            "delivered_late": ["yes", "no", "1", "0", "true", "false", "maybe", None, "y", "n", "t", "f"],
        }
    )
    path = tmp_path / "faulty.parquet"
    frame.to_parquet(path, index=False)
    today = pd.Timestamp("2026-11-30")
    options = {"columns": {"Customer": "customer_id"}, "max_bad_share": 1.0, "today": today}
    expected_rows, expected = read_shipments(path, **options)
    got = spark_engine.read_shipments_spark(spark, path, **options)

    def rules(report) -> set[tuple[str, str, int, tuple[int, ...]]]:
        return {(p.column, p.rule, p.count, tuple(p.rows)) for p in report.problems}

    assert rules(got.report) == rules(expected)
    assert (got.report.rows_read, got.report.rows_kept) == (expected.rows_read, expected.rows_kept)
    features = spark_engine.collect_features(spark_engine.features_from_shipments(got)[0])
    np.testing.assert_allclose(features.to_numpy(), build_features(expected_rows).to_numpy(), rtol=1e-9)


def test_structural_faults_are_data_errors(spark, shipments_file: Path, tmp_path: Path) -> None:
    # The same header rules and words as the pandas reader (workflow.data.check_header).
    with pytest.raises(DataError, match="maps a column onto service, which the file already has"):
        spark_engine.spark_features(spark, shipments_file, columns={"customer_id": "service"})
    no_date = tmp_path / "no_date.parquet"
    pd.read_parquet(shipments_file).drop(columns="date").to_parquet(no_date)
    with pytest.raises(DataError, match=r"missing required column\(s\) date"):
        spark_engine.spark_features(spark, no_date)
    with pytest.raises(DataError, match="Customer: no such column"):
        spark_engine.spark_features(spark, shipments_file, columns={"Customer": "customer_id"})
    with pytest.raises(DataError, match="cannot read as Parquet"):
        spark_engine.spark_features(spark, tmp_path / "absent.parquet")
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_text("customer_id,date,amount\n")
    with pytest.raises(DataError, match="is not a Parquet file"):
        spark_engine.spark_features(spark, corrupt)
    with pytest.raises(DataError, match="reads Parquet"):
        spark_engine.spark_features(spark, tmp_path / "shipments.csv")
    with pytest.raises(DataError, match="no shipment before as-of date"):
        spark_engine.spark_features(spark, shipments_file, as_of="2000-01-01")


# --------------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------------


def test_sweep_gives_the_same_segments_as_sklearn(trained, sklearn_sweep) -> None:
    sweep = trained.sweep
    assert [t.k for t in sweep.trials] == KS
    assert sweep.n_customers == sklearn_sweep.n_customers
    # The same silhouette sample as fit_sweep (here all customers: fewer than the sample size).
    np.testing.assert_array_equal(sweep.silhouette_labels_index, sklearn_sweep.silhouette_labels_index)
    for k in KS:
        spark_trial, sklearn_trial = sweep.trial(k), sklearn_sweep.trial(k)
        assert list(spark_trial.metrics) == list(METRIC_NAMES)
        ari = adjusted_rand_score(spark_trial.labels, sklearn_trial.labels)
        assert ari >= 0.95, f"k={k}: ARI {ari:.3f} between the Spark and sklearn segments"
        assert spark_trial.metrics["silhouette"] == pytest.approx(sklearn_trial.metrics["silhouette"], abs=0.02)


def test_sweep_pipelines_carry_the_spark_fit(trained) -> None:
    """``predict`` on the collected features gives the Spark labels; metrics follow sklearn's definitions.

    K-means and its metrics see the customers the set-aside rule keeps; they all get a label.
    """
    kept = trained.sweep.set_aside_codes == 0
    assert trained.sweep.set_aside == fit_set_aside(trained.features)
    for trial in trained.sweep.trials:
        assert len(trial.labels) == len(trained.features)
        np.testing.assert_array_equal(
            assign_segments(trial.pipeline, trained.features, trained.sweep.set_aside), trial.labels
        )
        assert trial.labels.dtype == np.int32
        features, labels = trained.features[kept], trial.labels[kept]
        scaled = scaled_space(trial.pipeline, features)
        # The scaler is what StandardScaler.fit computes on the same data (population std).
        reference = make_pipeline(list(features.columns), trial.k)[:-1].fit(features)
        np.testing.assert_allclose(scaled, reference.transform(features), rtol=1e-9, atol=1e-12)
        centres = trial.pipeline.named_steps["kmeans"].cluster_centers_
        assert trial.metrics["inertia"] == pytest.approx(((scaled - centres[labels]) ** 2).sum(), rel=1e-9)
        assert trial.metrics["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(scaled, labels), rel=1e-9)
        assert trial.metrics["davies_bouldin"] == pytest.approx(davies_bouldin_score(scaled, labels), rel=1e-6)
        shares = np.bincount(labels, minlength=trial.k) / len(labels)
        assert trial.metrics["min_cluster_share"] == pytest.approx(shares.min())
        assert 0 < trial.metrics["stability_ari"] <= 1


def test_ari_from_contingency_is_sklearns() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        first, second = rng.integers(0, 4, 300), rng.integers(0, 5, 300)
        second[:200] = first[:200]
        table = np.zeros((4, 5), dtype="int64")
        np.add.at(table, (first, second), 1)
        expected = adjusted_rand_score(first, second)
        assert _ari_from_contingency(table) == pytest.approx(expected, rel=1e-12)
    assert _ari_from_contingency(np.diag([3, 4])) == 1.0


# --------------------------------------------------------------------------------------------------
# The MLflow contract
# --------------------------------------------------------------------------------------------------


def _log(sweep, features: pd.DataFrame, digest: str, report, path: Path, experiment: str):
    customers = pipeline.Customers(features, "2026-11-01", report.rows_kept, digest, report, str(path))
    settings = pipeline.TrainSettings(data=path, k=",".join(map(str, KS)), experiment=experiment)
    return pipeline.log(pipeline.Training(settings, customers, sweep, recommend_k(sweep.table()))).result


def _contract(result) -> dict[str, object]:
    """What the MLflow contract fixes about a logged sweep: run names, kinds, param/metric names, artifacts.

    See docs/architecture.md#mlflow-contract.
    """
    client = tracking.client()
    parent = client.get_run(result.parent_run_id)
    children = {k: client.get_run(run_id) for k, run_id in result.child_run_ids.items()}
    return {
        "parent_kind": parent.data.tags["segments.kind"],
        "parent_params": sorted(parent.data.params),
        "parent_metrics": sorted(parent.data.metrics),
        "parent_artifacts": sorted(a.path for a in client.list_artifacts(parent.info.run_id)),
        "children": sorted(children),
        "child_names": sorted(run.info.run_name for run in children.values()),
        "child_kinds": {run.data.tags["segments.kind"] for run in children.values()},
        "child_parents": {run.data.tags["mlflow.parentRunId"] for run in children.values()},
        "child_params": {tuple(sorted(run.data.params)) for run in children.values()},
        "child_metrics": {tuple(sorted(run.data.metrics)) for run in children.values()},
        "child_artifacts": {
            tuple(sorted(a.path for a in client.list_artifacts(run.info.run_id))) for run in children.values()
        },
    }


@pytest.mark.usefixtures("mlflow_store")
def test_spark_sweep_logs_the_same_mlflow_contract(trained, pandas_features, shipments_file: Path) -> None:
    # A quick sklearn sweep logged in the same store is the reference for the contract's shape; the
    # Spark sweep is logged last, so that it holds the ``candidate`` alias.
    rule = fit_set_aside(pandas_features)
    reference_sweep = fit_sweep(pandas_features, KS, random_state=SEED, n_init=1, stability_resamples=1, set_aside=rule)
    reference = _log(reference_sweep, pandas_features, "digest", trained.report, shipments_file, "sklearn-engine")
    spark_result = _log(trained.sweep, trained.features, trained.digest, trained.report, shipments_file, "spark")

    spark_contract, reference_contract = _contract(spark_result), _contract(reference)
    assert spark_contract["child_parents"] == {spark_result.parent_run_id}
    spark_contract.pop("child_parents")
    reference_contract.pop("child_parents")
    assert spark_contract == reference_contract
    assert spark_contract["parent_kind"] == "sweep"
    assert spark_contract["child_kinds"] == {"trial"}
    assert spark_contract["child_names"] == [f"k={k}" for k in KS]
    assert spark_contract["child_metrics"] == {tuple(sorted(METRIC_NAMES))}

    model = tracking.load_segment_model("candidate")
    assert model.version == spark_result.version
    assert model.data_digest == trained.digest
    assert model.set_aside == trained.sweep.set_aside
    np.testing.assert_array_equal(
        assign_segments(model.pipeline, trained.features, model.set_aside), trained.sweep.trial(model.k).labels
    )


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------


def test_score_with_spark_equals_pandas_scoring(trained, pandas_features, shipments_file: Path, tmp_path) -> None:
    trial = trained.sweep.trial(KS[-1])
    names = {segment: f"segment {segment}" for segment in range(trial.k)}
    # A rule that sets customers aside on both counts: Spark labels them as the pandas model does.
    features = pandas_features
    rule = SetAsideRule(
        refund_max=float(features["monetary"].quantile(0.03)),
        fences={"frequency": float(features["frequency"].quantile(0.97))},
    )
    names.update({trial.k: "refunders", trial.k + 1: "outliers"})
    model = SegmentModel(
        name="customer-segments", version="1", pipeline=trial.pipeline, segment_names=names, set_aside=rule
    )
    out = tmp_path / "scored.parquet"

    counts = spark_engine.score_with_spark(shipments_file, out, model)

    expected = model.score(pandas_features).reset_index()
    assert set(expected["segment"]) >= {trial.k, trial.k + 1}
    got = pd.read_parquet(out)
    assert list(got.columns) == list(expected.columns)
    assert got["customer_id"].tolist() == expected["customer_id"].tolist()  # sorted across the part files
    np.testing.assert_array_equal(got["segment"].to_numpy(), expected["segment"].to_numpy())
    assert got["segment_name"].tolist() == expected["segment_name"].tolist()
    np.testing.assert_allclose(got[model.features].to_numpy(), expected[model.features].to_numpy(), rtol=1e-9)
    assert counts.to_dict() == expected["segment_name"].value_counts().to_dict()


def test_score_refuses_a_pipeline_it_cannot_translate(tmp_path: Path) -> None:
    features = pd.DataFrame({"frequency": [1.0, 2.0, 3.0, 4.0], "monetary": [1.0, 5.0, 2.0, 8.0]})
    pipeline = make_pipeline(list(features.columns), 2).fit(features)
    pipeline.named_steps["transform"].set_params(remainder="drop")
    model = SegmentModel(name="m", version="1", pipeline=pipeline, segment_names={})
    with pytest.raises(SegmentsError, match="needs passthrough"):
        spark_engine.score_with_spark(tmp_path / "x.parquet", tmp_path / "out.parquet", model)
