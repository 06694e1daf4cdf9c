"""Customers set aside before K-means: the rule, its cap, the labels, and the same assignment everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from workflow import tracking
from workflow.clustering import assign_segments, describe_set_aside, fit_sweep, recommend_k, transformed_feature_order
from workflow.model import SegmentModel
from workflow.report import build_sweep_report
from workflow.set_aside import NET_REFUNDERS, NO_SET_ASIDE, OUTLIERS, SetAsideRule, fit_set_aside


def customers(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Ordinary customers: 1–20 orders, £20–£200 per order, bought within the year."""
    rng = np.random.default_rng(seed)
    frequency = rng.integers(1, 21, size=n).astype(float)
    avg = rng.uniform(20, 200, size=n)
    return pd.DataFrame(
        {
            "recency_days": rng.uniform(1, 365, size=n),
            "frequency": frequency,
            "monetary": frequency * avg,
            "avg_amount": avg,
        },
        index=pd.Index([f"c{i:04d}" for i in range(n)], name="customer_id"),
    )


def test_refunds_above_purchases_and_far_out_values_are_set_aside_by_hand() -> None:
    table = customers()
    table.iloc[0, table.columns.get_loc("monetary")] = -50.0  # refunds exceed purchases
    table.iloc[1, table.columns.get_loc("monetary")] = 0.0  # refunds equal purchases: nothing net
    table.iloc[2, table.columns.get_loc("frequency")] = 5000.0  # a wholesaler
    rule = fit_set_aside(table)
    assert rule.refund_max == 0.0
    # Tukey's far-out fence on the model's log scale, computed on the customers with net revenue > 0.
    rest = np.log1p(table["frequency"].to_numpy()[2:])
    q1, q3 = np.percentile(rest, [25, 75])
    assert rule.fences["frequency"] == pytest.approx(np.expm1(q3 + 3 * (q3 - q1)))
    codes = rule.group_codes(table)
    assert rule.groups == (NET_REFUNDERS, OUTLIERS)
    assert codes[:3].tolist() == [1, 1, 2]
    assert (codes[3:] == 0).all()


def test_a_refunder_with_an_extreme_value_is_a_refunder() -> None:
    rule = SetAsideRule(refund_max=0.0, fences={"frequency": 100.0})
    table = pd.DataFrame({"frequency": [500.0, 500.0, 3.0], "monetary": [-10.0, 900.0, 30.0]})
    assert rule.group_codes(table).tolist() == [1, 2, 0]


def test_at_most_five_percent_are_set_aside_most_extreme_first() -> None:
    table = customers(400)
    # 40 refunders (10 %): only the 20 largest net refunds (5 % of 400) are set aside.
    table.iloc[:40, table.columns.get_loc("monetary")] = -np.arange(1.0, 41.0)
    rule = fit_set_aside(table)
    codes = rule.group_codes(table)
    assert (codes == 1).sum() == 20
    assert set(np.flatnonzero(codes == 1)) == set(range(20, 40))  # -21 … -40
    assert rule.refund_max < 0
    assert (codes > 0).mean() <= 0.05


def test_outlier_fences_move_up_when_too_many_customers_pass_them() -> None:
    table = customers(400)
    # 60 customers far beyond the rest: 15 %, so the fences move until 20 (5 %) remain.
    table.iloc[:60, table.columns.get_loc("frequency")] = np.linspace(10_000, 20_000, 60)
    rule = fit_set_aside(table)
    codes = rule.group_codes(table)
    assert (codes == 2).sum() == 20
    assert set(np.flatnonzero(codes == 2)) == set(range(40, 60))  # the 20 largest


def test_no_money_feature_no_refunders_and_constant_features_no_fence() -> None:
    table = pd.DataFrame({"recency_days": np.arange(50.0), "frequency": np.ones(50)})
    rule = fit_set_aside(table)
    assert rule == NO_SET_ASIDE
    assert rule.groups == ()
    assert rule.describe() == "nobody"


def test_rule_round_trips_through_json() -> None:
    rule = SetAsideRule(refund_max=0.0, fences={"frequency": 299.125, "monetary": 287606.5})
    assert SetAsideRule.from_dict(json.loads(json.dumps(rule.to_dict()))) == rule
    assert SetAsideRule.from_dict(None) == NO_SET_ASIDE  # versions registered before the rule
    assert rule.describe() == "net revenue ≤ 0; frequency > 299.1; monetary > 2.876e+05"


def test_sweep_labels_set_aside_customers_k_and_k_plus_1_and_fits_without_them() -> None:
    table = customers(300, seed=1)
    table.iloc[:6, table.columns.get_loc("monetary")] = -25.0
    table.iloc[6:9, table.columns.get_loc("avg_amount")] = 90_000.0
    rule = fit_set_aside(table)
    sweep = fit_sweep(table, [2, 3], stability_resamples=1, set_aside=rule)
    assert sweep.set_aside_counts() == {NET_REFUNDERS: 6, OUTLIERS: 3}
    for trial in sweep.trials:
        assert (trial.labels[:6] == trial.k).all()
        assert (trial.labels[6:9] == trial.k + 1).all()
        assert trial.labels[9:].max() < trial.k
        # The model assigns every customer as the sweep did, the rule included.
        np.testing.assert_array_equal(assign_segments(trial.pipeline, table, rule), trial.labels)
        # Shares are of the customers K-means saw.
        kept = trial.labels[9:]
        assert trial.metrics["min_cluster_share"] == pytest.approx(np.bincount(kept).min() / len(kept))
    # The scaler was fitted on the kept customers only (recency is on the log1p scale there).
    pipeline = sweep.trials[0].pipeline
    position = transformed_feature_order(pipeline).index("recency_days")
    assert pipeline.named_steps["scale"].mean_[position] == pytest.approx(
        np.log1p(table["recency_days"].iloc[9:]).mean()
    )
    assert describe_set_aside(sweep) == (
        "6 net refunders and 3 exceptional accounts set aside before K-means (3.0% of customers)"
    )


def test_profile_has_a_set_aside_row_per_group_and_the_model_scores_them(tmp_path: Path) -> None:
    table = customers(300, seed=2)
    table.iloc[:6, table.columns.get_loc("monetary")] = -25.0
    rule = fit_set_aside(table)
    sweep = fit_sweep(table, [3], stability_resamples=0, set_aside=rule)
    profile = build_sweep_report(sweep, table, 3, currency="GBP").trial(3).profile
    assert profile["kind"].tolist() == ["segment"] * 3 + ["set_aside"] * len(rule.groups)
    refunders = profile.index[profile["rule"] == NET_REFUNDERS][0]
    assert profile.loc[refunders, "name"] == "Net refunders"
    assert profile.loc[refunders, "size"] == 6
    assert profile.loc[refunders, "revenue"] == pytest.approx(-150.0)
    assert profile["share"].sum() == pytest.approx(1.0)
    model = SegmentModel(
        name="m",
        version="1",
        pipeline=sweep.trial(3).pipeline,
        segment_names=dict(enumerate(profile["name"])),
        set_aside=rule,
    )
    assert model.n_labels == 3 + len(rule.groups)
    scored = model.score(table)
    assert (scored["segment_name"].iloc[:6] == "Net refunders").all()


def test_registered_version_carries_the_rule_and_scores_like_the_sweep(
    mlflow_store: str, small_shipments: Path
) -> None:
    from workflow import pipeline

    settings = pipeline.TrainSettings(data=small_shipments, k="3", n_init=2)
    customers = pipeline.prepare(settings)
    features = customers.features
    # A few customers whose refunds exceed their purchases.
    features.iloc[:4, features.columns.get_loc("monetary")] = -80.0
    features.iloc[:4, features.columns.get_loc("avg_amount")] = -20.0
    refunders = int((features["monetary"] <= 0).sum())  # the 4 above, and any the generator made
    assert refunders >= 4
    rule = fit_set_aside(features)
    sweep = fit_sweep(features, settings.ks, random_state=0, n_init=2, stability_resamples=1, set_aside=rule)
    context = pipeline.sweep_context(settings, customers)  # what `segments train` records, these features included
    result = tracking.log_sweep(sweep, recommend_k(sweep.table(), set_aside=describe_set_aside(sweep)), context)
    version = MlflowClient(mlflow_store).get_model_version("customer-segments", result.version)
    assert SetAsideRule.from_dict(json.loads(version.tags["set_aside"])) == rule
    assert f"{refunders} net refunders" in version.tags["recommendation"]
    model = tracking.load_segment_model(result.version)
    assert model.set_aside == rule
    scored = model.score(features)
    np.testing.assert_array_equal(scored["segment"].to_numpy(), sweep.trial(3).labels)
    assert (scored["segment_name"].iloc[:4] == "Net refunders").all()
    assert model.profile is not None
    assert model.profile.loc[3, "kind"] == "set_aside"
    assert model.profile.loc[3, "size"] == refunders
    parent = MlflowClient(mlflow_store).get_run(result.parent_run_id)
    assert parent.data.params["set_aside_rule"] == rule.describe()
