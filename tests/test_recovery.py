"""On generated shipments, the recommended k recovers the customer archetypes (the product's acceptance test)."""

from __future__ import annotations

import pytest
from sklearn.metrics import adjusted_rand_score

from workflow.clustering import USABLE_K, describe_set_aside, fit_sweep, recommend_k
from workflow.features import build_features
from workflow.profiles import build_profile
from workflow.set_aside import fit_set_aside
from workflow.synth import ARCHETYPES, generate_shipments


# Seed 1 checks the same behaviour on other data: `make test` runs it, `make test-fast` seed 0 only.
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_recommended_k_recovers_the_archetypes(seed: int) -> None:
    shipments, customers = generate_shipments(2000, 12, seed)
    features = build_features(shipments)
    # As `segments train` does: net refunders and far-out accounts set aside, then the sweep. Its
    # default k 2-10 stops at the largest usable k here: each k is fitted and measured on its own and
    # a k above USABLE_K is never recommended, so k=9 and 10 (the slowest fits) change nothing.
    rule = fit_set_aside(features)
    sweep = fit_sweep(features, range(2, USABLE_K[1] + 1), random_state=seed, set_aside=rule)
    recommendation = recommend_k(sweep.table(), set_aside=describe_set_aside(sweep))
    truth = customers.set_index("customer_id").loc[features.index, "archetype"]

    assert recommendation.k == len(ARCHETYPES)
    trial = sweep.trial(recommendation.k)
    # The set-aside customers count as their own groups: the ARI is over every customer.
    assert (trial.labels >= recommendation.k).mean() <= 0.05
    assert adjusted_rand_score(truth, trial.labels) >= 0.9
    # Every archetype maps to its own segment, and the names tell them apart without numbers.
    profile = build_profile(trial.pipeline, features, trial.labels, set_aside=rule)
    assert profile["name"].is_unique
    assert not profile["name"].str.contains(r"\d").any()
    segments = trial.labels < recommendation.k
    majority = truth[segments].groupby(trial.labels[segments]).agg(lambda s: s.value_counts().index[0])
    assert set(majority) == set(ARCHETYPES)
