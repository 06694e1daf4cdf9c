"""The dashboard's DataStore and its computations, without a browser or MLflow.

Models are fitted here with the product's pipeline (``dashboard.testing.fit_model``) on small generated
shipments and served by an in-memory registry with the lookup rules and errors of ``workflow.tracking``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from dashboard import analysis, export, scoring
from dashboard import store as store_module
from dashboard.store import DataStore, Drift, Migration, Problem
from dashboard.testing import FakeRegistry, fit_model
from workflow.data import read_shipments
from workflow.features import build_features
from workflow.synth import generate_shipments, write_dataset

N_CUSTOMERS = 400


@pytest.fixture(scope="module")
def shipments_file(generated_shipments: Callable[..., Path]) -> Path:
    return generated_shipments(N_CUSTOMERS, 12, 1)


@pytest.fixture(scope="module")
def features(shipments_file: Path) -> pd.DataFrame:
    shipments, _ = read_shipments(shipments_file)
    return build_features(shipments)


@pytest.fixture(scope="module")
def models(features: pd.DataFrame, shipments_file: Path) -> dict[str, object]:
    return {
        "1": fit_model(features, 3, version="1", data_path=str(shipments_file)),
        "2": fit_model(features, 4, version="2", data_path=str(shipments_file), random_state=1),
    }


@pytest.fixture
def registry(models: dict[str, object]) -> FakeRegistry:
    registry = FakeRegistry()
    registry.add(models["1"], aliases=["production"])
    registry.add(models["2"], aliases=["candidate"])
    return registry


def make_store(registry: FakeRegistry, **params: object) -> DataStore:
    return DataStore(loader=registry.load, lister=registry.list, uri=lambda: "sqlite:///test.db", **params)


# --- pure computations, hand-checked ---------------------------------------------------------------


def test_psi_hand_checked() -> None:
    # Reference [1, 2, 3, 4] in 2 bins: the median 2.5 splits it 50 % / 50 %. New data [1, 1, 1, 4]:
    # 75 % / 25 %. PSI = (0.75 − 0.5)·ln(0.75/0.5) + (0.25 − 0.5)·ln(0.25/0.5) = 0.25·ln 1.5 + 0.25·ln 2.
    value = analysis.psi([1, 2, 3, 4], [1, 1, 1, 4], n_bins=2)
    assert value == pytest.approx(0.274653, abs=1e-6)
    assert analysis.psi_flag(value) == "major"


def test_psi_point_mass_stays_in_one_bin() -> None:
    # Reference: eight zeros, 0.5 and 1.0. Its deciles are 0 (×7, merged), 0.1 (q=0.8) and 0.55 (q=0.9),
    # so the bins are (−∞, 0], (0, 0.1], (0.1, 0.55], (0.55, ∞):
    #   reference 8, 0, 1, 1 of 10 → 0.8, 0 (floored to 1e-4), 0.1, 0.1
    #   current   2, 0, 4, 4 of 10 → 0.2, 1e-4,                  0.4, 0.4
    # PSI = (0.2 − 0.8)·ln(0.2/0.8) + 0 + 2 · (0.4 − 0.1)·ln(0.4/0.1) = 0.6·ln 4 + 0.6·ln 4 = 1.2·ln 4.
    reference = [0] * 8 + [0.5, 1.0]
    current = [0] * 2 + [0.5] * 4 + [1.0] * 4
    assert analysis.psi(reference, current) == pytest.approx(1.663553, abs=1e-6)


def test_psi_of_identical_distributions_is_zero_and_flags() -> None:
    values = np.arange(100.0)
    assert analysis.psi(values, values) == pytest.approx(0.0)
    assert analysis.psi_flag(0.05) == "stable"
    assert analysis.psi_flag(0.1) == "moderate"
    assert analysis.psi_flag(0.2499) == "moderate"
    assert analysis.psi_flag(0.25) == "major"


def test_migration_matrix_hand_checked() -> None:
    # customer:   0  1  2  3  4  5
    # version A:  0  0  1  1  2  2
    # version B:  1  1  0  2  2  2
    counts = analysis.migration_matrix(np.array([0, 0, 1, 1, 2, 2]), np.array([1, 1, 0, 2, 2, 2]), 3, 3)
    assert counts.tolist() == [[0, 2, 0], [1, 0, 1], [0, 0, 2]]


def test_migration_matrix_with_different_k() -> None:
    counts = analysis.migration_matrix(np.array([0, 1, 1]), np.array([3, 3, 0]), 2, 4)
    assert counts.tolist() == [[0, 0, 0, 1], [1, 0, 0, 1]]


def test_segment_means_with_mask_and_empty_segment() -> None:
    values = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    labels = np.array([0, 0, 1])
    means = analysis.segment_means(values, labels, 3, mask=np.array([True, False, True]))
    assert means[0].tolist() == [1.0, 10.0]
    assert means[1].tolist() == [5.0, 50.0]
    assert np.isnan(means[2]).all()


def test_share_change() -> None:
    table = analysis.share_change(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    assert table["reference"].tolist() == [0.5, 0.5]
    assert table["current"].tolist() == [0.25, 0.75]
    assert table["change"].tolist() == [-0.25, 0.25]


def test_pca_projection_is_deterministic_and_explains_variance() -> None:
    rng = np.random.default_rng(0)
    scaled = rng.normal(size=(500, 4)) * np.array([3.0, 2.0, 0.5, 0.1])
    coords, explained = analysis.pca_projection(scaled)
    again, _ = analysis.pca_projection(scaled)
    assert coords.shape == (500, 2)
    assert np.array_equal(coords, again)
    assert explained[0] > explained[1] > 0
    assert explained.sum() < 1


# --- the store ---------------------------------------------------------------------------------------


def test_store_loads_production_and_labels_every_customer(registry: FakeRegistry, features: pd.DataFrame) -> None:
    store = make_store(registry)
    assert store.problem is None
    assert store.model.version == "1"
    frame = store.customers
    assert len(frame) == len(features)
    assert frame["customer_id"].tolist() == features.index.tolist()
    expected = store.model.pipeline.predict(features[store.model.features])
    assert np.array_equal(frame["segment"].to_numpy(), expected)
    assert list(frame["segment_name"].cat.categories) == [store.model.segment_names[i] for i in range(3)]
    assert len(store.rows) == len(features)


def test_alias_is_loaded_by_version_number(registry: FakeRegistry) -> None:
    # The model cache is keyed by version: "production" must reach the loader as "1".
    calls: list[str] = []

    def loader(ref: str, name: str) -> object:
        calls.append(ref)
        return registry.load(ref, name)

    DataStore(loader=loader, lister=registry.list)
    assert calls == ["1"]


def test_brush_selection_filters_the_table(registry: FakeRegistry) -> None:
    store = make_store(registry)
    frame = store.customers
    store.select((hv.dim("pc1") > 0) & (hv.dim("pc2") < 1))
    expected = frame.loc[(frame["pc1"] > 0) & (frame["pc2"] < 1), "customer_id"]
    assert 0 < len(expected) < len(frame)
    assert store.rows["customer_id"].tolist() == expected.tolist()
    assert store.n_selected() == len(expected)
    store.clear_selection()
    assert len(store.rows) == len(frame)


def test_segment_filter_and_search_narrow_the_selection(registry: FakeRegistry) -> None:
    store = make_store(registry)
    frame = store.customers
    store.segment_filter = [1]
    assert set(store.rows["segment"]) == {1}
    assert len(store.rows) == int((frame["segment"] == 1).sum())
    store.select(hv.dim("frequency") >= 10)
    assert len(store.rows) == int(((frame["segment"] == 1) & (frame["frequency"] >= 10)).sum())
    store.segment_filter = []
    store.clear_selection()
    store.search = "c000001"  # ids are C0000000…; the search ignores case
    assert store.rows["customer_id"].str.startswith("C000001").all()
    assert len(store.rows) == int(frame["customer_id"].str.contains("C000001").sum()) > 0


def test_brushes_of_each_source_intersect(registry: FakeRegistry) -> None:
    # What the views do on a brush: one region per source, the selection is their intersection
    # (link_selections' cross_filter_mode="intersect"); a new brush replaces its source's region.
    store = make_store(registry)
    frame = store.customers
    pc1, monetary = frame["pc1"], frame["monetary"]
    median = float(monetary.median())
    store.brush(scoring.PROJECTION, scoring.box_selection((0.0, -100.0, 100.0, 100.0)))
    assert store.n_selected() == int((pc1 >= 0).sum())
    store.brush("monetary", scoring.range_selection("monetary", median, 1e12))
    both = (pc1 >= 0) & (monetary >= median)
    assert store.n_selected() == int(both.sum())
    assert store.rows["customer_id"].tolist() == frame.loc[both, "customer_id"].tolist()
    store.brush(scoring.PROJECTION, scoring.box_selection((100.0, 100.0, -100.0, 0.0)))  # right to left
    assert store.n_selected() == int(((frame["pc2"] >= 0) & (monetary >= median)).sum())
    store.brush(scoring.PROJECTION, None)
    assert store.n_selected() == int((monetary >= median).sum())
    store.clear_selection()
    assert store.selected is None
    assert len(store.rows) == len(frame)


def test_brush_expressions_select_what_link_selections_selects(registry: FakeRegistry) -> None:
    # The expressions are HoloViews' own (Selection2DExpr / Selection1DExpr): same rows, bit for bit,
    # on the same float32 projection and float64 features.
    hv.extension("bokeh")  # the expressions read the elements' plot options
    store = make_store(registry)
    dataset = store.dataset
    points = hv.Points(dataset, kdims=["pc1", "pc2"])
    bounds = (-0.7, -1.1, 1.3, 0.4)
    theirs, _, _ = points._get_selection_expr_for_stream_value(bounds=bounds)
    ours = scoring.box_selection(bounds)
    assert np.array_equal(ours.apply(dataset), theirs.apply(dataset))
    histogram = hv.operation.histogram(dataset, dimension="monetary", bins=np.linspace(0, 5000, 31))
    theirs, _, _ = histogram._get_selection_expr_for_stream_value(bounds=(800.0, 0, 300.0, 10))
    ours = scoring.range_selection("monetary", 800.0, 300.0)
    assert np.array_equal(ours.apply(dataset), theirs.apply(dataset))


def test_box_mask_equals_the_brute_force_filter(registry: FakeRegistry) -> None:
    store = make_store(registry)
    x0, y0, x1, y1 = -0.5, -0.25, 1.5, 2.0
    store.brush(scoring.PROJECTION, scoring.box_selection((x1, y1, x0, y0)))
    coords = store.scored.coords
    expected = [
        i
        for i, (x, y) in enumerate(coords.tolist())
        if np.float32(x0) <= x <= np.float32(x1) and np.float32(y0) <= y <= np.float32(y1)
    ]
    assert np.flatnonzero(store.selected).tolist() == expected


def _ray_casting(x: float, y: float, polygon: list[tuple[float, float]]) -> bool:
    inside = False
    for (xa, ya), (xb, yb) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (ya > y) != (yb > y) and x < xa + (y - ya) * (xb - xa) / (yb - ya):
            inside = not inside
    return inside


def test_inside_polygon_hand_checked() -> None:
    # A right triangle (0, 0), (4, 0), (0, 4): inside when x, y > 0 and x + y < 4.
    triangle = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    x = np.array([1.0, 3.0, 1.9, 2.1, -1.0, 0.5, 5.0])
    y = np.array([1.0, 0.5, 1.9, 2.1, 1.0, 3.0, 5.0])
    assert analysis.inside_polygon(x, y, triangle).tolist() == [True, True, True, False, False, True, False]
    assert not analysis.inside_polygon(x, y, triangle[:2]).any()  # two points enclose nothing


def test_lasso_mask_equals_the_brute_force_filter(registry: FakeRegistry) -> None:
    store = make_store(registry)
    lasso = [(-2.0, -2.0), (2.0, -1.0), (0.5, 2.0), (-0.5, 0.0), (-1.5, 1.0)]  # not convex
    store.brush(scoring.PROJECTION, scoring.lasso_selection(np.array(lasso)))
    expected = [i for i, (x, y) in enumerate(store.scored.coords.tolist()) if _ray_casting(x, y, lasso)]
    assert 0 < len(expected) < len(store.customers)
    assert np.flatnonzero(store.selected).tolist() == expected


def test_sessions_share_the_customers(registry: FakeRegistry, features: pd.DataFrame) -> None:
    # At 5M customers a copy per browser tab would cost gigabytes: the frames are views of the
    # features and of the one scored entry; only the segment names are per session (per language).
    def loader(path: str, as_of: str | None, home_country: str, *_options: str) -> pd.DataFrame:
        return features

    first = make_store(registry, features_loader=loader)
    second = make_store(registry, features_loader=loader, lang="fr")
    for column in ("monetary", "pc1", "segment"):
        assert np.shares_memory(first.customers[column].to_numpy(), second.customers[column].to_numpy())
    assert np.shares_memory(first.customers["monetary"].to_numpy(), features["monetary"].to_numpy())
    assert np.shares_memory(first.rows["monetary"].to_numpy(), features["monetary"].to_numpy())  # no filter
    assert first.customers["segment_name"].iloc[0] != second.customers["segment_name"].iloc[0]


def test_histogram_codes_and_counts_hand_checked() -> None:
    # Edges 0, 1, 2, 3 (three bins, the last closed); two segments. code = bin * 2 + segment,
    # outside (and NaN) = 3 * 2 = 6.
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    values = np.array([0.0, 0.5, 1.0, 2.5, 3.0, 3.5, -1.0, np.nan, 1.999])
    labels = np.array([0, 1, 1, 0, 1, 0, 1, 0, 0])
    codes = analysis.histogram_codes(values, edges, labels, 2)
    assert codes.tolist() == [0, 1, 3, 4, 5, 6, 6, 6, 2]
    counts = analysis.histogram_counts(codes, 3, 2)
    # bin 0: 0.0 (s0), 0.5 (s1); bin 1: 1.0 (s1), 1.999 (s0); bin 2: 2.5 (s0), 3.0 (s1).
    assert counts.tolist() == [[1, 1], [1, 1], [1, 1]]
    mask = np.array([True, False, True, True, False, True, True, True, False])
    assert analysis.histogram_counts(codes, 3, 2, mask).tolist() == [[1, 0], [0, 1], [1, 0]]
    assert counts.sum(axis=1).tolist() == np.histogram(values[np.isfinite(values)], edges)[0].tolist()


def test_histogram_edges() -> None:
    assert analysis.histogram_edges(np.array([0.2, 0.4]), share=True, skewed=False)[0].tolist() == pytest.approx(
        np.linspace(0, 1, analysis.HIST_BINS + 1).tolist()
    )
    values = np.arange(1.0, 1001.0)
    edges, log = analysis.histogram_edges(values, share=False, skewed=True)
    assert log
    assert edges[0] == pytest.approx(np.quantile(values, 0.01))
    assert edges[-1] == pytest.approx(np.quantile(values, 0.99))
    assert np.allclose(np.diff(np.log(edges)), np.log(edges[1] / edges[0]))
    edges, log = analysis.histogram_edges(np.zeros(10), share=False, skewed=True)  # no spread, no log
    assert not log
    assert (edges[0], edges[-1]) == (0.0, 1.0)


def test_selection_histograms_match_numpy(registry: FakeRegistry) -> None:
    store = make_store(registry)
    store.select(hv.dim("pc1") > 0)
    frame = store.customers
    bins = store.histogram("monetary")
    assert store.histogram("monetary") is bins  # computed once, shared
    counts = bins.counts(store.selected)
    for segment in range(store.model.k):
        rows = frame[store.selected & (frame["segment"] == segment)]
        assert counts[:, segment].tolist() == np.histogram(rows["monetary"], bins.edges)[0].tolist()


def test_shade_codes_hand_checked() -> None:
    labels = np.array([0, 2, 1, 2], dtype=np.int32)
    assert analysis.shade_codes(labels, None, 3).tolist() == [0, 2, 1, 2]
    codes = analysis.shade_codes(labels, np.array([True, False, True, False]), 3)
    assert codes.tolist() == [0, 3, 1, 3]
    assert codes.dtype == np.int8


def test_export_writes_exactly_the_selected_customers(registry: FakeRegistry) -> None:
    store = make_store(registry)
    frame = store.customers
    store.select(hv.dim("recency_days") <= 30)
    store.segment_filter = [0, 2]
    exported = pd.read_csv(store.export_rows())
    selected = frame[(frame["recency_days"] <= 30) & frame["segment"].isin([0, 2])]
    assert len(exported) == len(selected) > 0
    assert exported["customer_id"].tolist() == selected["customer_id"].tolist()
    assert list(exported.columns) == ["customer_id", "segment", "segment_name", *store.model.features]
    np.testing.assert_allclose(exported["monetary"], selected["monetary"])


def test_export_of_one_segment_ignores_the_selection(registry: FakeRegistry) -> None:
    store = make_store(registry)
    store.select(hv.dim("pc1") > 0)
    exported = pd.read_csv(store.export_segment(2))
    frame = store.customers
    assert exported["customer_id"].tolist() == frame.loc[frame["segment"] == 2, "customer_id"].tolist()
    assert set(exported["segment"]) == {2}


def test_segment_stats_match_the_labels(registry: FakeRegistry) -> None:
    store = make_store(registry)
    stats = store.segment_stats()
    frame = store.customers
    assert stats["customers"].sum() == len(frame)
    assert stats["share"].sum() == pytest.approx(1.0)
    assert stats["revenue_share"].sum() == pytest.approx(1.0)
    assert stats.loc[0, "revenue"] == pytest.approx(frame.loc[frame["segment"] == 0, "monetary"].sum())
    assert stats.loc[1, "shipments"] == pytest.approx(frame.loc[frame["segment"] == 1, "frequency"].sum())
    store.select(hv.dim("pc1") > 0)
    assert stats["selected"].sum() == len(frame)  # computed before the brush
    assert store.segment_stats()["selected"].sum() == store.n_selected()


def test_z_scores_are_the_profile_without_selection(registry: FakeRegistry) -> None:
    store = make_store(registry)
    z = store.z_scores()
    profile = store.model.profile
    for feature in store.model.features:
        np.testing.assert_allclose(z[feature], profile[f"z_{feature}"], atol=1e-5)


def test_switching_version_reloads_and_resets_the_selection(registry: FakeRegistry) -> None:
    store = make_store(registry)
    revision = store.revision
    store.select(hv.dim("pc1") > 0)
    store.model_ref = "2"
    assert store.model.version == "2"
    assert store.revision > revision
    assert store.selected is None
    assert store.customers["segment"].max() == 3
    assert len(store.rows) == len(store.customers)


def test_migration_counts_between_versions(registry: FakeRegistry) -> None:
    store = make_store(registry)
    result = store.migration("2")
    assert isinstance(result, Migration)
    counts = result.counts.to_numpy()
    assert counts.shape == (3, 4)
    labels_a = store.customers["segment"].to_numpy()
    labels_b = registry.models["2"].pipeline.predict(store.customers[store.model.features])
    for i in range(3):
        for j in range(4):
            assert counts[i, j] == int(((labels_a == i) & (labels_b == j)).sum())
    assert counts.sum(axis=1).tolist() == np.bincount(labels_a, minlength=3).tolist()
    assert result.counts.index.name == "v1"
    assert result.counts.columns.name == "v2"


def test_migration_to_an_unknown_version_is_a_message(registry: FakeRegistry) -> None:
    result = make_store(registry).migration("7")
    assert isinstance(result, Problem)
    assert "7" in result.params["detail"]


def test_drift_needs_data(registry: FakeRegistry) -> None:
    assert make_store(registry).drift() is None


def test_drift_against_training_data(registry: FakeRegistry, tmp_path: Path, features: pd.DataFrame) -> None:
    # Newer data: other customers' behaviour over a later window.
    shipments, customers = generate_shipments(300, 6, seed=7, end_date="2026-11-15")
    new_path = tmp_path / "new.parquet"
    write_dataset(shipments, customers, new_path)
    store = make_store(registry, data_path=str(new_path))
    assert store.problem is None
    drift = store.drift()
    assert isinstance(drift, Drift)
    assert set(drift.psi["feature"]) == set(store.model.features)
    new_features = build_features(read_shipments(new_path)[0])
    row = drift.psi.set_index("feature").loc["frequency"]
    assert row["psi"] == pytest.approx(analysis.psi(features["frequency"], new_features["frequency"]))
    assert row["flag"] == analysis.psi_flag(row["psi"])
    assert drift.shares["reference"].sum() == pytest.approx(1.0)
    assert drift.shares["current"].sum() == pytest.approx(1.0)
    assert drift.n_reference == len(features)
    assert drift.n_current == len(new_features)
    assert drift.psi["psi"].is_monotonic_decreasing


# --- states a user will meet: a message and a fix, never an exception ---------------------------------


def test_no_model_registered() -> None:
    store = make_store(FakeRegistry())
    assert store.problem.kind == "no_model"
    assert store.model is None
    assert store.customers is None
    assert "segments train --data" in store.problem.fix("en")
    assert "segments promote 1" in store.problem.fix("en")


def test_alias_missing(models: dict[str, object]) -> None:
    registry = FakeRegistry()
    registry.add(models["1"])
    store = make_store(registry)
    assert store.problem.kind == "alias_missing"
    assert "'production'" in store.problem.message("en")
    assert "`segments promote 1 --alias production`" in store.problem.fix("en")
    assert [v.version for v in store.versions] == ["1"]  # the picker can still offer version 1


def test_version_missing(registry: FakeRegistry) -> None:
    store = make_store(registry, model_ref="9")
    assert store.problem.kind == "version_missing"
    assert "1, 2" in store.problem.message("en") or "2, 1" in store.problem.message("en")


def test_store_unreachable() -> None:
    store = make_store(FakeRegistry(unreachable=True))
    assert store.problem.kind == "store"
    assert "sqlite:///test.db" in store.problem.fix("en")
    assert "MLFLOW_TRACKING_URI" in store.problem.fix("en")


def test_training_data_gone(features: pd.DataFrame, tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.add(fit_model(features, 3, data_path=str(tmp_path / "gone.parquet")), aliases=["production"])
    store = make_store(registry)
    assert store.problem.kind == "training_data_missing"
    assert "gone.parquet" in store.problem.message("en")
    assert "segments dashboard --data" in store.problem.fix("en")


def test_data_invalid(registry: FakeRegistry, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,date\nC1,2026-01-02\n")
    store = make_store(registry, data_path=str(bad))
    assert store.problem.kind == "data"
    assert "amount" in store.problem.message("en")
    assert "--data" in store.problem.fix("en")


def test_features_mismatch(registry: FakeRegistry, tmp_path: Path) -> None:
    # Only the required columns: no weights, services, countries… that the model was trained on.
    minimal = tmp_path / "minimal.csv"
    minimal.write_text("customer_id,date,amount\nC1,2026-01-02,10.5\nC2,2026-01-03,7.0\nC1,2026-02-01,3.0\n")
    store = make_store(registry, data_path=str(minimal))
    assert store.problem.kind == "features"
    assert "avg_weight_kg" in store.problem.message("en")
    assert f"segments train --data {minimal}" in store.problem.fix("en")


def test_problems_are_translated(registry: FakeRegistry) -> None:
    store = make_store(FakeRegistry(), lang="fr")
    assert "Aucun modèle" in store.problem.message("fr")
    assert "segments train" in store.problem.fix("fr")


# --- language ------------------------------------------------------------------------------------------


def test_language_switch_renames_segments_and_keeps_labels(registry: FakeRegistry) -> None:
    store = make_store(registry)
    labels = store.customers["segment"].to_numpy().copy()
    store.lang = "fr"
    names = store.model.names("fr")
    assert list(store.customers["segment_name"].cat.categories) == [names[i] for i in range(3)]
    assert names != store.model.names("en")
    assert np.array_equal(store.customers["segment"].to_numpy(), labels)
    assert store.segment_stats()["name"].tolist() == [names[i] for i in range(3)]


# --- the default loaders: pn.cache and workflow.tracking ---------------------------------------------


def test_model_is_loaded_once_per_process(monkeypatch: pytest.MonkeyPatch, models: dict[str, object]) -> None:
    from workflow import tracking

    calls: list[tuple[str, str]] = []

    def fake_load(ref: str, model_name: str) -> object:
        calls.append((ref, model_name))
        return models["1"]

    monkeypatch.setattr(tracking, "configure", lambda: "sqlite:///cache-test.db")
    monkeypatch.setattr(tracking, "load_segment_model", fake_load)
    store_module._cached_model.clear()
    try:
        first = store_module.load_model("1", "customer-segments")
        second = store_module.load_model("1", "customer-segments")
        store_module.load_model("2", "customer-segments")
    finally:
        store_module._cached_model.clear()
    assert first is second
    assert calls == [("1", "customer-segments"), ("2", "customer-segments")]


def test_features_are_cached_per_file_version(shipments_file: Path, tmp_path: Path) -> None:
    first = store_module.load_features(str(shipments_file), None, "FR")
    assert store_module.load_features(str(shipments_file), None, "FR") is first
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(shipments_file.read_bytes())
    assert store_module.load_features(str(copy), None, "FR") is not first


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    from workflow.errors import DataError

    with pytest.raises(DataError, match="file not found"):
        store_module.load_features(str(tmp_path / "nope.parquet"), None, "FR")


def test_scoring_is_cached_per_model_and_features(registry: FakeRegistry) -> None:
    first = make_store(registry)
    second = make_store(registry)
    assert first.scored is second.scored


def test_csv_buffer_round_trip() -> None:
    buffer = export.to_csv(pd.DataFrame({"customer_id": ["A", "B"], "x": [1.5, math.pi]}))
    assert isinstance(buffer, io.StringIO)
    assert buffer.read().splitlines()[0] == "customer_id,x"


def test_csv_export_neutralises_spreadsheet_formulas_in_text_only() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series(['=HYPERLINK("http://x")', "+33 6", "-5", "@SUM(A1)", "\tx", "C-7", None]),
            "segment_name": pd.Categorical(["=cmd", "Regular", "Regular", "Regular", "Regular", "Regular", "Regular"]),
            "monetary": [-12.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    exported = pd.read_csv(export.to_csv(frame), keep_default_na=False)
    assert exported["customer_id"].tolist() == [
        '\'=HYPERLINK("http://x")',
        "'+33 6",
        "'-5",
        "'@SUM(A1)",
        "'\tx",
        "C-7",  # a minus inside an id is no formula
        "",
    ]
    assert exported["segment_name"].tolist() == ["'=cmd"] + ["Regular"] * 6
    assert exported["monetary"].tolist() == [-12.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # numbers stay numbers
    assert frame["customer_id"].iloc[0] == '=HYPERLINK("http://x")'  # the store's own frame is untouched


def test_a_version_switch_never_compares_a_version_with_itself(registry: FakeRegistry) -> None:
    # Issue 12: after opening Compare (v1 against v2), picking v2 drew v2 against itself and raised.
    store = make_store(registry)
    assert store.compare_choices() == ["2"]
    assert store.compare_ref == "2"
    seen = []
    store.param.watch(lambda _: seen.append((store.model.version, store.compare_ref)), "revision")
    store.model_ref = "2"
    # In the same update as the new model, never one watcher later.
    assert seen == [("2", "1")]
    result = store.migration(store.compare_ref)
    assert (result.version_a, result.version_b) == ("2", "1")
    itself = store.migration("candidate")
    assert isinstance(itself, Problem)
    assert "version shown" in itself.params["detail"]


def test_migration_names_follow_the_language(registry: FakeRegistry) -> None:
    store = make_store(registry)
    english = store.migration("2").counts
    store.lang = "fr"
    french = store.migration("2").counts
    assert list(french.index) == [store.model.names("fr")[s] for s in range(store.model.n_labels)]
    assert list(english.index) == [store.model.names("en")[s] for s in range(store.model.n_labels)]
    np.testing.assert_array_equal(english.to_numpy(), french.to_numpy())


def test_one_filter_state_for_cards_plots_and_table(registry: FakeRegistry) -> None:
    # Issue 12: the segment filter and the search narrowed the table only.
    store = make_store(registry)
    frame = store.customers
    store.segment_filter = [1]
    in_one = frame["segment"].to_numpy() == 1
    assert store.selected is not None
    np.testing.assert_array_equal(store.selected, in_one)
    assert store.n_selected() == len(store.rows) == int(in_one.sum())
    stats = store.segment_stats()
    assert stats["selected"].tolist() == [0, int(in_one.sum()), *([0] * (store.model.n_labels - 2))]
    assert stats.loc[1, "selected_revenue"] == pytest.approx(frame.loc[in_one, "monetary"].sum())
    assert stats.loc[0, "selected_revenue"] == 0
    store.brush("monetary", scoring.range_selection("monetary", 0, 100), label="Revenue: 0–100")
    store.search = "c00000"
    assert [kind for kind, _, _ in store.filters()] == ["brush", "segment", "search"]
    assert store.filters()[0][2] == "Revenue: 0–100"
    expected = in_one & (frame["monetary"].between(0, 100)).to_numpy()
    expected &= frame["customer_id"].str.contains("C00000").to_numpy()
    np.testing.assert_array_equal(store.selected, expected)
    store.remove_filter("segment", "1")
    assert store.segment_filter == []
    store.remove_filter("brush", "monetary")
    store.remove_filter("search", "c00000")
    assert store.filters() == []
    assert store.selected is None
    assert len(store.rows) == len(frame)
    store.segment_filter = [0]
    store.brush(scoring.PROJECTION, scoring.box_selection((0, -9, 9, 9)))
    store.clear_filters()
    assert (store.filters(), store.selected) == ([], None)
