"""On generated shipments, the recommended k recovers the customer archetypes (the product's acceptance test)."""

from __future__ import annotations

import pytest
from sklearn.metrics import adjusted_rand_score

from workflow.clustering import fit_sweep, recommend_k
from workflow.features import build_features
from workflow.profiles import build_profile
from workflow.synth import ARCHETYPES, generate_shipments


@pytest.mark.parametrize("seed", [0, 1])
def test_recommended_k_recovers_the_archetypes(seed: int) -> None:
    shipments, customers = generate_shipments(2000, 12, seed)
    features = build_features(shipments)
    sweep = fit_sweep(features, range(2, 11), random_state=seed)
    recommendation = recommend_k(sweep.table())
    truth = customers.set_index("customer_id").loc[features.index, "archetype"]

    assert recommendation.k == len(ARCHETYPES)
    trial = sweep.trial(recommendation.k)
    assert adjusted_rand_score(truth, trial.labels) >= 0.9
    # Every archetype maps to its own segment, and the names tell them apart.
    profile = build_profile(trial.pipeline, features, trial.labels)
    assert profile["name"].is_unique
    majority = truth.groupby(trial.labels).agg(lambda s: s.value_counts().index[0])
    assert set(majority) == set(ARCHETYPES)
