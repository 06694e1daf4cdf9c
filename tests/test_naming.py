"""Segment names and descriptions (workflow.naming): vocabulary, uniqueness, superlatives, sentences."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from workflow.clustering import fit_sweep, scaled_space
from workflow.features import ALL_FEATURES, SHARE_FEATURES, build_features
from workflow.naming import (
    COMPARATIVES,
    LAPSED_WORDS,
    NOUNS,
    ORDINALS,
    OTHER_SET_ASIDE_NAME,
    SET_ASIDE_NAMES,
    VALUE_WORDS,
    WORDS,
    describe_segments,
)
from workflow.synth import generate_shipments

NBSP, NNBSP = "\u00a0", "\u202f"
RFM = ("recency_days", "frequency", "monetary", "avg_amount", "tenure_days")


def segment_row(size: int, revenue: float, medians: dict[str, float], z: dict[str, float]) -> dict[str, object]:
    """One K-means segment of a profile; means are 1.3 × the medians (right-skewed, as real data is)."""
    row: dict[str, object] = {"kind": "segment", "rule": "", "size": size, "revenue": revenue}
    for feature, value in medians.items():
        row[f"median_{feature}"] = value
        row[f"mean_{feature}"] = value if feature in SHARE_FEATURES else 1.3 * value
    for feature, value in z.items():
        row[f"z_{feature}"] = value
    return row


def retail_profile() -> pd.DataFrame:
    """Four hand-placed segments of an online shop (median and z of recency, frequency, money, tenure)."""
    rows = [
        # Frequent and recent, mid-sized orders, but not the largest revenue.
        segment_row(
            100,
            372_000,
            dict(zip(RFM, [9, 12, 3720, 310, 300], strict=True)),
            dict(zip(RFM, [-1.2, 1.5, 0.7, 1.1, 0.4], strict=True)),
        ),
        # One order, long ago.
        segment_row(
            300,
            27_000,
            dict(zip(RFM, [250, 1, 90, 90, 250], strict=True)),
            dict(zip(RFM, [1.4, -0.9, -0.7, -0.3, 0.3], strict=True)),
        ),
        # One order, 20 days ago: their first.
        segment_row(
            200,
            30_000,
            dict(zip(RFM, [20, 1, 150, 150, 20], strict=True)),
            dict(zip(RFM, [-0.6, -0.9, -0.4, 0.1, -1.6], strict=True)),
        ),
        # Large orders, fading: the most revenue.
        segment_row(
            150,
            720_000,
            dict(zip(RFM, [80, 4, 4800, 1200, 200], strict=True)),
            dict(zip(RFM, [0.6, 0.3, 1.2, 1.5, 0.2], strict=True)),
        ),
    ]
    return pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="segment"))


def retail_overall() -> pd.Series:
    return pd.Series({"median_frequency": 3.0, "mean_frequency": 5.4, "median_monetary": 656.0})


def describe(profile: pd.DataFrame, overall: pd.Series | None = None, **options: object) -> pd.DataFrame:
    settings = {"shipment_data": False, "currency": "GBP", "period_days": 365.0, **options}
    return describe_segments(profile, retail_overall() if overall is None else overall, **settings)


def test_hand_made_retail_profile_reads_as_a_marketer_would_name_it() -> None:
    out = describe(retail_profile())
    assert list(out.columns) == ["name", "name_fr", "description", "description_fr"]
    assert out.index.equals(retail_profile().index)
    assert list(out["name"]) == [
        "Active frequent customers",
        "Lapsed one-time customers",
        "New one-time customers",
        "Lapsing repeat high-value customers",
    ]
    assert list(out["name_fr"]) == [
        "Clients actifs fidèles",
        "Clients inactifs à achat unique",
        "Nouveaux clients à achat unique",
        "Clients réguliers à risque et à forte valeur",
    ]


def test_sentences_give_facts_in_real_units_per_language() -> None:
    out = describe(retail_profile())
    # Median 12 orders, last one 9 days ago, £310 per order: the three most distinctive facts.
    assert out.loc[0, "description"] == "12 orders in the year, last 9 days ago, £310 per order."
    assert (
        out.loc[0, "description_fr"]
        == f"12 commandes sur l'année, la dernière il y a 9 jours, 310{NBSP}£ par commande."
    )
    assert out.loc[1, "description"] == "1 order in the year, 250 days ago, £90 revenue per customer."
    # One order: the first order is the last one, said once.
    assert out.loc[2, "description"] == "1 order in the year, 20 days ago."
    assert out.loc[3, "description"] == "4 orders in the year, last 80 days ago, £4,800 revenue per customer."
    assert out.loc[3, "description_fr"] == (
        f"4 commandes sur l'année, la dernière il y a 80 jours, 4{NNBSP}800{NBSP}£ de chiffre d'affaires par client."
    )


def test_noun_and_counted_events_follow_the_shipment_columns() -> None:
    customers = describe(retail_profile(), shipment_data=False)
    shippers = describe(retail_profile(), shipment_data=True)
    assert all(name.endswith("customers") for name in customers["name"])
    assert all("clients" in name.lower() and "expéditeurs" not in name.lower() for name in customers["name_fr"])
    assert all(name.endswith("shippers") for name in shippers["name"])
    assert list(shippers["name_fr"][:3]) == [
        "Expéditeurs actifs fidèles",
        "Expéditeurs inactifs à envoi unique",
        "Nouveaux expéditeurs à envoi unique",
    ]
    assert shippers.loc[0, "description"] == "12 shipments in the year, last 9 days ago, £310 per shipment."
    assert (
        shippers.loc[0, "description_fr"] == f"12 envois sur l'année, le dernier il y a 9 jours, 310{NBSP}£ par envoi."
    )
    assert "orders" not in " ".join(shippers["description"])


def test_money_follows_the_currency_and_the_language() -> None:
    euros = describe(retail_profile(), currency="EUR")
    assert euros.loc[3, "description"].endswith("€4,800 revenue per customer.")
    assert euros.loc[3, "description_fr"].endswith(f"4{NNBSP}800{NBSP}€ de chiffre d'affaires par client.")
    plain = describe(retail_profile(), currency=None)
    assert plain.loc[3, "description"].endswith(" 4,800 revenue per customer.")
    assert plain.loc[0, "description_fr"].endswith(", 310 par commande.")


def test_counts_between_two_orders_follow_each_languages_plural_rules() -> None:
    profile = pd.DataFrame(
        [
            segment_row(100, 500.0, {"recency_days": 30, "frequency": 1.5}, {"recency_days": -0.5, "frequency": -1.0}),
            segment_row(100, 900.0, {"recency_days": 200, "frequency": 2.5}, {"recency_days": 1.0, "frequency": 1.0}),
        ]
    )
    out = describe(profile)
    assert out.loc[0, "description"] == "1.5 orders in the year, last 30 days ago."
    # French counts below 2 are singular.
    assert out.loc[0, "description_fr"] == "1,5 commande sur l'année, la dernière il y a 30 jours."
    assert out.loc[1, "description_fr"] == "2,5 commandes sur l'année, la dernière il y a 200 jours."


def test_a_profile_without_kind_is_all_segments() -> None:
    out = describe(retail_profile().drop(columns=["kind", "rule"]))
    assert out.loc[1, "name"] == "Lapsed one-time customers"


def test_period_is_said_in_words() -> None:
    assert describe(retail_profile(), period_days=182).loc[0, "description"].startswith("12 orders in 6 months,")
    assert describe(retail_profile(), period_days=548).loc[0, "description_fr"].startswith("12 commandes sur 18 mois,")
    assert describe(retail_profile(), period_days=30).loc[0, "description"].startswith("12 orders in 30 days,")
    assert describe(retail_profile(), period_days=370).loc[0, "description"].startswith("12 orders in the year,")


def test_french_shipper_facts_use_decimal_commas_and_compare_shares_with_the_overall_mean() -> None:
    features = ("recency_days", "frequency", "avg_weight_kg", "late_rate")
    medians = [[5, 40, 12.5, 0.02], [200, 25, 3.4, 0.179]]
    z = [[-1.0, 1.2, 2.0, -0.5], [1.5, 0.1, 0.2, 2.4]]
    profile = pd.DataFrame(
        [
            segment_row(500, 90_000.0, dict(zip(features, m, strict=True)), dict(zip(features, s, strict=True)))
            for m, s in zip(medians, z, strict=True)
        ]
    )
    overall = pd.Series({"mean_late_rate": 0.062, "median_frequency": 20.0})
    out = describe(profile, overall, shipment_data=True, currency="EUR")
    assert out.loc[0, "description"] == f"40 shipments in the year, last 5 days ago, 12.5{NBSP}kg per parcel."
    assert out.loc[0, "description_fr"] == f"40 envois sur l'année, le dernier il y a 5 jours, 12,5{NBSP}kg par colis."
    # Nothing but recency and lateness stands out: the name falls back on the loyalty level, whose fact comes first.
    assert out.loc[1, "name"] == "Lapsed repeat shippers"
    assert out.loc[1, "description"] == (
        "25 shipments in the year, last 200 days ago, 17.9% late deliveries against 6.2% overall."
    )
    assert out.loc[1, "description_fr"] == (
        f"25 envois sur l'année, le dernier il y a 200 jours, 17,9{NBSP}% de livraisons en retard contre 6,2{NBSP}% en"
        " moyenne."
    )
    assert out.loc[0, "name"] == "Active high-value heavy-parcel shippers"  # equal revenue: the first wins


def set_aside_profile() -> pd.DataFrame:
    profile = retail_profile()
    refunders = {
        "kind": "set_aside",
        "rule": "net_refunders",
        "size": 40,
        "revenue": -9_200.0,
        "mean_monetary": -230.0,
        "median_monetary": -120.0,
        "median_frequency": 3.0,
        "mean_frequency": 3.4,
        "median_recency_days": 120.0,
        "mean_recency_days": 150.0,
    }
    outliers = {
        "kind": "set_aside",
        "rule": "outliers",
        "size": 4,
        "revenue": 190_000.0,
        "median_frequency": 610.0,
        "median_monetary": 48_200.0,
        "median_avg_amount": 80.0,
        "median_recency_days": 1.0,
        "median_tenure_days": 360.0,
    }
    extra = pd.DataFrame([refunders, outliers], index=pd.Index([4, 5], name="segment"))
    return pd.concat([profile, extra])


def test_set_aside_groups_are_named_by_their_rule_and_described_in_real_units() -> None:
    out = describe(set_aside_profile())
    assert out.loc[4, "name"] == "Net refunders"
    assert out.loc[4, "name_fr"] == "Comptes en solde négatif"
    assert out.loc[5, "name"] == "Exceptional accounts"
    assert out.loc[5, "name_fr"] == "Comptes hors norme"
    assert out.loc[4, "description"] == (
        "Net revenue \u2212£230 on average: refunds exceed purchases; 3 orders in the year, last 120 days ago."
    )
    assert out.loc[4, "description_fr"] == (
        f"Chiffre d'affaires net de \u2212230{NBSP}£ en moyenne{NBSP}: les remboursements dépassent les achats{NNBSP}; "
        "3 commandes sur l'année, la dernière il y a 120 jours."
    )
    # The two features furthest beyond the typical customer (ratios of medians: 203× and 73×).
    assert out.loc[5, "description"] == (
        "Far beyond the rest: 610 orders in the year against 3 for a typical customer, "
        "£48,200 revenue per customer against £656."
    )
    # A second feature barely above the typical customer (1.5×) is no "far beyond" fact: one fact only.
    modest = set_aside_profile()
    modest.loc[5, ["median_monetary", "median_avg_amount"]] = [984.0, 1.0]  # 1.5× £656; below the typical price
    assert describe(modest).loc[5, "description"] == (
        "Far beyond the rest: 610 orders in the year against 3 for a typical customer."
    )
    # Set-aside rows are not segments: the superlatives stay with the K-means segments.
    assert "high-value" in out.loc[3, "name"]
    assert out.loc[1, "name"].startswith("Lapsed")


def test_an_unknown_set_aside_rule_still_gets_a_name_and_facts() -> None:
    profile = set_aside_profile()
    profile.loc[5, "rule"] = "manual"
    out = describe(profile)
    assert (out.loc[5, "name"], out.loc[5, "name_fr"]) == OTHER_SET_ASIDE_NAME
    assert out.loc[5, "description"] == "Set aside before clustering: 610 orders in the year, last 1 day ago."


def test_the_longest_absent_segment_reads_as_lapsed_even_when_recency_barely_differs() -> None:
    z = {"recency_days": [0.1, 0.05, -0.15], "frequency": [0.0, 0.9, -0.9]}
    profile = pd.DataFrame(
        [
            segment_row(
                100,
                1000.0 * i,
                {"recency_days": 30 + i, "frequency": 3 + i},
                {f: z[f][i] for f in z},
            )
            for i in range(3)
        ]
    )
    out = describe(profile)
    assert out.loc[0, "name"].startswith("Lapsed")
    assert "inactifs" in out.loc[0, "name_fr"]
    assert not out.loc[1, "name"].startswith("Lapsed")


def test_the_highest_revenue_segment_reads_as_high_value_even_with_an_average_spend() -> None:
    profile = retail_profile()
    profile.loc[2, "revenue"] = 10_000_000.0
    out = describe(profile)
    assert "high-value" in out.loc[2, "name"]
    assert "à forte valeur" in out.loc[2, "name_fr"]
    # Without a revenue column, revenue is mean revenue × size.
    out = describe(retail_profile().drop(columns="revenue"))
    assert "high-value" in out.loc[3, "name"]


def test_alike_segments_get_their_next_distinguishing_trait() -> None:
    features = ("recency_days", "frequency", "express_share", "avg_weight_kg", "relay_share")
    z = [
        [-0.8, 1.5, 1.2, 1.0, 0.0],
        [-0.8, 1.5, 1.3, -0.9, 0.0],
        [-0.8, 1.5, 0.0, 0.0, 0.0],
        [2.0, -1.0, 0.0, 0.0, 0.0],
    ]
    medians = [[5, 60, 0.8, 9.0, 0.0], [5, 60, 0.85, 0.5, 0.0], [5, 60, 0.3, 2.0, 0.0], [200, 2, 0.3, 2.0, 0.0]]
    profile = pd.DataFrame(
        [
            segment_row(100, 1000.0, dict(zip(features, m, strict=True)), dict(zip(features, s, strict=True)))
            for m, s in zip(medians, z, strict=True)
        ]
    )
    profile.loc[3, "revenue"] = 5000.0
    out = describe(profile, shipment_data=True)
    # 0, 1 and 2 all read "Active frequent shippers": 0 and 1 add express (2 lacks it), then 0 adds
    # heavy-parcel (1 lacks it). 3 has the most revenue and is the longest absent.
    assert list(out["name"]) == [
        "Active frequent heavy-parcel express shippers",
        "Active frequent express shippers",
        "Active frequent shippers",
        "Lapsed occasional high-value shippers",
    ]
    assert list(out["name_fr"]) == [
        "Expéditeurs actifs fidèles de colis lourds et en express",
        "Expéditeurs actifs fidèles en express",
        "Expéditeurs actifs fidèles",
        "Expéditeurs inactifs occasionnels à forte valeur",
    ]


def test_alike_segments_without_a_distinguishing_trait_get_a_comparative() -> None:
    features = ("recency_days", "frequency", "relay_share")
    z = [[-0.8, 0.2, 2.0], [-0.4, 0.1, 2.6], [1.5, -1.0, -0.5]]
    medians = [[5, 8, 0.9], [9, 7, 0.92], [200, 2, 0.0]]
    profile = pd.DataFrame(
        [
            segment_row(100, 1000.0 * (i + 1), dict(zip(features, m, strict=True)), dict(zip(features, s, strict=True)))
            for i, (m, s) in enumerate(zip(medians, z, strict=True))
        ]
    )
    out = describe(profile, shipment_data=True)
    # Both relay segments are active repeat senders (repeat: shared, so it tells nothing). They differ
    # most on relay share (0.6), which their names already state, then on recency (0.4 ≥ 0.6 / 2).
    assert list(out["name"]) == [
        "More recent active relay-point shippers",
        "Less recent active relay-point shippers",
        "Lapsed occasional high-value shippers",
    ]
    assert list(out["name_fr"][:2]) == [
        "Expéditeurs actifs plus récents en point relais",
        "Expéditeurs actifs moins récents en point relais",
    ]


def test_identical_profiles_fall_back_to_words_never_numbers() -> None:
    row = segment_row(100, 1000.0, {"frequency": 4.0, "relay_share": 0.9}, {"frequency": 0.0, "relay_share": 1.0})
    out = describe(pd.DataFrame([row, row, row]), shipment_data=True)
    # The first (tie on revenue) reads high-value; the other two share every word and every figure.
    assert list(out["name"]) == [
        "High-value relay-point shippers",
        "Relay-point shippers",
        "Relay-point shippers (second group)",
    ]
    assert out.loc[2, "name_fr"] == "Expéditeurs en point relais (deuxième groupe)"


def test_input_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        describe(retail_profile().assign(kind="cluster"))
    with pytest.raises(ValueError, match="duplicates"):
        describe(pd.concat([retail_profile(), retail_profile()]))
    with pytest.raises(ValueError, match="currency"):
        describe(retail_profile(), currency="POUNDS")
    with pytest.raises(ValueError, match="period_days"):
        describe(retail_profile(), period_days=0)


# --------------------------------------------------------------------------------------------------
# Many random profiles: the contracts hold whatever the data


def _tokens(text: str) -> list[str]:
    return text.lower().replace("(", " ").replace(")", " ").replace(",", " ").split()


def vocabulary() -> set[str]:
    """Every token a name may contain, in either language."""
    phrases: list[str] = ["group", "groupe", "and", "et"]
    for word in [*WORDS.values(), *COMPARATIVES.values()]:
        phrases += [word.en, word.fr, word.fr_shippers]
    for pair in [*NOUNS.values(), *SET_ASIDE_NAMES.values(), OTHER_SET_ASIDE_NAME, *ORDINALS]:
        phrases += list(pair)
    return {token for phrase in phrases for token in _tokens(phrase)}


def random_profile(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.Series, bool]:
    """k segments with random centres over a random subset of features, sometimes twins and set-aside rows."""
    shipment_data = bool(rng.integers(2))
    pool = list(ALL_FEATURES) if shipment_data else [f for f in ALL_FEATURES if f in RFM or f == "international_share"]
    features = [f for f in pool if rng.random() < 0.7] or ["recency_days", "frequency"]
    k = int(rng.integers(2, 13))
    rows = []
    for _ in range(k):
        z = {f: float(rng.normal(scale=1.2)) for f in features}
        medians = {f: _median_from_z(f, z[f], rng) for f in features}
        rows.append(segment_row(int(rng.integers(1, 5000)), float(rng.lognormal(10, 2)), medians, z))
    if rng.random() < 0.2:  # a K-means segment cannot be the twin of another, a hand-made profile can
        rows.append(dict(rows[0]))
    if rng.random() < 0.5:
        for rule in rng.choice(["net_refunders", "outliers"], size=int(rng.integers(1, 3)), replace=False):
            medians = {f: _median_from_z(f, float(rng.normal(scale=2)), rng) for f in features}
            row = segment_row(int(rng.integers(1, 50)), float(rng.normal(0, 1e4)), medians, {})
            rows.append({**row, "kind": "set_aside", "rule": str(rule)})
    profile = pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="segment"))
    overall = pd.Series({f"{stat}_{f}": _median_from_z(f, 0.0, rng) for f in features for stat in ("mean", "median")})
    return profile, overall, shipment_data


def _median_from_z(feature: str, z: float, rng: np.random.Generator) -> float:
    if feature in SHARE_FEATURES:
        return float(np.clip(0.2 + 0.2 * z, 0, 1))
    if feature == "frequency":
        return float(max(1.0, np.round(np.exp(1.2 + z), 1 if rng.random() < 0.2 else 0)))
    if feature in {"monetary", "avg_amount"}:
        return float(np.sinh(6 + 2 * z))  # money can be negative
    return float(np.expm1(3.5 + z))


@pytest.mark.parametrize("seed", range(25))
def test_random_profiles_keep_every_contract(seed: int) -> None:
    rng = np.random.default_rng(seed)
    allowed = vocabulary()
    for _ in range(12):
        profile, overall, shipment_data = random_profile(rng)
        period = float(rng.uniform(20, 900))
        currency = [None, "GBP", "EUR", "USD", "JPY"][int(rng.integers(5))]
        out = describe_segments(profile, overall, shipment_data=shipment_data, currency=currency, period_days=period)
        assert out.index.equals(profile.index)
        for column in ("name", "name_fr"):
            assert out[column].is_unique, out[column].tolist()
            for name in out[column]:
                assert not re.search(r"\d", name), name
                assert name[0].isupper(), name
                assert set(_tokens(name)) <= allowed, name
        segments = profile.index[profile["kind"] == "segment"]
        noun_en, noun_fr = NOUNS[shipment_data]
        for i in segments:
            assert noun_en in out.loc[i, "name"].lower(), out.loc[i, "name"]
            assert noun_fr in out.loc[i, "name_fr"].lower(), out.loc[i, "name_fr"]
        if "recency_days" in profile:
            # Whichever yardstick a reader checks, the longest absent segment reads as lapsed.
            for column in ("z_recency_days", "median_recency_days", "mean_recency_days"):
                longest = profile.loc[segments, column].idxmax()
                assert any(WORDS[w].en in out.loc[longest, "name"].lower() for w in LAPSED_WORDS), out.loc[longest]
                assert any(WORDS[w].fr in out.loc[longest, "name_fr"] for w in LAPSED_WORDS), out.loc[longest]
        top = profile.loc[segments, "revenue"].idxmax()
        assert any(WORDS[w].en in out.loc[top, "name"].lower() for w in VALUE_WORDS), out.loc[top, "name"]
        assert any(WORDS[w].fr in out.loc[top, "name_fr"].lower() for w in VALUE_WORDS), out.loc[top, "name_fr"]
        for column in ("description", "description_fr"):
            for text in out[column]:
                assert text.endswith("."), text
                assert re.search(r"\d", text), text


# --------------------------------------------------------------------------------------------------
# Generated shipments: K-means segments of known archetypes get the names their behaviour deserves


def profile_of(features: pd.DataFrame, labels: np.ndarray, scaled: np.ndarray) -> tuple[pd.DataFrame, pd.Series]:
    """The profile columns naming reads, computed here so that this test does not depend on profiles.py."""
    z = pd.DataFrame(scaled, index=features.index, columns=features.columns)
    grouped = features.groupby(labels)
    profile = pd.concat(
        [
            grouped.size().rename("size"),
            grouped["monetary"].sum().rename("revenue"),
            grouped.mean().add_prefix("mean_"),
            grouped.median().add_prefix("median_"),
            z.groupby(labels).mean().add_prefix("z_"),
        ],
        axis=1,
    )
    profile.index.name = "segment"
    profile.insert(0, "rule", "")
    profile.insert(0, "kind", "segment")
    overall = pd.concat([features.mean().add_prefix("mean_"), features.median().add_prefix("median_")])
    return profile, overall


def test_generated_archetypes_get_the_names_of_their_behaviour() -> None:
    shipments, truth = generate_shipments(3000, months=12, seed=1)
    features = build_features(shipments)
    features = features[features["monetary"] > 0]  # net refunders are set aside before clustering
    trial = fit_sweep(features, [6], stability_resamples=0).trial(6)
    # Transformed columns come out counts first: put them back in the features' order.
    transformed = list(trial.pipeline.named_steps["transform"].get_feature_names_out())
    scaled = pd.DataFrame(scaled_space(trial.pipeline, features), columns=transformed)[list(features.columns)]
    profile, overall = profile_of(features, trial.labels, scaled.to_numpy())
    out = describe_segments(profile, overall, shipment_data=True, currency="EUR", period_days=365.0)
    archetype = truth.set_index("customer_id").loc[features.index, "archetype"].to_numpy()
    segment_of = pd.crosstab(archetype, trial.labels).idxmax(axis=1)
    name = {a: out.loc[segment_of[a], "name"] for a in segment_of.index}
    assert len(set(segment_of)) == 6
    assert name["dormant"].startswith("Lapsed")
    assert "high-value" in name["b2b_heavy"]
    assert "heavy-parcel" in name["b2b_heavy"]
    assert "relay-point" in name["marketplace_relay"]
    assert "international" in name["exporter"]
    assert "frequent" in name["ecommerce_sme"]
    assert name["occasional_private"].startswith("Occasional")
    assert out["name"].is_unique
    assert out["name_fr"].is_unique
    assert out.loc[segment_of["marketplace_relay"], "name_fr"].startswith("Expéditeurs actifs en point relais")
    assert "à l'étranger contre" in out.loc[segment_of["exporter"], "description_fr"]
    assert all(" shipments " in text or "shipment" in text for text in out["description"])
