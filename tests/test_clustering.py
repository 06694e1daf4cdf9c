"""The K-means sweep: pipeline, metrics, stability and the k recommendation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from workflow.clustering import (
    METRIC_NAMES,
    assign_segments,
    centroids_real_units,
    count_distinct_rows,
    fit_sweep,
    make_pipeline,
    parse_k_range,
    recommend_k,
    scaled_space,
)
from workflow.errors import DataError


def blob_features(n: int = 600, centers: int = 4, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Well-separated blobs dressed as customer features (positive counts and money, shares)."""
    points, truth = make_blobs(n, centers=centers, n_features=3, cluster_std=0.4, random_state=seed)
    frame = pd.DataFrame(
        {
            "frequency": np.exp(points[:, 0] / 3 + 2),
            "monetary": np.exp(points[:, 1] / 3 + 4),
            "express_share": 1 / (1 + np.exp(-points[:, 2] / 3)),
        }
    )
    return frame, truth


def test_pipeline_steps_and_transform_per_feature() -> None:
    pipeline = make_pipeline(["frequency", "monetary", "express_share"], 3)
    assert [name for name, _ in pipeline.steps] == ["transform", "scale", "kmeans"]
    frame = pd.DataFrame({"frequency": [0.0, np.e - 1], "monetary": [0.0, -np.sinh(1.0)], "express_share": [0.2, 0.7]})
    transformed = pipeline.named_steps["transform"].fit(frame).transform(frame)
    # log1p on counts, asinh on money (signed), shares untouched; ColumnTransformer order: log1p, asinh, rest.
    np.testing.assert_allclose(transformed, [[0.0, 0.0, 0.2], [1.0, -1.0, 0.7]])


def test_sweep_recovers_blobs_and_recommends_their_number() -> None:
    frame, truth = blob_features()
    sweep = fit_sweep(frame, range(2, 8), random_state=0)
    table = sweep.table()
    assert list(table.index) == [2, 3, 4, 5, 6, 7]
    assert set(METRIC_NAMES) <= set(table.columns)
    recommendation = recommend_k(table)
    assert recommendation.k == 4
    assert adjusted_rand_score(truth, sweep.trial(4).labels) == pytest.approx(1.0)
    assert table.loc[4, "stability_ari"] > 0.99
    assert table.loc[4, "n_clusters"] == 4
    assert "k=4" in recommendation.reason
    assert "silhouette" in recommendation.reason


def test_sweep_pipeline_predicts_its_own_labels() -> None:
    frame, _ = blob_features(300, 3)
    trial = fit_sweep(frame, [3]).trial(3)
    np.testing.assert_array_equal(assign_segments(trial.pipeline, frame), trial.labels)
    # Column order of the input must not matter: the model selects its features by name.
    np.testing.assert_array_equal(assign_segments(trial.pipeline, frame[frame.columns[::-1]]), trial.labels)


def test_metrics_match_hand_computation_on_two_points_per_cluster() -> None:
    # One untransformed feature (a share): standard scaling is then an affine map of the line, which
    # leaves the silhouette, Calinski-Harabasz and Davies-Bouldin unchanged, so they are computed here
    # on the raw values 0, 0.2 | 0.8, 1 (centres 0.1 and 0.9, overall mean 0.5).
    frame = pd.DataFrame({"late_rate": [0.0, 0.2, 0.8, 1.0]})
    sweep = fit_sweep(frame, [2], stability_resamples=0)
    metrics = sweep.trial(2).metrics
    # Silhouette 1 - a/b: 0 and 1 have a = 0.2, b = (0.8 + 1.0) / 2 = 0.9; 0.2 and 0.8 have a = 0.2,
    # b = (0.6 + 0.8) / 2 = 0.7. Mean of 7/9, 5/7, 5/7, 7/9.
    assert metrics["silhouette"] == pytest.approx((7 / 9 + 5 / 7) / 2)
    # Calinski-Harabasz: between = 2 * 0.4² * 2 = 0.64 over k - 1 = 1; within = 4 * 0.1² = 0.04 over
    # n - k = 2: 0.64 / 0.02.
    assert metrics["calinski_harabasz"] == pytest.approx(32.0)
    # Davies-Bouldin: each cluster's mean distance to its centre is 0.1, the centres are 0.8 apart.
    assert metrics["davies_bouldin"] == pytest.approx((0.1 + 0.1) / 0.8)
    # Inertia is measured in the scaled space: within (0.04) over the variance of the values (0.17).
    assert metrics["inertia"] == pytest.approx(0.04 / 0.17)
    assert metrics["min_cluster_share"] == 0.5
    assert metrics["n_clusters"] == 2
    assert np.isnan(metrics["stability_ari"])


def test_silhouette_is_sampled_above_the_sample_size() -> None:
    frame, _ = blob_features(900, 3)
    sweep = fit_sweep(frame, [3], silhouette_sample_size=200)
    assert sweep.silhouette_sample_size == 200
    assert len(sweep.trial(3).silhouette_values) == 200
    full = fit_sweep(frame, [3])
    assert full.silhouette_sample_size == 900
    # On well separated blobs the sampled estimate is close to the full one.
    assert sweep.trial(3).metrics["silhouette"] == pytest.approx(full.trial(3).metrics["silhouette"], abs=0.03)


def test_sweep_is_reproducible_per_seed() -> None:
    frame, _ = blob_features(400, 5, seed=2)
    first = fit_sweep(frame, [3, 5], random_state=7).table()
    second = fit_sweep(frame, [3, 5], random_state=7).table()
    pd.testing.assert_frame_equal(first, second)


def test_centroids_in_real_units_undo_transform_and_scaling() -> None:
    # Two groups of identical customers: each centre is exactly the group's values.
    frame = pd.DataFrame(
        {
            "frequency": [3.0] * 5 + [40.0] * 5,
            "monetary": [-20.0] * 5 + [1500.0] * 5,
            "relay_share": [0.1] * 5 + [0.9] * 5,
        }
    )
    trial = fit_sweep(frame, [2], stability_resamples=0).trial(2)
    centres = centroids_real_units(trial.pipeline).sort_values("frequency").reset_index(drop=True)
    expected = pd.DataFrame({"frequency": [3.0, 40.0], "monetary": [-20.0, 1500.0], "relay_share": [0.1, 0.9]})
    pd.testing.assert_frame_equal(centres, expected, check_exact=False, rtol=1e-9)


def test_scaled_space_is_standardised() -> None:
    frame, _ = blob_features(500, 3)
    trial = fit_sweep(frame, [3], stability_resamples=0).trial(3)
    scaled = scaled_space(trial.pipeline, frame)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(scaled.std(axis=0), 1, atol=1e-9)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2-10", list(range(2, 11))), ("4", [4]), ("3,5,8", [3, 5, 8]), ("8,3,3", [3, 8]), (" 2 - 4", [2, 3, 4])],
)
def test_parse_k_range(text: str, expected: list[int]) -> None:
    assert parse_k_range(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("5-2", "reversed"), ("1", "at least 2"), ("0-3", "at least 2"), ("abc", "expected a range"), ("", "expected")],
)
def test_parse_k_range_errors(text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_k_range(text)


def test_sweep_refuses_fewer_customers_than_k() -> None:
    frame = pd.DataFrame({"frequency": [1.0, 2.0, 3.0], "monetary": [1.0, 5.0, 9.0]})
    with pytest.raises(DataError, match=r"only 3 distinct feature profile\(s\) among 3 customer\(s\), fewer than k=4"):
        fit_sweep(frame, [2, 4])


def test_sweep_refuses_constant_features() -> None:
    frame = pd.DataFrame({"frequency": [2.0] * 5 + [3.0] * 5, "monetary": [10.0] * 10})
    fit_sweep(frame, [2], stability_resamples=0)  # one varying feature is enough
    with pytest.raises(DataError, match=r"only 1 distinct feature profile\(s\) among 10 customer"):
        fit_sweep(pd.DataFrame({"frequency": [2.0] * 10, "monetary": [10.0] * 10}), [2])


def table_of(rows: dict[int, tuple[float, float, float]]) -> pd.DataFrame:
    """Sweep table from {k: (silhouette, stability_ari, min_cluster_share)}."""
    return pd.DataFrame.from_dict(
        rows, orient="index", columns=["silhouette", "stability_ari", "min_cluster_share"]
    ).rename_axis("k")


def test_recommendation_keeps_k_from_3_to_8_with_big_stable_segments() -> None:
    table = table_of(
        {
            2: (0.70, 0.99, 0.40),  # best silhouette, but two segments say little
            3: (0.60, 0.85, 0.20),  # best in range but below the 0.9 stability rule
            4: (0.55, 0.95, 0.10),
            5: (0.58, 0.97, 0.01),  # a 1 % segment
            6: (0.50, 0.93, 0.05),
            9: (0.65, 0.99, 0.03),  # out of range
        }
    )
    recommendation = recommend_k(table)
    assert recommendation.k == 4
    assert recommendation.reason.startswith("k=4: best silhouette (0.550) among the k from 3 to 8")
    assert "stability ARI ≥ 0.90 (4, 6)" in recommendation.reason


def test_recommendation_prefers_the_larger_k_among_practically_equal_silhouettes() -> None:
    table = table_of({3: (0.330, 0.96, 0.18), 4: (0.325, 0.95, 0.17), 5: (0.300, 0.96, 0.11)})
    recommendation = recommend_k(table)
    # 0.325 is within 0.01 of 0.330: four segments at no measurable loss; 0.300 is not.
    assert recommendation.k == 4
    assert "within 0.01 of the best (k=3, 0.330)" in recommendation.reason
    assert recommend_k(table, tie=0.001).k == 3


def test_recommendation_relaxes_stability_then_size_and_says_so() -> None:
    fairly_stable = table_of({3: (0.4, 0.85, 0.3), 4: (0.5, 0.82, 0.2), 5: (0.6, 0.5, 0.2)})
    assert recommend_k(fairly_stable).k == 4
    assert "stability ARI ≥ 0.80 (none reached 0.90)" in recommend_k(fairly_stable).reason
    unstable = table_of({3: (0.4, 0.5, 0.3), 4: (0.5, 0.6, 0.2)})
    assert recommend_k(unstable).k == 4
    assert "no k was stable" in recommend_k(unstable).reason
    tiny = table_of({3: (0.4, 0.9, 0.01), 4: (0.5, 0.9, 0.005)})
    assert recommend_k(tiny).k == 4
    assert "no k had every segment ≥ 2% of customers" in recommend_k(tiny).reason


def test_recommendation_follows_the_users_k_outside_3_to_8() -> None:
    assert recommend_k(table_of({2: (0.5, 0.99, 0.4)})).k == 2
    table = table_of({9: (0.4, 0.95, 0.05), 10: (0.45, 0.95, 0.04)})
    recommendation = recommend_k(table)
    assert recommendation.k == 10
    assert "among the k asked for" in recommendation.reason


def test_one_k_asked_for_is_not_called_the_best_of_a_range() -> None:
    # --k 8 on the real retail log once read "best silhouette among the k from 3 to 8 ... (no k was stable) (8)".
    table = table_of({8: (0.2498, 0.733, 0.067)})
    text = "105 net refunders set aside before K-means (2.4% of customers)"
    recommendation = recommend_k(table, set_aside=text)
    assert recommendation.k == 8
    assert recommendation.reason == (
        "k=8: the only k asked for; silhouette 0.250; stability ARI 0.73, smallest segment 6.7%; " + text + "."
    )
    from dashboard.i18n import recommendation_text

    assert recommendation_text(recommendation.reason, "fr") == (
        "k=8\u00a0: le seul k demandé\u00a0; silhouette 0,250\u00a0; stabilité ARI 0,73, plus petit segment"
        " 6,7\u202f%\u00a0; 105 comptes en solde négatif mis à part avant K-means (2,4\u202f% des clients)."
    )


def test_recommendation_sentence_names_what_was_set_aside() -> None:
    table = table_of({3: (0.4, 0.95, 0.3)})
    text = "105 net refunders set aside before K-means (2.4% of customers)"
    assert recommend_k(table, set_aside=text).reason.endswith(f"; {text}.")


def test_assign_segments_names_missing_features() -> None:
    frame, _ = blob_features(200, 3)
    trial = fit_sweep(frame, [3], stability_resamples=0).trial(3)
    with pytest.raises(DataError, match="express_share"):
        assign_segments(trial.pipeline, frame.drop(columns="express_share"))


def test_count_distinct_rows_is_exact_below_the_bound_and_a_lower_bound_above() -> None:
    values = np.repeat(np.arange(6, dtype=float).reshape(3, 2), 40, axis=0)  # 3 distinct rows, 120 rows
    assert count_distinct_rows(values, at_least=5, head=10) == 3  # head alone sees 1: counted on all
    spread = np.arange(200, dtype=float).reshape(100, 2)
    assert count_distinct_rows(spread, at_least=5, head=10) == 10  # enough in the head: stop there
    assert count_distinct_rows(spread, at_least=50, head=10) == 100
