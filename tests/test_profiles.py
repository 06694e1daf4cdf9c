"""Segment profiles and names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workflow.clustering import fit_sweep
from workflow.profiles import build_profile, currency_of, segment_means, segment_medians


def two_groups() -> pd.DataFrame:
    """3 heavy express shippers and 1 light relay sender, duplicated so K-means has a clear answer."""
    return pd.DataFrame(
        {
            "recency_days": [2.0, 3.0, 4.0, 300.0],
            "frequency": [200.0, 220.0, 180.0, 2.0],
            "monetary": [5000.0, 6000.0, 4000.0, 15.0],
            "avg_weight_kg": [12.0, 11.0, 13.0, 0.8],
            "express_share": [0.9, 0.8, 0.85, 0.0],
            "relay_share": [0.0, 0.05, 0.0, 1.0],
        },
        index=pd.Index(["a", "b", "c", "d"], name="customer_id"),
    )


def test_profile_sizes_revenue_and_means_by_hand() -> None:
    frame = two_groups()
    trial = fit_sweep(frame, [2], stability_resamples=0).trial(2)
    profile = build_profile(trial.pipeline, frame, trial.labels)
    big = profile["size"].idxmax()
    small = 1 - big
    assert profile.loc[big, "size"] == 3
    assert profile.loc[small, "share"] == 0.25
    assert profile.loc[big, "revenue"] == 15000.0
    assert profile.loc[small, "revenue_share"] == pytest.approx(15 / 15015)
    assert profile.loc[big, "shipments"] == 600.0
    assert profile.loc[big, "mean_avg_weight_kg"] == pytest.approx(12.0)
    assert profile.loc[small, "mean_relay_share"] == 1.0
    # z-scores are segment means in the standardised space: size-weighted they average to 0.
    z = profile.filter(like="z_")
    np.testing.assert_allclose((z.mul(profile["size"], axis=0)).sum(), 0, atol=1e-9)
    assert profile.loc[small, "z_recency_days"] > 1
    assert profile.loc[big, "z_frequency"] > 0


def test_names_and_descriptions_come_from_the_profile() -> None:
    frame = two_groups()
    trial = fit_sweep(frame, [2], stability_resamples=0).trial(2)
    profile = build_profile(trial.pipeline, frame, trial.labels, currency="EUR")
    small = profile["size"].idxmin()
    # The one customer absent for 300 days is the lapsed segment; shipment columns make them shippers.
    assert "Lapsed" in profile.loc[small, "name"] or "Dormant" in profile.loc[small, "name"]
    assert profile.loc[small, "name"].endswith("shippers")
    assert "expéditeurs" in profile.loc[small, "name_fr"].lower()
    assert "300 days ago" in profile.loc[small, "description"]
    assert (profile["kind"] == "segment").all()
    assert (profile["rule"] == "").all()


def test_segment_medians_by_hand() -> None:
    values = np.array([[1.0, 10.0], [3.0, 30.0], [100.0, 5.0], [7.0, 7.0]])
    labels = np.array([0, 0, 0, 2])
    medians = segment_medians(values, labels, 3)
    np.testing.assert_array_equal(medians[0], [3.0, 10.0])
    assert np.isnan(medians[1]).all()
    np.testing.assert_array_equal(medians[2], [7.0, 7.0])


def test_segment_means_match_a_groupby_and_leave_empty_segments_nan() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(500, 4))
    labels = rng.integers(0, 3, size=500)  # segment 3 of 4 stays empty
    means = segment_means(values, labels, 4)
    expected = pd.DataFrame(values).groupby(labels).mean().reindex(range(4)).to_numpy()
    np.testing.assert_allclose(means, expected, rtol=1e-12)
    assert np.isnan(means[3]).all()


def test_profile_from_the_sweeps_scaled_matrix_equals_the_recomputed_one() -> None:
    frame = pd.concat([two_groups()] * 5, ignore_index=True)
    sweep = fit_sweep(frame, [2, 3], stability_resamples=0)
    for trial in sweep.trials:
        reused = build_profile(trial.pipeline, frame, trial.labels, scaled=sweep.scaled)
        pd.testing.assert_frame_equal(reused, build_profile(trial.pipeline, frame, trial.labels))


def test_currency_follows_the_home_country() -> None:
    assert currency_of("GB") == "GBP"
    assert currency_of("fr") == "EUR"
    assert currency_of("XX") is None
